"""Train the bundled model on the sample CT and score it: ``python -m segmentation.train_bundled``.

Reads ``$SPLEENSCOPE_SAMPLE_DATA/ct_spleen_dicom`` with its label (20 slices of one
patient), holds out the 4 most superior labelled slices for validation, trains a
small 2D UNet at 2 mm in-plane with heavy scale / rotation / intensity augmentation
(the model must survive other scanners and fields of view more than it must fit
these slices), then segments the whole series with the finished model and records
the Dice against the label. Writes ``models/spleen_unet2d.pt`` and
``models/spleen_unet2d.training.json`` (settings, per-epoch history, figures) that
the model card quotes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from segmentation.datasets import find_cases
from segmentation.registry import bundled_model_path
from segmentation.training import TrainConfig, train

log = logging.getLogger(__name__)

BUNDLED_SETTINGS = dict(
    epochs=40,
    steps_per_epoch=20,
    batch_size=8,
    patch_size=192,
    learning_rate=2e-3,
    base_channels=16,
    depth=4,
    target_spacing_mm=2.0,
    hu_window=(-175.0, 250.0),
    val_fraction=0.2,
    foreground_fraction=0.7,
    seed=0,
    device="cpu",
    model_name="spleen_unet2d (bundled, trained on the sample CT)",
)


def sample_data_dir() -> Path:
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", default))


def other_geometry(
    volume,
    label: np.ndarray,
    pixel_mm: float = 0.74,
    slice_mm: float = 3.0,
    field_of_view_mm: float = 360.0,
):
    """The same patient as if scanned elsewhere: finer pixels, 3 mm slices, a tighter field of view.

    Image resampled linearly, label as a linearly interpolated fraction > 0.5, both on
    a new axis-aligned grid centred on the original one; it checks that spacing
    normalization carries the model across geometries (not across patients).
    """
    from scipy import ndimage

    from viewer.volume import Volume

    old_spacing = np.asarray(volume.spacing)
    extent_z = volume.shape[2] * old_spacing[2]
    shape = (
        int(field_of_view_mm / pixel_mm),
        int(field_of_view_mm / pixel_mm),
        int(extent_z // slice_mm),
    )
    new_spacing = np.array([pixel_mm, pixel_mm, slice_mm])
    centre = volume.voxel_to_world((np.asarray(volume.shape) - 1) / 2.0)
    affine = np.diag([*new_spacing, 1.0])
    affine[:3, 3] = centre - (np.asarray(shape) - 1) / 2.0 * new_spacing
    # new voxel -> world -> old voxel (both grids axis-aligned, so a diagonal map).
    to_old = np.linalg.inv(volume.affine) @ affine
    matrix, offset = np.diag(to_old[:3, :3]), to_old[:3, 3]
    image = ndimage.affine_transform(
        volume.array.astype(np.float32),
        matrix,
        offset,
        shape,
        order=1,
        mode="constant",
        cval=-1024.0,
    )
    fraction = ndimage.affine_transform(label.astype(np.float32), matrix, offset, shape, order=1)
    return Volume(array=image, affine=affine, modality="CT"), (fraction > 0.5).astype(np.uint8)


def score(model_path: Path, image: Path, label: Path) -> dict:
    """Dice of the finished model on the whole series and on a simulated other geometry."""
    from segmentation.inference import segment_volume
    from segmentation.metrics import evaluate_masks
    from viewer.io import load_volume

    volume = load_volume(image)
    reference = (np.asarray(load_volume(label).array) > 0).astype(np.uint8)
    result = segment_volume(volume, model=model_path, device="cpu")
    other_volume, other_reference = other_geometry(volume, reference)
    other = segment_volume(other_volume, model=model_path, device="cpu")
    return {
        "full_series": evaluate_masks(result.mask, reference, volume.affine).as_dict(),
        "full_series_segment_seconds": round(result.seconds, 2),
        "other_geometry": {
            "grid": "0.74 mm pixels, 3 mm slices, 360 mm field of view (same patient, resampled)",
            "shape": list(other_volume.shape),
            **evaluate_masks(other.mask, other_reference, other_volume.affine).as_dict(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=bundled_model_path())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=BUNDLED_SETTINGS["epochs"])
    parser.add_argument(
        "--time-limit",
        type=float,
        default=0.0,
        help="stop after the epoch that crosses this many seconds (default 0: no limit, so "
        "every machine runs all epochs and the result does not depend on its speed)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train; re-score the existing model and update the report",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    data = sample_data_dir()
    image, label = data / "ct_spleen_dicom", data / "ct_spleen_dicom_label.nii.gz"
    cases = find_cases([(image, label)])
    settings = dict(BUNDLED_SETTINGS, epochs=args.epochs)
    config = TrainConfig(**settings, threads=args.threads, time_limit_s=args.time_limit)
    events: list[dict] = []

    def progress(event: dict) -> None:
        events.append(event)
        if event["event"] != "progress":
            log.info("%s", json.dumps(event))

    report_path = args.output.with_name(args.output.stem + ".training.json")
    if args.report_only:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    else:
        started = time.time()
        result = train(cases, config, args.output, progress=progress)
        report = {
            "settings": dict(settings),
            "threads": args.threads,
            "torch": torch.__version__,
            "training_seconds": round(time.time() - started, 1),
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped,
            "best_val_dice": result.best_val_dice,
            "history": result.history,
        }
        state = args.output.with_name(args.output.name + ".state.pt")
        state.unlink(missing_ok=True)  # optimizer state is not shipped
    report.update(score(args.output, image, label))
    report["model_bytes"] = args.output.stat().st_size
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    log.info(
        "val Dice %s, full-series Dice %.4f; report in %s",
        report.get("best_val_dice"),
        report["full_series"]["dice"],
        report_path,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
