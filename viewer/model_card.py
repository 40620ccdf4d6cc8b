"""Model cards for models trained in the app, and moving a finished model into place (Qt-free).

Training writes its best checkpoint into a staging folder (``<user models>/_training/``,
which the registry's ``*.pt`` listing does not see), so a half-finished or crashed run
never shows up as a model. When the run ends, :func:`finalize_trained_model` moves the
checkpoint to the user's models folder under a free name and records the card twice:

- inside the model file's metadata (key ``"card"``), so it travels with the weights;
- beside it as ``<name>.card.json`` and a readable ``<name>.md``.

A card says what data the model saw (source kind, folder name, case names), with which
settings, what it scored on held-out data, and when. Only the data folder's *name* is
stored, never its full path: model files get shared and paths can carry names.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path

from viewer.atomic import write_text_atomically
from viewer.errors import ModelFileError

log = logging.getLogger(__name__)

STAGING_FOLDER = "_training"
CARD_KEY = "card"


def staging_dir(models_dir: Path) -> Path:
    path = Path(models_dir) / STAGING_FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def card_json_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".card.json")


def card_markdown_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".md")


def state_file_path(model_path: Path) -> Path:
    """The optimizer/resume file ``segmentation.training`` keeps beside a model."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".state.pt")


def safe_model_name(text: str) -> str:
    """A file-name-safe model name (letters, digits, ``-``, ``_``, ``.``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._")
    return cleaned[:80] or "spleen_model"


def default_model_name(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now()
    return f"spleen_{now:%Y%m%d_%H%M}"


def free_model_path(models_dir: Path, name: str) -> Path:
    """``models_dir/name.pt``, or ``name_2.pt``, ... when that is taken."""
    name = safe_model_name(name)
    candidate = Path(models_dir) / f"{name}.pt"
    number = 2
    while candidate.exists():
        candidate = Path(models_dir) / f"{name}_{number}.pt"
        number += 1
    return candidate


def describe_data(source: str, folder: Path | None, case_names: list[str]) -> dict:
    """The card's ``data`` section: ``source`` is "collection" or "folder"."""
    return {
        "source": source,
        "folder_name": Path(folder).name if folder is not None else None,
        "cases": len(case_names),
        "case_names": list(case_names),
    }


def build_card(metadata: dict, data: dict, settings, outcome: dict) -> dict:
    """The card dict from the checkpoint's metadata, the data, the settings and how it ended."""
    validation = metadata.get("validation") or {}
    training = metadata.get("training") or {}
    chosen = asdict(settings) if hasattr(settings, "__dataclass_fields__") else dict(settings)
    for key in ("output", "data", "pairs", "init_from"):
        chosen.pop(key, None)  # paths stay on this machine
    chosen["fine_tuned_from"] = outcome.get("fine_tuned_from")
    return {
        "name": metadata.get("name"),
        "created": metadata.get("created")
        or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": data,
        "settings": chosen,
        "metrics": {
            "val_dice": validation.get("val_dice"),
            "val_loss": validation.get("val_loss"),
            "best_epoch": validation.get("epoch"),
            "split": (metadata.get("training_data") or {}).get("split"),
        },
        "run": {
            "device": training.get("device"),
            "epochs_run": outcome.get("epochs_run"),
            "epochs_planned": getattr(settings, "epochs", None),
            "stopped_early": bool(outcome.get("stopped")),
            "ended": outcome.get("ended", "finished"),
            "seconds": outcome.get("seconds"),
        },
    }


def card_markdown(card: dict) -> str:
    """A short human-readable model card."""
    metrics, run, data = card["metrics"], card["run"], card["data"]
    dice = metrics.get("val_dice")
    settings = card["settings"]
    lines = [
        f"# {card.get('name')}",
        "",
        "Spleen segmentation model trained in SpleenScope. Not a medical device.",
        "",
        f"- Created: {card.get('created')}",
        f"- Validation Dice: {'n/a' if dice is None else f'{dice:.4f}'}"
        f" (best epoch {metrics.get('best_epoch')})",
        f"- Data: {data.get('cases')} case(s) from "
        + ("your training set" if data.get("source") == "collection" else
           f"folder '{data.get('folder_name')}'"),
        f"- Cases: {', '.join(data.get('case_names') or [])}",
        f"- Run: {run.get('epochs_run')} of {run.get('epochs_planned')} epochs on "
        f"{run.get('device')}, {run.get('ended')}",
        f"- Start: {'fine-tuned from ' + settings['fine_tuned_from'] if settings.get('fine_tuned_from') else 'from scratch'}",
        "",
        "## Settings",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in settings.items() if key != "fine_tuned_from"]
    return "\n".join(lines) + "\n"


def finalize_trained_model(
    checkpoint: Path, models_dir: Path, name: str, data: dict, settings, outcome: dict
) -> Path:
    """Move a finished checkpoint into ``models_dir`` with its card; returns the new path.

    Raises :class:`ModelFileError` when the checkpoint is missing or unreadable
    (training failed before its first validation).
    """
    from segmentation.model_file import load_model, save_model

    loaded = load_model(checkpoint)
    target = free_model_path(models_dir, name)
    metadata = dict(loaded.metadata)
    metadata["name"] = target.stem
    card = build_card(metadata, data, settings, outcome)
    metadata[CARD_KEY] = card
    save_model(target, loaded.network, loaded.config, metadata)
    write_text_atomically(card_json_path(target), json.dumps(card, indent=2, default=str))
    write_text_atomically(card_markdown_path(target), card_markdown(card))
    for leftover in (checkpoint, state_file_path(checkpoint)):
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass
    log.info("trained model saved as %s", target.name)
    return target


def read_card(model_path: Path) -> dict:
    """The card beside a model, else inside it, else a minimal one from its metadata."""
    sidecar = card_json_path(model_path)
    if sidecar.is_file():
        try:
            return json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("unreadable model card %s: %s", sidecar.name, error)
    from segmentation.model_file import load_model

    try:
        metadata = load_model(model_path).metadata
    except ModelFileError:
        return {}
    if isinstance(metadata.get(CARD_KEY), dict):
        return metadata[CARD_KEY]
    cases = (metadata.get("training_data") or {}).get("cases") or []
    return {
        "name": metadata.get("name"),
        "created": metadata.get("created"),
        "data": {"source": "unknown", "cases": len(cases), "case_names": list(cases)},
        "metrics": dict(metadata.get("validation") or {}),
    }


def data_summary(card: dict) -> str:
    """``3 cases, your training set`` / ``41 cases, Task09_Spleen``: for tables."""
    data = card.get("data") or {}
    count = data.get("cases")
    if count is None:
        return ""
    where = {"collection": "your training set", "folder": data.get("folder_name") or "folder"}
    place = where.get(data.get("source"), "")
    names = data.get("case_names") or []
    if not place and 0 < len(names) <= 2:
        place = ", ".join(names)
    text = f"{count} case{'' if count == 1 else 's'}"
    return f"{text}, {place}" if place else text


def delete_model_files(model_path: Path) -> None:
    """Remove a user model and everything beside it that belongs to it."""
    model_path = Path(model_path)
    for path in (
        model_path,
        card_json_path(model_path),
        card_markdown_path(model_path),
        state_file_path(model_path),
    ):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
