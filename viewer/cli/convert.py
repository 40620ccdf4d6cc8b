"""``spleenscope convert PATH OUT [--series N] [--overwrite]``.

Writes the volume on its canonical grid with the correct affine (DICOM to NIfTI, like
dcm2niix), as NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``) or MetaImage
(``.mha``, ``.mhd``) by the output's suffix. Any readable format goes in (DICOM,
NIfTI, MetaImage, NRRD, Analyze, MINC, MGH). The write is atomic and never touches
the input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="write a volume as canonical NIfTI, NRRD or MetaImage",
        description=(
            "Write a volume (DICOM, NIfTI, MetaImage, NRRD, Analyze, MINC, MGH) as NIfTI, "
            "NRRD or MetaImage by the output's suffix (canonical RAS+ orientation, exact affine)."
        ),
    )
    p.add_argument("path", type=Path, help="volume file, DICOM file, or folder of DICOM files")
    p.add_argument("output", type=Path, help="output .nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd")
    p.add_argument("--series", type=int, default=None, metavar="N", help="series index (0-based)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.atomic import check_outputs
    from viewer.io.file_names import METAIMAGE, NIFTI, NRRD, check_output_path, require_format
    from viewer.io.load import load_volume
    from viewer.io.writers import save_volume

    # Before reading anything: a bad output name never costs a long load.
    require_format(args.output, NIFTI.key, NRRD.key, METAIMAGE.key)
    check_output_path(args.output, args.path, args.overwrite)
    check_outputs([args.output], [args.path], overwrite=args.overwrite)
    volume = load_volume(args.path, series=args.series)
    written = save_volume(volume, args.output, overwrite=args.overwrite)
    for warning in volume.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    shape = " x ".join(str(s) for s in volume.shape)
    print(f"wrote {written} ({shape}, {''.join(volume.orientation)})")
    return 0
