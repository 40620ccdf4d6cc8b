"""``spleenscope batch INPUT... -o OUTDIR``: segment a cohort, resumably, into one table.

INPUT is any mix of NIfTI files, DICOM folders, folders of studies and manifest CSVs
(see :mod:`viewer.batch.studies`). Per study OUTDIR/studies/<id>/ gets the mask
(NIfTI, or a DICOM SEG for DICOM input), the uncertainty map when asked and a
``summary.json`` with ``segment --json``'s keys; OUTDIR/results.csv has one row per
study. A rerun skips finished studies and retries failed ones. Progress (with ETA) goes
to stderr; the final summary to stdout (``--json``: one JSON object).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segmentation.devices import DEVICE_CHOICES
from viewer import strict_json
from viewer.cli.segment import one_line_usage_errors
from viewer.grid import VIEW_NAMES


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="segment many studies (folders, files, a manifest CSV) into one results table",
        description="Segment a cohort with the model loaded once per worker; resumable.",
    )
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                   help="NIfTI file, DICOM folder, folder of studies, or manifest CSV")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                   help="folder for the masks, summaries and results.csv")  # fmt: skip
    p.add_argument("--references", type=Path, default=None, metavar="DIR",
                   help="folder of reference masks named like the studies (adds Dice)")  # fmt: skip
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local: a process pool here (default); ray: Ray Data, here or on a cluster")  # fmt: skip
    p.add_argument("--workers", type=int, default=None,
                   help="workers (default: one per GPU, else half the cores)")  # fmt: skip
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (default: RAY_ADDRESS, else a Ray started here)")  # fmt: skip
    p.add_argument(
        "--model", type=Path, default=None, help="model file (.pt); default: the active model"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--modality",
        default="auto",
        choices=("auto", "ct", "mr"),
        help="which model: auto picks each study's own modality (default)",
    )
    p.add_argument("--axis", default=None, choices=VIEW_NAMES)
    p.add_argument(
        "--uncertainty", action="store_true", help="also write each study's uncertainty map"
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads per worker")
    p.add_argument("--json", action="store_true", help="print the final summary as one JSON object")
    p.set_defaults(run=run)
    one_line_usage_errors(p)


def _check(args) -> None:
    from viewer.errors import SpleenScopeError

    for option, value in (("--workers", args.workers), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise SpleenScopeError(f"{option} must be at least 1")
    if args.output.exists() and not args.output.is_dir():
        raise SpleenScopeError(
            f"{args.output}: exists and is not a folder; choose an output folder"
        )
    out = args.output.resolve()
    for given in args.inputs:
        source = given.resolve()
        if out == source or (source.is_dir() and source in out.parents):
            raise SpleenScopeError(
                f"{args.output}: refusing to write inside an input folder; choose another OUTDIR"
            )
    if args.address and args.engine != "ray":
        raise SpleenScopeError("--address needs --engine ray")


def run(args: argparse.Namespace) -> int:
    from segmentation.inference import resolve_model
    from viewer.batch.results import summary_lines
    from viewer.batch.runner import run_batch
    from viewer.batch.studies import collect_studies
    from viewer.batch.study_task import BatchOptions

    _check(args)
    studies = collect_studies(args.inputs, args.references)
    if args.model is not None:
        resolve_model(args.model)  # a bad model file fails here, not once per study
    options = BatchOptions(
        outdir=str(args.output.resolve()),
        model=str(args.model.resolve()) if args.model is not None else None,
        modality=args.modality,
        device=args.device,
        axis=args.axis,
        uncertainty=args.uncertainty,
        threads=args.threads,
    )
    print(f"{len(studies)} studies; results in {args.output}/results.csv", file=sys.stderr)
    summary = run_batch(studies, options, args.engine, args.workers, args.address)
    if args.json:
        print(strict_json.dumps(summary))
    else:
        print("\n".join(summary_lines(summary)))
    return 0
