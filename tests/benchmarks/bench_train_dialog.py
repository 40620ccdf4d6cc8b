"""Training as the in-app dialog runs it: one JSON line of seconds per epoch (and Dice).

Builds the dialog's exact child-process command (:func:`viewer.training_protocol.build_command`
with the dialog's default settings) for the sample CT, saved as a one-case collection the
way "Add this case to my training set" saves it, and runs it for ``--epochs`` epochs.
Baseline, measured in the same run: the same settings through
:func:`segmentation.training.train` in this process, so the cost of the child process and
its JSON lines shows (it should be nil beyond start-up).

``--score`` also segments the whole sample series with the trained model and reports the
Dice against ``ct_spleen_dicom_label.nii.gz``: over all 20 slices (16 of them were seen in
training) and over the 4 held-out slices alone. Use ``--epochs 40`` (the dialog's default)
for the figure quoted in models/README.md; ``--skip-baseline`` to save time.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_train_dialog.py --epochs 40 --score
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.conftest import sample_data_dir  # noqa: E402


def _prepare(folder: Path) -> Path:
    from segmentation.datasets import add_case_to_collection
    from viewer.io import load_volume

    volume = load_volume(sample_data_dir() / "ct_spleen_dicom")
    label = load_volume(sample_data_dir() / "ct_spleen_dicom_label.nii.gz")
    add_case_to_collection(volume, (np.asarray(label.array) > 0).astype(np.uint8), folder)
    return folder


def _child_run(settings) -> tuple[list[dict], float]:
    from viewer.training_protocol import EpochEvent, EventReader, build_command, package_root

    env = dict(os.environ, PYTHONPATH=str(package_root()), PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    done = subprocess.run(build_command(settings), capture_output=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode()[-2000:])
    reader = EventReader()
    events = reader.feed(done.stdout) + reader.flush()
    return [e for e in events if isinstance(e, EpochEvent)], wall


def _in_process(settings, data: Path, output: Path) -> list[float]:
    from segmentation.datasets import find_cases
    from segmentation.training import TrainConfig, train

    config = TrainConfig(
        epochs=settings.epochs, learning_rate=settings.learning_rate,
        batch_size=settings.batch_size, steps_per_epoch=settings.steps_per_epoch,
        axis=settings.axis, val_fraction=settings.val_fraction, device=settings.device,
        seed=settings.seed, base_channels=settings.base_channels, depth=settings.depth,
        target_spacing_mm=settings.spacing_mm, patch_size=settings.patch_size)
    seconds: list[float] = []
    train(find_cases(data), config, output,
          progress=lambda e: seconds.append(e["seconds"]) if e["event"] == "epoch" else None)
    return seconds


def _score(model: Path) -> dict:
    from segmentation.inference import segment_volume
    from segmentation.metrics import evaluate_masks
    from segmentation.model_file import load_model
    from viewer.io import load_volume

    volume = load_volume(sample_data_dir() / "ct_spleen_dicom")
    reference = load_volume(sample_data_dir() / "ct_spleen_dicom_label.nii.gz")
    reference = (np.asarray(reference.array) > 0).astype(np.uint8)
    result = segment_volume(volume, model=model, device="cpu")
    whole = evaluate_masks(result.mask, reference, volume.affine)
    split = load_model(model).metadata["training_data"]["split"]
    low, high = split["val_slices"]
    held_out = evaluate_masks(result.mask[:, :, low:high + 1], reference[:, :, low:high + 1],
                              volume.affine)
    return {
        "dice_whole_series": round(whole.dice, 4),
        "dice_held_out_slices": round(held_out.dice, 4),
        "held_out_slices": [low, high],
        "volume_ml": round(whole.volume_pred_ml, 1),
        "reference_ml": round(whole.volume_ref_ml, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--score", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    from viewer.training_protocol import TrainingSettings

    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        data = _prepare(temp / "collection")
        settings = TrainingSettings(output=temp / "dialog.pt", data=data, epochs=args.epochs)
        epochs, wall = _child_run(settings)
        child = [e.seconds for e in epochs]
        report = {
            "benchmark": "train_dialog_defaults",
            "settings": {k: v for k, v in vars(settings).items()
                         if k not in ("output", "data", "pairs", "init_from")},
            "device": None,
            "epochs": len(child),
            "child_s_per_epoch_median": round(statistics.median(child), 2),
            "child_wall_s": round(wall, 1),
            "best_val_dice": max((e.best_val_dice or 0.0) for e in epochs),
        }
        from segmentation.model_file import load_model

        report["device"] = load_model(settings.output).metadata["training"]["device"]
        if not args.skip_baseline:
            baseline = _in_process(replace(settings), data, temp / "baseline.pt")
            report["baseline_in_process_s_per_epoch_median"] = round(
                statistics.median(baseline), 2)
        if args.score:
            report.update(_score(settings.output))
        print(json.dumps(report))


if __name__ == "__main__":
    main()
