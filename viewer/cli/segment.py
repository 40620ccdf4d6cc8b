"""``spleenscope segment IN -o OUT.nii.gz``: segment the spleen and report its volume.

IN is anything :func:`viewer.io.load_volume` reads (NIfTI file, DICOM folder or
file). OUT is a uint8 NIfTI mask (1 = spleen) on IN's own grid: for a NIfTI input
the same shape and affine as IN, voxel for voxel. The input is never overwritten.
Progress goes to stderr (tqdm); ``--json`` prints one JSON object on stdout.

The work is :func:`segmentation.study.segment_study` (the same function the window
and ``batch`` call): the model is the one for IN's modality (``--modality`` forces
one), and the result carries a volume range and a self-check verdict. ``check`` and
``failed`` still exit 0 (the mask exists); the verdict is printed on stderr as well.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segmentation.devices import DEVICE_CHOICES
from segmentation.measurements import AT_LEAST
from viewer import strict_json
from viewer.grid import VIEW_NAMES


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "segment",
        help="segment the spleen in a volume and write a mask",
        description="Segment the spleen slice by slice and write a uint8 NIfTI mask on the "
        "input's grid; prints the spleen volume in mL.",
    )
    p.add_argument("input", type=Path, help="NIfTI file, DICOM file, or folder of DICOM files")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="mask to write (.nii.gz; .dcm writes a DICOM SEG when IN is DICOM)",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model file (.pt); default: the active model (the bundled one)",
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--axis",
        default=None,
        choices=VIEW_NAMES,
        help="slicing direction (default: the one the model was trained on)",
    )
    p.add_argument(
        "--probabilities",
        type=Path,
        default=None,
        metavar="P.nii.gz",
        help="also write the float32 probability map on the input's grid",
    )
    p.add_argument(
        "--modality",
        default="auto",
        choices=("auto", "ct", "mr"),
        help="which model to use: auto (from the DICOM header or the intensities), ct or mr; "
        "forcing the wrong one still writes the mask but its verdict is 'failed'",
    )
    p.add_argument(
        "--uncertainty",
        type=Path,
        default=None,
        metavar="U.nii.gz",
        help="also write the per-voxel uncertainty map (0 sure .. 1 undecided) on the input's grid",
    )
    p.add_argument(
        "--series",
        type=int,
        default=None,
        metavar="N",
        help="series index when a folder holds several",
    )
    p.add_argument("--batch-size", type=int, default=None, help="slices per batch")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="OUT_SR.dcm",
        help="also write a DICOM SR volume report referencing the SEG (needs -o OUT.dcm)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(run=run)
    one_line_usage_errors(p)


def one_line_usage_errors(parser: argparse.ArgumentParser) -> None:
    """Make argparse report a bad command line in one line (exit 2), like every other error.

    argparse prints the whole usage block before its message; scripts and the
    in-app dialogs read the last line, and a person needs only the message and
    where to find help.
    """

    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message}; see {parser.prog} --help\n")

    parser.error = error  # type: ignore[method-assign]


def _check_outputs(args) -> None:
    from viewer.atomic import check_outputs
    from viewer.errors import SpleenScopeError
    from viewer.io.file_names import DICOM, NIFTI, check_output_path, require_format

    require_format(args.output, NIFTI.key, DICOM.key)
    if args.probabilities is not None:
        require_format(args.probabilities, NIFTI.key, what="the probability map")
    if args.uncertainty is not None:
        require_format(args.uncertainty, NIFTI.key, what="the uncertainty map")
    for option, value in (("--batch-size", args.batch_size), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise SpleenScopeError(f"{option} must be at least 1")
    for out in (args.output, args.probabilities, args.uncertainty):
        if out is not None:
            check_output_path(out, args.input, args.overwrite)
    # Writable folder, legal names, no two outputs the same file: before the model runs.
    check_outputs([args.output, args.probabilities, args.uncertainty], [args.input], overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    import sys

    from tqdm import tqdm

    from segmentation.devices import configure_cpu_threads
    from segmentation.inference import resolve_model
    from segmentation.study import segment_study
    from viewer.io import load_volume
    from viewer.io.file_names import DICOM, is_format
    from viewer.io.writers import canonical_to_source_grid, save_mask, save_volume
    from viewer.volume import Volume

    _check_outputs(args)
    if args.report is not None:
        from viewer.io.dicom_sr_writer import check_report_request

        check_report_request(args.report, args.output, args.overwrite)
    as_seg = is_format(args.output, DICOM.key)  # a DICOM SEG referencing IN's slices
    if as_seg:
        from viewer.io.dicom_seg_writer import require_dicom_source, save_mask_as_dicom_seg

        require_dicom_source(args.input)
    configure_cpu_threads(args.threads)
    # A bad model file fails fast, before the data are read.
    model = resolve_model(args.model) if args.model is not None else None
    volume = load_volume(args.input, series=args.series)

    bar = tqdm(
        total=None, unit="slice", desc="segmenting", file=sys.stderr, leave=False, disable=None
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        study = segment_study(
            volume,
            modality=args.modality,
            model=model,
            device=args.device,
            axis=args.axis,
            batch_size=args.batch_size,
            progress=progress,
            keep_probabilities=args.probabilities is not None or args.uncertainty is not None,
        )
    finally:
        bar.close()
    result = study.segmentation
    # The verdict goes to stderr whatever the output format: a script reading only
    # the JSON or only the exit code (0: the result exists) still sees it in its log.
    print(f"quality: {study.quality.one_line()}", file=sys.stderr)
    if as_seg:
        for notice in save_mask_as_dicom_seg(
            volume,
            result.mask,
            args.input,
            args.output,
            {1: "Spleen"},
            algorithm=result.model_name,
            overwrite=args.overwrite,
        ):
            print(f"note: {notice}", file=sys.stderr)
        written = args.output
    else:
        written = save_mask(volume, result.mask, args.output, overwrite=args.overwrite)
    summary = study.summary()
    if args.report is not None:
        from viewer.io.dicom_sr_writer import save_volume_report_sr, volume_report_from_summary

        report = volume_report_from_summary(summary)
        summary["report"] = str(
            save_volume_report_sr(report, args.output, args.report, overwrite=args.overwrite)
        )
    summary.update(output=str(written), input_shape=list(volume.source_shape))
    if args.probabilities is not None:
        source_grid = Volume(
            array=canonical_to_source_grid(volume, result.probabilities),
            affine=volume.source_affine,
            source_path=volume.source_path,
        )
        summary["probabilities"] = str(
            save_volume(source_grid, args.probabilities, overwrite=args.overwrite)
        )
    if args.uncertainty is not None:
        uncertainty_grid = Volume(
            array=canonical_to_source_grid(volume, study.uncertainty_map()),
            affine=volume.source_affine,
            source_path=volume.source_path,
        )
        summary["uncertainty"] = str(
            save_volume(uncertainty_grid, args.uncertainty, overwrite=args.overwrite)
        )
    if args.json:
        print(strict_json.dumps(summary))
        return 0
    m = result.measurements
    low, high = study.uncertainty.volume_range_ml
    at_least = AT_LEAST if m.is_lower_bound else ""
    print(
        f"spleen volume: {m.volume_text()} (range {low:.0f}-{high:.0f} mL, "
        f"{m.voxels} voxels), craniocaudal {at_least}{m.craniocaudal_mm:.0f} mm"
    )
    print(
        f"input: {study.modality.modality} ({study.modality.reason}); "
        f"model: {study.model_modality}"
    )
    print(f"quality: {study.quality.one_line()}")
    if study.quality.uncertain_slices:
        print(f"slices to look at: {', '.join(map(str, study.quality.uncertain_slices))}")
    for note in study.quality.notes:
        print(f"note: {note}")
    if study.quality.verdict == "failed":
        pass  # a failed result's flags would only lend it credibility
    elif m.splenomegaly:
        print(f"splenomegaly: volume above the normal range ({m.reference_range_text})")
    elif m.is_lower_bound:
        print("splenomegaly not excluded: the spleen is cut by the scan, so its volume "
              "is a lower bound")
    print(
        f"{result.slices} slices in {result.seconds:.1f} s on {result.device} "
        f"with {result.model_name}"
    )
    print(f"mask written to {written}")
    return 0
