"""``spleenscope convert PATH OUT.nii.gz [--series N] [--overwrite]``.

Writes the volume as NIfTI on its canonical grid with the correct affine (DICOM to
NIfTI, like dcm2niix). The write is atomic and never touches the input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="write a DICOM series or NIfTI file as canonical NIfTI",
        description="Write a volume as NIfTI (canonical RAS+ orientation, exact affine).",
    )
    p.add_argument("path", type=Path, help="NIfTI file, DICOM file, or folder of DICOM files")
    p.add_argument("output", type=Path, help="output .nii or .nii.gz")
    p.add_argument("--series", type=int, default=None, metavar="N", help="series index (0-based)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.io.load import load_volume
    from viewer.io.writers import save_volume

    volume = load_volume(args.path, series=args.series)
    written = save_volume(volume, args.output, overwrite=args.overwrite)
    for warning in volume.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    shape = " x ".join(str(s) for s in volume.shape)
    print(f"wrote {written} ({shape}, {''.join(volume.orientation)})")
    return 0
