"""``spleenscope export-images VOLUME OUT_FOLDER [--mask MASK ...] [--axis VIEW] [--window C W]``.

Writes per-slice PNG images (8-bit windowed, 16-bit stored values, one layer per
mask) and a manifest with the geometry; see :mod:`viewer.image_export`. File names
and the manifest carry no patient-identifying values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export-images",
        help="write a volume and its masks as per-slice PNG images plus a manifest",
        description=(
            "Write a volume as per-slice PNG images along one axis: 8-bit windowed images to "
            "look at and annotate, lossless 16-bit images of the stored values, one PNG layer "
            "per mask, and manifest.json with the geometry (no patient values). "
            "import-images puts them back on the original grid."
        ),
    )
    p.add_argument("path", type=Path, help="volume file, DICOM file, or folder of DICOM files")
    p.add_argument("output", type=Path, help="new (or empty) folder to write the images into")
    p.add_argument(
        "--mask", type=Path, action="append", default=[], metavar="MASK",
        help="a mask on the same grid (NIfTI, NRRD, ...); repeat for several layers",
    )  # fmt: skip
    p.add_argument(
        "--axis", default="axial", metavar="VIEW",
        help="axial (default), coronal or sagittal: the slices' orientation",
    )  # fmt: skip
    p.add_argument(
        "--window", type=float, nargs=2, default=None, metavar=("CENTER", "WIDTH"),
        help="window of the 8-bit images (default: the header's, else the 1-99th percentile)",
    )  # fmt: skip
    p.add_argument("--series", type=int, default=None, metavar="N", help="series index (0-based)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SpleenScopeError
    from viewer.grid import same_grid, slice_axis_of
    from viewer.image_export import export_images
    from viewer.image_export.export import check_export_folder
    from viewer.io.format_detect import DICOM, detect_reader
    from viewer.io.load import load_volume

    try:
        axis = slice_axis_of(args.axis)
    except ValueError as error:
        raise SpleenScopeError(f"--axis {args.axis}: {error}") from None
    check_export_folder(args.output, str(args.path))  # before any reading
    volume = load_volume(args.path, series=args.series)
    masks = []
    for mask_path in args.mask:
        mask = load_volume(mask_path)
        if not same_grid(mask.affine, mask.shape, volume.affine, volume.shape):
            raise SpleenScopeError(
                f"{mask_path.name}: not on the volume's grid (shape or affine differ); "
                "give a mask drawn on this volume"
            )
        masks.append(mask.array)
    kind = "dicom" if detect_reader(Path(args.path)) == DICOM else "file"
    manifest = export_images(
        volume, args.output, masks=masks, axis=axis, window=args.window, source_kind=kind
    )
    for warning in volume.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not manifest["stored"]["exact"]:
        print(
            "warning: the volume has more distinct values than 16 bits hold; the 16-bit "
            f"images are within {manifest['stored']['max_abs_error']:.3g} of them",
            file=sys.stderr,
        )
    layers = ", ".join(layer["name"] for layer in manifest["layers"]) or "no mask layers"
    print(f"wrote {manifest['slice_count']} {manifest['view']} slices to {args.output} ({layers})")
    return 0
