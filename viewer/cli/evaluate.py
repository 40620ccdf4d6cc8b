"""``spleenscope evaluate PRED [REF]``: how well predicted masks agree with references.

Two files: Dice, IoU, HD95 and ASSD in mm, volumes and their difference, per-slice
Dice. Two folders: the same per case (matched by file name), a summary, and volume
outliers; ``--csv`` writes the per-case table. One folder alone: volumes and volume
outliers only (the original prototype's check for a batch without references).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from viewer import strict_json
from viewer.cli.segment import one_line_usage_errors
from viewer.grid import VIEW_NAMES


def csv_columns() -> tuple[str, ...]:
    """The per-case table's header (the engine's metric names: imported on use, so that
    building the parser for ``spleenscope info`` never loads scipy)."""
    from segmentation.evaluation import METRIC_COLUMNS

    return ("case", *METRIC_COLUMNS, "volume_outlier")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compare predicted masks with reference masks (files or folders)",
        description="Dice, IoU, HD95, ASSD (mm), volume differences and per-slice Dice; "
        "folder mode adds a per-case CSV, a summary and volume outliers.",
    )
    p.add_argument("pred", type=Path, help="predicted mask (NIfTI) or folder of them")
    p.add_argument(
        "ref",
        type=Path,
        nargs="?",
        default=None,
        help="reference mask or folder (same case names); optional for a folder",
    )
    p.add_argument(
        "--csv", type=Path, default=None, help="write the per-case table (one row for two files)"
    )
    p.add_argument(
        "--outlier-ml",
        type=float,
        default=500.0,
        help="flag predicted volumes above this many mL (default 500)",
    )
    p.add_argument(
        "--axis",
        default="axial",
        choices=VIEW_NAMES,
        help="axis for per-slice Dice (default axial)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(run=run)
    one_line_usage_errors(p)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _write_csv(path: Path, rows: list[dict]) -> None:
    from viewer.errors import SpleenScopeError

    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=csv_columns(), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise SpleenScopeError(
            f"{path}: cannot write the table ({error.strerror}); choose a writable path"
        ) from None


def _check_csv(args) -> None:
    """The table's folder is writable and the name is not an input: before any work."""
    if args.csv:
        from viewer.atomic import OutputPathError, check_outputs
        from viewer.errors import SpleenScopeError

        # a table inside a folder of predictions is fine; over an input file is not
        inputs = [] if args.pred.is_dir() else [args.pred, args.ref]
        try:
            check_outputs([args.csv], inputs, overwrite=True)
        except OutputPathError as error:
            raise SpleenScopeError(f"cannot write the table: {error}") from None


def _run_pair(args) -> int:
    from segmentation.config import axis_index
    from segmentation.evaluation import evaluate_pair

    _check_csv(args)

    row = evaluate_pair(args.pred, args.ref, axis_index(args.axis))
    row.setdefault("case", args.pred.name)
    if args.csv:
        _write_csv(args.csv, [row])
    if args.json:
        print(strict_json.dumps(row))
        return 0
    print(
        f"Dice {_fmt(row['dice'], 4)}  IoU {_fmt(row['iou'], 4)}  HD95 {_fmt(row['hd95_mm'], 2)} mm"
        f"  ASSD {_fmt(row['assd_mm'], 2)} mm"
    )
    print(
        f"volume: predicted {_fmt(row['volume_pred_ml'], 1)} mL, reference "
        f"{_fmt(row['volume_ref_ml'], 1)} mL, difference {_fmt(row['volume_diff_ml'], 1)} mL "
        f"({_fmt(row['volume_diff_pct'], 1)} %)"
    )
    slices = ", ".join(_fmt(v, 2) for v in row["per_slice_dice"])
    print(f"per-slice Dice ({args.axis}): {slices}")
    return 0


def _run_folders(args) -> int:
    from tqdm import tqdm

    from segmentation.evaluation import evaluate_folders
    from viewer.errors import SpleenScopeError

    _check_csv(args)

    if args.ref is not None and not args.ref.is_dir():
        raise SpleenScopeError(f"{args.ref}: PRED is a folder, so REF must be a folder too")
    bar = tqdm(
        total=None, unit="case", desc="evaluating", file=sys.stderr, leave=False, disable=None
    )

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        report = evaluate_folders(args.pred, args.ref, args.outlier_ml, progress)
    finally:
        bar.close()
    if args.csv:
        _write_csv(args.csv, report.rows)
    if args.json:
        print(strict_json.dumps(report.as_dict()))
        return 0
    header = f"{'case':<24} {'Dice':>7} {'HD95 mm':>8} {'ASSD mm':>8} {'pred mL':>9} {'ref mL':>9}"
    print(header)
    for row in report.rows:
        flag = "  OUTLIER" if row["volume_outlier"] else ""
        print(
            f"{row['case']:<24} {_fmt(row.get('dice'), 4):>7} {_fmt(row.get('hd95_mm'), 2):>8} "
            f"{_fmt(row.get('assd_mm'), 2):>8} {_fmt(row['volume_pred_ml'], 1):>9} "
            f"{_fmt(row.get('volume_ref_ml'), 1):>9}{flag}"
        )
    dice = report.summary.get("dice")
    if dice:
        print(
            f"{report.summary['cases']} cases: Dice mean {dice['mean']:.4f}, median "
            f"{dice['median']:.4f}, min {dice['min']:.4f}"
        )
    for name, reason in report.outliers.items():
        print(f"volume outlier: {name}: {reason}")
    if report.unmatched:
        print(
            f"unmatched (no file of that name in the other folder): {', '.join(report.unmatched)}"
        )
    if args.csv:
        print(f"per-case table written to {args.csv}")
    return 0


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SpleenScopeError

    if not args.pred.exists():
        raise SpleenScopeError(f"{args.pred}: no such file or folder; check the path")
    if args.pred.is_dir():
        return _run_folders(args)
    if args.ref is None:
        raise SpleenScopeError("evaluating one prediction file needs a reference file (REF)")
    if args.ref.is_dir():
        raise SpleenScopeError(f"{args.ref}: PRED is a file, so REF must be a file too")
    return _run_pair(args)
