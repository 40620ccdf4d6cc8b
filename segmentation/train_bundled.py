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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=bundled_model_path())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=BUNDLED_SETTINGS["epochs"])
    parser.add_argument("--time-limit", type=float, default=25 * 60, help="seconds")
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

    started = time.time()
    result = train(cases, config, args.output, progress=progress)
    training_seconds = time.time() - started

    from segmentation.inference import segment_volume
    from segmentation.metrics import evaluate_masks
    from viewer.io import load_volume

    volume = load_volume(image)
    reference = load_volume(label)
    segmentation = segment_volume(volume, model=args.output, device="cpu")
    evaluation = evaluate_masks(segmentation.mask, reference.array, volume.affine)
    report = {
        "settings": {k: v for k, v in settings.items()},
        "threads": args.threads,
        "torch": torch.__version__,
        "training_seconds": round(training_seconds, 1),
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped,
        "best_val_dice": result.best_val_dice,
        "history": result.history,
        "full_series": evaluation.as_dict(),
        "full_series_segment_seconds": round(segmentation.seconds, 2),
        "model_bytes": args.output.stat().st_size,
    }
    report_path = args.output.with_name(args.output.stem + ".training.json")
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    log.info(
        "val Dice %.4f, full-series Dice %.4f; report in %s",
        result.best_val_dice or 0,
        evaluation.dice,
        report_path,
    )
    state = args.output.with_name(args.output.name + ".state.pt")
    state.unlink(missing_ok=True)  # optimizer state is not shipped
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
