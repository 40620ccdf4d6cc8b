"""``spleenscope survey FOLDER [-o REPORT.html] [--csv OUT.csv] [--json] [--intensities]``.

Walks a folder of DICOM and every supported volume format, reading headers only, and
reports one row per series or volume with the cases that stand out and why (see
:mod:`viewer.survey`). Without ``-o``/``--csv``/``--json`` a short text summary is
printed. No patient names, IDs or dates appear in any output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "survey",
        help="survey a data folder: one row per series or volume, odd cases flagged",
        description=(
            "Read the headers of every DICOM series and volume file under FOLDER and report "
            "format, modality, manufacturer, shape, spacing, slice step and gaps, orientation, "
            "data type and geometry warnings, with the cases that stand out flagged (robust "
            "z-scores). No patient names, IDs or dates are written."
        ),
    )
    p.add_argument("folder", type=Path, help="folder to survey (searched recursively)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="REPORT.html",
                   help="write a self-contained HTML report with plots")  # fmt: skip
    p.add_argument(
        "--csv", type=Path, default=None, metavar="OUT.csv", help="write the table as CSV"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (summary and rows)")
    p.add_argument("--intensities", action="store_true",
                   help="also read a few slices per series for intensity percentiles (slower)")  # fmt: skip
    p.add_argument("--hide-paths", action="store_true",
                   help="show 'case 001' instead of folder and file names (names may identify)")  # fmt: skip
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="header-reading processes (default: one per core)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SpleenScopeError
    from viewer.io.file_names import check_output_path
    from viewer.survey import report
    from viewer.survey.collect import default_workers, survey_folder

    if args.workers is None:
        args.workers = default_workers()
    if args.workers < 1:
        raise SpleenScopeError("--workers must be 1 or more")
    if not args.folder.is_dir():
        raise SpleenScopeError(f"{args.folder}: no such folder; give the folder to survey")
    outputs = [(args.output, ".html"), (args.csv, ".csv")]
    for path, suffix in outputs:
        if path is None:
            continue
        if path.suffix.lower() not in (suffix, ".htm" if suffix == ".html" else suffix):
            raise SpleenScopeError(f"{path.name}: the output must end in {suffix}")
        check_output_path(path, None, args.overwrite)
        if args.folder.resolve() in path.resolve().parents:
            raise SpleenScopeError(
                f"{path}: inside the surveyed folder; write the report somewhere else"
            )
    survey = survey_folder(args.folder, intensities=args.intensities, workers=args.workers)
    if args.hide_paths:
        for number, row in enumerate(survey.rows, start=1):
            row.path = f"case {number:03d}"
    if args.output is not None:
        report.write_html(survey, args.output)
    if args.csv is not None:
        report.write_csv(survey, args.csv)
    if args.json:
        print(report.to_json(survey))
        return 0
    summary = survey.summary()
    print(
        f"{summary['series_and_volumes']} series/volumes in {summary['files_seen']} files "
        f"({', '.join(f'{k} {v}' for k, v in summary['by_modality'].items())}); "
        f"{summary['dicom_studies']} DICOM studies, {summary['dicom_patients']} patients; "
        f"{summary['flagged']} flagged"
    )
    for row in survey.rows:
        if row.flags:
            print(f"  {row.path}: {'; '.join(row.flags)}")
    for line in summary["unreadable"]:
        print(f"  unreadable: {line}", file=sys.stderr)
    for path in (args.output, args.csv):
        if path is not None:
            print(f"wrote {path}")
    return 0
