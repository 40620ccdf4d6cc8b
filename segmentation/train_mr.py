"""Train the bundled MR model with k-fold cross-validation: ``python -m segmentation.train_mr``.

Reads the 12 T2-SPIR MR patients of ``$SPLEENSCOPE_SAMPLE_DATA/mr_spleen_chaos`` (MSD
layout, manual labels). Four folds of three patients each: a model is trained on nine
patients for a fixed number of epochs (its last epoch is kept: picking the epoch on
the held-out patients would flatter the score) and the three held-out patients are
segmented with the whole pipeline (normalization, inference, post-processing) and
scored. Then the shipped model is trained the same way on all twelve.

Writes ``models/spleen_mr_unet2d.pt``, its ``.training.json`` (settings, per-fold and
per-case scores, timings) and the fold models ``models/mr_cv/fold_K.pt`` that
``tests/test_seg_mr_model.py`` re-scores on their held-out patients. The data are
CC BY-NC-SA 4.0, and so are the weights trained on them: they stay in files of their
own, never merged into the CT model.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from segmentation.augmentation import AugmentationSettings
from segmentation.datasets import find_cases
from segmentation.model_file import load_model
from segmentation.quality import VERDICTS
from segmentation.registry import repository_models_dir
from segmentation.train_bundled import sample_data_dir
from segmentation.training import TrainConfig, train

log = logging.getLogger(__name__)

MR_MODEL_NAME = "spleen_mr_unet2d.pt"
CV_FOLDER = "mr_cv"
FOLDS = (
    ("chaos_t2_p01", "chaos_t2_p02", "chaos_t2_p05"),
    ("chaos_t2_p10", "chaos_t2_p13", "chaos_t2_p19"),
    ("chaos_t2_p20", "chaos_t2_p22", "chaos_t2_p32"),
    ("chaos_t2_p33", "chaos_t2_p34", "chaos_t2_p36"),
)

# MR scales vary by scanner and patient even after per-volume normalization, so the
# intensity changes are wider than the CT model's (values here are on the 0..1000
# normalized scale, not HU).
MR_AUGMENTATION = AugmentationSettings(
    rotation_degrees=15.0,
    scale_range=(0.8, 1.25),
    anisotropy=0.08,
    translation_fraction=0.08,
    hu_shift=60.0,
    contrast_range=(0.7, 1.4),
    noise_hu=30.0,
    blur_probability=0.3,
)

# Sized for a shared 2-core CPU (the whole cross-validation plus the final model in
# well under an hour there): 3 mm pixels are plenty for an organ of 100-400 mL, and a
# narrow network (base 8) trained on 12 patients has less room to memorise them.
MR_SETTINGS = dict(
    epochs=48,
    steps_per_epoch=20,
    batch_size=8,
    patch_size=112,
    learning_rate=3e-3,
    base_channels=8,
    depth=4,
    target_spacing_mm=3.0,
    hu_window=(0.0, 1000.0),
    context_slices=1,
    foreground_fraction=0.7,
    seed=0,
    device="cpu",
    modality="MR",
    intensity="percentile",
)


def mr_data_dir() -> Path:
    return sample_data_dir() / "mr_spleen_chaos"


def score_cases(model_path: Path, cases) -> list[dict]:
    """Whole-study Dice, HD95, volume, range and verdict of ``model_path`` on each case.

    Also how the uncertain slices line up with the real errors: per case, the slices
    whose per-slice Dice against the label is below 0.8 (``bad_slices``) and which of
    them the self-check flagged.
    """
    from segmentation.metrics import evaluate_masks, per_slice_dice
    from segmentation.study import segment_study
    from viewer.io import load_volume

    rows = []
    for case in cases:
        volume = load_volume(case.image)
        reference = (np.asarray(load_volume(case.label).array) > 0).astype(np.uint8)
        study = segment_study(volume, model=model_path, device="cpu")
        metrics = evaluate_masks(study.mask, reference, volume.affine).as_dict()
        slice_dice = per_slice_dice(study.mask, reference, study.segmentation.axis)
        bad = [int(i) for i in np.flatnonzero(np.nan_to_num(slice_dice, nan=1.0) < 0.8)]
        flagged = [int(i) for i in study.quality.uncertain_slices]
        rows.append(
            {
                "case": case.name,
                "dice": round(float(metrics["dice"]), 4),
                "hd95_mm": metrics.get("hd95_mm"),
                "volume_ml": round(float(study.measurements.volume_ml), 1),
                "reference_ml": round(
                    float(reference.sum() * abs(np.linalg.det(volume.affine[:3, :3])) / 1000), 1
                ),
                "volume_ml_range": list(study.uncertainty.volume_range_ml),
                "verdict": study.quality.verdict,
                "reasons": study.quality.reasons,
                "bad_slices": bad,
                "flagged_slices": flagged,
                "seconds": round(study.seconds, 2),
            }
        )
        log.info("%s", json.dumps(rows[-1]))
    return rows


def train_one(
    cases, output: Path, settings: dict, threads: int, val_cases=(), name="", time_limit=0.0
):
    config = TrainConfig(
        **settings,
        time_limit_s=time_limit or None,
        augmentation=MR_AUGMENTATION,
        threads=threads,
        val_fraction=0.0,
        val_cases=tuple(val_cases) if val_cases else None,
        keep_best=False,
        model_name=name,
    )
    result = train(cases, config, output, progress=log_epochs)
    output.with_name(output.name + ".state.pt").unlink(missing_ok=True)
    return result


def log_epochs(event: dict) -> None:
    """Log a training run's start, each epoch and its end (the training's progress callback)."""
    if event["event"] in ("start", "epoch", "done"):
        log.info("%s", json.dumps(event))


def save_half_precision(path: Path) -> None:
    """Store a fold model's weights as float16: half the size, same masks to within 1e-3 Dice."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["state_dict"] = {
        k: (v.half() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()
    }
    torch.save(payload, path)


def slice_detection(rows: list[dict]) -> dict:
    """How well the uncertain slices find the slices the model got wrong (Dice < 0.8)."""
    bad = sum(len(r.get("bad_slices", [])) for r in rows)
    flagged = sum(len(r.get("flagged_slices", [])) for r in rows)
    hits = sum(len(set(r.get("bad_slices", [])) & set(r.get("flagged_slices", []))) for r in rows)
    return {
        "bad_slices": bad,
        "flagged_slices": flagged,
        "bad_slices_flagged": hits,
        "slice_recall": round(hits / bad, 3) if bad else None,
        "slice_precision": round(hits / flagged, 3) if flagged else None,
    }


def collect_report(models: Path, threads: int) -> dict:
    """The model's training record, from the per-fold and final records written so far."""
    report = {
        "settings": MR_SETTINGS,
        "augmentation": MR_AUGMENTATION.describe(),
        "threads": threads,
        "torch": torch.__version__,
        "folds": [list(fold) for fold in FOLDS],
    }
    folds = {}
    for index in range(len(FOLDS)):
        path = models / CV_FOLDER / f"fold_{index}.json"
        if path.is_file():
            folds[str(index)] = json.loads(path.read_text(encoding="utf-8"))
    report["cross_validation"] = folds
    rows = [row for fold in folds.values() for row in fold["cases"]]
    if rows:
        dice = [row["dice"] for row in rows]
        error = [100.0 * (r["volume_ml"] - r["reference_ml"]) / r["reference_ml"] for r in rows]
        report["cross_validation_summary"] = {
            "cases": len(rows),
            "mean_dice": round(float(np.mean(dice)), 4),
            "median_dice": round(float(np.median(dice)), 4),
            "min_dice": round(float(np.min(dice)), 4),
            "mean_abs_volume_error_percent": round(float(np.mean(np.abs(error))), 1),
            "verdicts": {v: sum(r.get("verdict") == v for r in rows) for v in VERDICTS},
            "below_0.8_not_flagged": [
                r["case"] for r in rows if r["dice"] < 0.8 and r.get("verdict") == "ok"
            ],
            **slice_detection(rows),
        }
    final = models / CV_FOLDER / "final.json"
    if final.is_file():
        report["final"] = json.loads(final.read_text(encoding="utf-8"))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=repository_models_dir())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=MR_SETTINGS["epochs"])
    parser.add_argument(
        "--folds",
        type=int,
        nargs="*",
        default=list(range(len(FOLDS))),
        help="folds to train (separate processes may train different folds at once)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=0.0,
        help="stop each model after the epoch that crosses this many seconds (default: none)",
    )
    parser.add_argument("--skip-final", action="store_true", help="do not train the final model")
    parser.add_argument("--collect", action="store_true", help="only rebuild the training record")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="do not train: score the fold models already saved (e.g. after stopping early)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    cases = find_cases(mr_data_dir())
    by_name = {case.name: case for case in cases}
    settings = dict(MR_SETTINGS, epochs=args.epochs)
    (args.models / CV_FOLDER).mkdir(parents=True, exist_ok=True)
    for index in [] if args.collect else args.folds:
        held_out = FOLDS[index]
        output = args.models / CV_FOLDER / f"fold_{index}.pt"
        started = time.time()
        if args.score_only:
            history = []
        else:
            history = train_one(
                cases,
                output,
                settings,
                args.threads,
                held_out,
                f"spleen_mr_unet2d fold {index}",
                args.time_limit,
            ).history
        seconds = round(time.time() - started, 1)
        trained = load_model(output)
        save_half_precision(output)
        record = {
            "held_out": list(held_out),
            "epochs_planned": settings["epochs"],
            "epochs_run": trained.metadata.get("validation", {}).get("epoch"),
            "training_seconds": None if args.score_only else seconds,
            "val_dice_by_epoch": [row["val_dice"] for row in history],
            "cases": score_cases(output, [by_name[name] for name in held_out]),
        }
        path = args.models / CV_FOLDER / f"fold_{index}.json"
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    if not args.collect and not args.skip_final and not args.score_only:
        output = args.models / MR_MODEL_NAME
        started = time.time()
        name = "spleen_mr_unet2d (T2-SPIR MR, 12 patients)"
        result = train_one(cases, output, settings, args.threads, (), name, args.time_limit)
        record = {
            "epochs_planned": settings["epochs"],
            "epochs_run": result.epochs_run,
            "training_seconds": round(time.time() - started, 1),
            "model_bytes": output.stat().st_size,
        }
        (args.models / CV_FOLDER / "final.json").write_text(json.dumps(record, indent=2))
    report = collect_report(args.models, args.threads)
    report_path = args.models / (Path(MR_MODEL_NAME).stem + ".training.json")
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    log.info("cross-validation: %s", json.dumps(report.get("cross_validation_summary")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
