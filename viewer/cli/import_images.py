"""``spleenscope import-images FOLDER OUTPUT [--layer NAME] [--source DICOM] [--overwrite]``.

Rebuilds what ``export-images`` wrote, on the original grid: the volume (from the
16-bit images) as NIfTI, NRRD or MetaImage, or with ``--layer`` one mask layer (as
edited by an outside tool) as NIfTI, NRRD, or a DICOM SEG (``.dcm``) that references
the source series given with ``--source``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-images",
        help="rebuild a volume or an edited mask layer from export-images output",
        description=(
            "Rebuild the volume (default) or one mask layer (--layer) from a folder written by "
            "export-images, on the original grid, exactly. Output by suffix: .nii/.nii.gz, "
            ".nrrd/.nhdr, .mha/.mhd, or .dcm (a DICOM SEG of a mask layer; needs --source)."
        ),
    )
    p.add_argument("folder", type=Path, help="folder written by export-images")
    p.add_argument("output", type=Path, help="output file")
    p.add_argument(
        "--layer", default=None, metavar="NAME", help="mask layer to write (mask_1, ...)"
    )
    p.add_argument(
        "--source", type=Path, default=None, metavar="DICOM",
        help="the DICOM series the images were exported from (for a .dcm DICOM SEG output)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SpleenScopeError
    from viewer.image_export import import_images
    from viewer.io.file_names import (
        DICOM,
        METAIMAGE,
        NIFTI,
        NRRD,
        check_output_path,
        require_format,
    )

    keys = (NIFTI.key, NRRD.key, METAIMAGE.key) + ((DICOM.key,) if args.layer else ())
    fmt = require_format(args.output, *keys)
    check_output_path(args.output, args.folder, args.overwrite)
    if fmt.key == DICOM.key and args.source is None:
        raise SpleenScopeError(
            f"{args.output.name}: a DICOM SEG must reference its source series; "
            "give it with --source DICOM_FOLDER"
        )
    imported = import_images(args.folder, layers=[args.layer] if args.layer else [])
    for notice in imported.notices:
        print(f"warning: {notice}", file=sys.stderr)
    volume = imported.volume
    if args.layer is None:
        from viewer.io.writers import save_volume

        written = save_volume(volume, args.output, overwrite=args.overwrite)
        print(f"wrote {written} ({' x '.join(str(s) for s in volume.shape)} volume)")
        return 0
    mask = imported.layers[args.layer]
    if fmt.key == DICOM.key:
        written = _write_seg(imported, mask, args)
    else:
        from viewer.io.writers import save_mask

        written = save_mask(volume, mask, args.output, overwrite=args.overwrite)
    print(f"wrote {written} (layer {args.layer}, {int((mask > 0).sum())} labelled voxels)")
    return 0


def _write_seg(imported, mask, args) -> Path:
    """A DICOM SEG on the source series, after checking it is the grid that was exported."""
    from viewer.errors import SpleenScopeError
    from viewer.grid import same_grid
    from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg
    from viewer.io.load import load_volume

    if imported.manifest["source_kind"] != "dicom":
        raise SpleenScopeError(
            f"{args.folder.name}: exported from a non-DICOM file, so there is no DICOM series "
            "for a SEG to reference; write .nii.gz or .nrrd instead"
        )
    source = load_volume(args.source)
    exported = imported.volume
    if not same_grid(source.affine, source.shape, exported.affine, exported.shape):
        raise SpleenScopeError(
            f"{args.source.name}: not the series these images were exported from (its grid "
            "differs); give the exported series with --source"
        )
    for notice in save_mask_as_dicom_seg(
        source, mask, args.source, args.output, overwrite=args.overwrite
    ):
        print(f"note: {notice}", file=sys.stderr)
    return Path(args.output)
