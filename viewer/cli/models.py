"""``spleenscope models list|import|activate``: the models the window's model manager shows.

- ``list [--json]``: every model (bundled and the user's own) with its modality,
  validation Dice, whether it is active for its modality, bundled or the user's.
- ``import FILE [--activate [--yes]]``: check a ``.pt`` model file and copy it into
  the user's models folder (never over a model already there); a damaged or foreign
  file is refused in one line and nothing is copied.
- ``activate NAME_OR_PATH [--yes]``: the new model and the active model of its
  modality segment the same validation cases first
  (:func:`segmentation.model_comparison.compare_with_active`) and both mean Dice
  scores are printed; a model that scores lower is refused (exit 2) unless ``--yes``
  is given. A file outside the models folders is imported first, so the active model
  never depends on a file elsewhere that may change or go.

Torch and the comparison are imported inside the functions that use them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segmentation.devices import DEVICE_CHOICES
from viewer import strict_json


def add_parser(subparsers) -> None:
    from viewer.cli.segment import one_line_usage_errors

    p = subparsers.add_parser(
        "models",
        help="list, import and activate segmentation models",
        description="List the bundled and your own models, import a model file, make a "
        "model active; activating compares it with the active model on the same "
        "validation cases and refuses a worse one unless --yes is given.",
    )
    one_line_usage_errors(p)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the models, their scores and the active ones")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    importing = actions.add_parser("import", help="copy a model file into your models folder")
    importing.add_argument("file", type=Path, help="a .pt model file saved by spleenscope train")
    importing.add_argument("--activate", action="store_true",
                           help="then make it active (compared with the active model first)")
    activating = actions.add_parser(
        "activate", help="make a model active after comparing it with the active one")
    activating.add_argument("model", help="a model's name or file name (see list), or a file")
    for action in (importing, activating):
        action.add_argument("--yes", action="store_true",
                            help="make it active even when it scores lower than the active one")
        action.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                            help="where the comparison runs (default: auto)")
        action.add_argument("--threads", type=int, default=None,
                            help="CPU threads (default: all cores)")
    for action in (listing, importing, activating):
        one_line_usage_errors(action)
    p.set_defaults(run=run)


def model_rows() -> list[dict]:
    """One plain dict per listed model (what ``list --json`` prints)."""
    from segmentation import registry

    active = {m: registry.active_model_path(m).resolve() for m in registry.BUNDLED_MODEL_NAMES}
    return [
        {
            "name": entry.name,
            "file": entry.path.name,
            "path": str(entry.path),
            "modality": entry.modality,
            "val_dice": entry.val_dice,
            "active": entry.path.resolve() == active.get(entry.modality),
            "kind": "bundled" if entry.is_bundled else "user",
            "created": entry.created,
        }
        for entry in registry.list_models()
    ]


def _list(args) -> int:
    rows = model_rows()
    if args.json:
        print(strict_json.dumps({"models": rows}))
        return 0
    width = max([len("file"), *(len(row["file"]) for row in rows)])
    print(f"{'':2}{'file':<{width}}  {'modality':<8} {'val Dice':>8}  {'kind':<8} name")
    for row in rows:
        dice = "n/a" if row["val_dice"] is None else f"{row['val_dice']:.3f}"
        print(f"{'*' if row['active'] else '':<2}{row['file']:<{width}}  {row['modality']:<8} "
              f"{dice:>8}  {row['kind']:<8} {row['name']}")
    print("* active for its modality")
    return 0


def _import(path: Path) -> Path:
    from segmentation import registry

    target, copied = registry.import_model_file(path)
    if copied:
        print(f"imported {path.name} as {target}")
    else:
        print(f"already in your models folder: {target}")
    return target


def _activate(path: Path, args) -> int:
    from segmentation import registry
    from segmentation.devices import configure_cpu_threads
    from segmentation.model_comparison import compare_with_active
    from segmentation.model_file import load_model
    from viewer.errors import SpleenScopeError

    if args.threads is not None and args.threads < 1:
        raise SpleenScopeError("--threads must be at least 1")
    loaded = load_model(path)  # a broken file fails here, before any comparison
    modality = loaded.config.modality
    if path.resolve() == registry.active_model_path(modality).resolve():
        print(f"{loaded.name} is already the active {modality} model")
        return 0
    configure_cpu_threads(args.threads)
    print(f"comparing {loaded.name} with the active {modality} model on the same validation "
          "cases...", file=sys.stderr)
    comparison = compare_with_active(path, device=args.device)
    print(comparison.text())
    if comparison.candidate_is_worse and not args.yes:
        raise SpleenScopeError(
            f"{loaded.name} scores lower than the active {modality} model "
            f"({comparison.candidate.mean_dice:.3f} against {comparison.active.mean_dice:.3f}); "
            "it stays inactive: pass --yes to make it active anyway"
        )
    registry.make_active(path)
    print(f"active {modality} model: {loaded.name}")
    return 0


def _is_in_models_folders(path: Path) -> bool:
    from segmentation import registry

    folders = (registry.user_models_dir().resolve(), registry.repository_models_dir().resolve())
    return path.resolve().parent in folders


def run(args: argparse.Namespace) -> int:
    from segmentation import registry

    if args.models_command == "list":
        return _list(args)
    if args.models_command == "import":
        target = _import(args.file)
        return _activate(target, args) if args.activate else 0
    path = registry.find_model(args.model)
    if not _is_in_models_folders(path):
        path = _import(path)
    return _activate(path, args)
