"""Train the bundled model on the sample CT and score it: ``python -m segmentation.train_bundled``.

Reads ``$SPLEENSCOPE_SAMPLE_DATA/ct_spleen_dicom`` with its label (20 slices of one
patient), holds out the 4 most superior labelled slices for validation and trains a
small 2D UNet at 2 mm in-plane with heavy scale / rotation / intensity augmentation
(:data:`STAGE1_SETTINGS`; the model must survive other scanners and fields of view
more than it must fit these slices). ``--fine-tune-epochs N`` adds a second stage
that fine-tunes it with simulated thick slices, coarse pixels, other contrast
phases, stronger zoom-out and extra draws of the smallest spleen cross-sections
(:data:`FINE_TUNE_SETTINGS`, :data:`segmentation.augmentation.ROBUST_CT_AUGMENTATION`).
That stage is off by default: :mod:`segmentation.ct_robustness` measured it no
better than more training alone (see the model card), so the bundled model is the
stage 1 model. It then segments the whole series with the finished model and records
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

from segmentation.augmentation import ROBUST_CT_AUGMENTATION, AugmentationSettings
from segmentation.datasets import find_cases
from segmentation.joint_mr import LICENCE_NOTE
from segmentation.registry import bundled_model_path
from segmentation.training import TrainConfig, train

log = logging.getLogger(__name__)

# Stage 1, alone the recipe of the model bundled until 2026-12.
STAGE1_SETTINGS = dict(
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
STAGE1_AUGMENTATION = AugmentationSettings()

# Stage 2 starts from stage 1's weights, at a lower learning rate, and keeps the last
# epoch (its validation slices are the ones stage 1 already chose its epoch on).
FINE_TUNE_SETTINGS = dict(
    STAGE1_SETTINGS,
    epochs=8,
    learning_rate=5e-4,
    small_section_power=0.5,
    keep_best=False,
    seed=1,
)
FINE_TUNE_AUGMENTATION = ROBUST_CT_AUGMENTATION


def sample_data_dir() -> Path:
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", default))


def joint_mr_dir() -> Path:
    """The MR patients joint CT+MR training borrows shapes from (MSD layout)."""
    return sample_data_dir() / "mr_spleen_chaos"


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
    parser.add_argument("--epochs", type=int, default=STAGE1_SETTINGS["epochs"])
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=0,
        help="epochs of the robust fine-tune stage (default 0: none; "
        f"{FINE_TUNE_SETTINGS['epochs']} makes the candidate the model card compares)",
    )
    parser.add_argument(
        "--joint-mr",
        action="store_true",
        help="add the MR patients' slices as shapes to stage 1 (segmentation.joint_mr; the "
        "weights then carry the MR data's CC BY-NC-SA 4.0 terms)",
    )
    parser.add_argument(
        "--stage1",
        type=Path,
        help="skip stage 1 and fine-tune this model (one trained with the stage 1 settings)",
    )
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
    stage1 = dict(STAGE1_SETTINGS, epochs=args.epochs)
    if args.joint_mr:
        stage1["joint_mr"] = str(joint_mr_dir())
    stage1_config = TrainConfig(
        **stage1, augmentation=STAGE1_AUGMENTATION, threads=args.threads,
        time_limit_s=args.time_limit,
    )  # fmt: skip
    fine_tune = dict(FINE_TUNE_SETTINGS, epochs=args.fine_tune_epochs)
    fine_tuning = args.fine_tune_epochs > 0
    if args.stage1 is not None and not fine_tuning:
        parser.error("--stage1 needs --fine-tune-epochs N (N > 0)")
    stage1_path = (
        args.output.with_name(args.output.stem + ".stage1.pt") if fine_tuning else args.output
    )
    fine_tune_config = TrainConfig(
        **fine_tune, augmentation=FINE_TUNE_AUGMENTATION, init_from=str(args.stage1 or stage1_path),
        threads=args.threads, time_limit_s=args.time_limit,
    )  # fmt: skip
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
        report = {
            "settings": dict(stage1, **({"joint_mr": joint_mr_dir().name} if args.joint_mr else {})),
            **({"licence": LICENCE_NOTE} if args.joint_mr else {}),
            "augmentation": STAGE1_AUGMENTATION.describe(),
            "threads": args.threads,
            "torch": torch.__version__,
        }
        if args.stage1 is None:
            result = train(cases, stage1_config, stage1_path, progress=progress)
            report.update(
                stage1_seconds=round(time.time() - started, 1),
                epochs_run=result.epochs_run,
                stopped_early=result.stopped,
                best_val_dice=result.best_val_dice,
                history=result.history,
            )
        else:
            report["stage1_from"] = args.stage1.name
        if fine_tuning:
            fine_started = time.time()
            result = train(cases, fine_tune_config, args.output, progress=progress)
            report["fine_tune"] = {
                "settings": dict(fine_tune),
                "augmentation": FINE_TUNE_AUGMENTATION.describe(),
                "seconds": round(time.time() - fine_started, 1),
                "epochs_run": result.epochs_run,
                "last_val_dice": result.history[-1]["val_dice"] if result.history else None,
                "history": result.history,
            }
        report["training_seconds"] = round(time.time() - started, 1)
        for path in {args.output, stage1_path}:  # optimizer state is not shipped
            path.with_name(path.name + ".state.pt").unlink(missing_ok=True)
        if fine_tuning and args.stage1 is None:
            stage1_path.unlink(missing_ok=True)
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
