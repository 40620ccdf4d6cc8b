"""CT training recipes against the bundled one, measured the same way: ``python -m segmentation.ct_robustness``.

Only one CT patient is shared, so a new training recipe is judged on what can be
repeated with it (the unseen patient that lost the spleen's tip stays held back):

(a) leave-slices-out: the previous model never saw the superior block of labelled
    slices (16-19, an end of the series where the spleen's cross-section is small), so
    each recipe fine-tunes it for the same number of epochs with that block still held
    out: with the previous augmentation (the control: what more training alone does)
    and with the robust one. The last epoch's weights segment the whole series and
    only the held-out block is scored (Dice, volume, per-slice Dice). The inferior
    block (0-3) is in the previous model's training slices, so a clean inferior fold
    needs both recipes trained from scratch (``--blocks superior inferior
    --from-scratch``, about 2 x 17 min of CPU more);
(b) simulated geometries: the finished models on the sample resampled to thick
    slices and coarse pixels (:data:`segmentation.ct_geometries.GEOMETRIES`);
(c) per-slice Dice on the smallest spleen cross-sections of every case above;
(d) volume error of every case above.

Recipes: ``previous`` (the bundled model's), ``robust`` (simulated thick slices, coarse
pixels, contrast phases, tip sampling) and ``joint_mr`` (the previous recipe plus the
12 MR patients' slices as shapes, :mod:`segmentation.joint_mr`). With
``--from-scratch`` every recipe trains the same schedule from nothing, so the
superior fold's models (trained on the bundled model's own split) also stand in for
finished models in (b)-(d): ``--previous-model W/previous_superior.pt
--joint-mr-model W/joint_mr_superior.pt``.

Prints one JSON line. Fold models and their scores are kept in ``--work`` and reused
when present, so two processes (one per recipe, ``--recipes``) can share the work and
a last run only adds the finished models' figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from segmentation.ct_geometries import GEOMETRIES
from segmentation.train_bundled import (
    FINE_TUNE_AUGMENTATION,
    FINE_TUNE_SETTINGS,
    STAGE1_AUGMENTATION,
    STAGE1_SETTINGS,
    joint_mr_dir,
    other_geometry,
    sample_data_dir,
)

log = logging.getLogger(__name__)

# Fine-tunes of the previous model, the same length: with the old augmentation (the
# control: what more training alone does), with the robust one, and with the old
# augmentation plus the MR shapes (joint_mr: True, the folder is found at run time).
RECIPES = {
    "previous": (dict(FINE_TUNE_SETTINGS, small_section_power=0.0), STAGE1_AUGMENTATION),
    "robust": (FINE_TUNE_SETTINGS, FINE_TUNE_AUGMENTATION),
    "joint_mr": (
        dict(FINE_TUNE_SETTINGS, small_section_power=0.0, joint_mr=True),
        STAGE1_AUGMENTATION,
    ),
}
BLOCKS = ("superior", "inferior")
SMALLEST = 2  # how many of the smallest cross-sections each case reports


def _load_sample():
    from viewer.io import load_volume

    data = sample_data_dir()
    image = data / "ct_spleen_dicom"
    label = data / "ct_spleen_dicom_label.nii.gz"
    volume = load_volume(image)
    reference = (np.asarray(load_volume(label).array) > 0).astype(np.uint8)
    return image, label, volume, reference


def score_slices(pred: np.ndarray, ref: np.ndarray, voxel_ml: float, slices=None) -> dict:
    """Dice, volumes and per-slice Dice on ``slices`` (all when None) along the last axis."""
    from segmentation.metrics import dice_iou, per_slice_dice

    if slices is None:
        slices = np.arange(ref.shape[2])
    slices = np.asarray(slices)
    pred, ref = pred[..., slices] > 0, ref[..., slices] > 0
    dice = dice_iou(pred, ref)[0]
    per_slice = per_slice_dice(pred, ref)
    areas = ref.reshape(-1, len(slices)).sum(axis=0)
    labelled = np.flatnonzero(areas > 0)
    smallest = labelled[np.argsort(areas[labelled], kind="stable")[:SMALLEST]]
    pred_ml, ref_ml = float(pred.sum()) * voxel_ml, float(ref.sum()) * voxel_ml
    return {
        "slices": [int(slices[0]), int(slices[-1])],
        "dice": round(float(dice), 4),
        "volume_ml": round(pred_ml, 1),
        "reference_ml": round(ref_ml, 1),
        "volume_error_pct": round(100.0 * (pred_ml - ref_ml) / ref_ml, 2) if ref_ml else None,
        # None where neither mask has spleen (JSON has no NaN)
        "per_slice_dice": [None if np.isnan(v) else round(float(v), 4) for v in per_slice],
        "smallest_sections": [
            {
                "slice": int(slices[i]),
                "reference_pixels": int(areas[i]),
                "dice": round(float(per_slice[i]), 4),
            }
            for i in smallest
        ],
    }


def _segment(volume, model_path: Path) -> np.ndarray:
    from segmentation.study import segment_study

    return np.asarray(segment_study(volume, model=model_path, device="cpu").mask)


def leave_slices_out(
    recipe: str, block: str, epochs: int, threads: int, work: Path, init_from: Path | None
) -> dict:
    """Train ``recipe`` without ``block``'s slices, score the block (cached in ``work``).

    ``init_from``: fine-tune that model (it must not have seen the block); None: from
    scratch with the stage 1 network settings.
    """
    from segmentation.datasets import find_cases
    from segmentation.training import TrainConfig, train

    cache = work / f"{recipe}_{block}.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    settings, augmentation = RECIPES[recipe]
    if init_from is None:  # from scratch: stage 1's learning rate and seed, this recipe's data
        settings = dict(
            STAGE1_SETTINGS,
            small_section_power=settings["small_section_power"],
            joint_mr=settings.get("joint_mr", False),
        )
    settings = dict(settings, joint_mr=str(joint_mr_dir()) if settings.get("joint_mr") else None)
    image, label, volume, reference = _load_sample()
    config = TrainConfig(
        **dict(
            settings, epochs=epochs, keep_best=False, model_name=f"ct_robustness {recipe} {block}"
        ),
        augmentation=augmentation,
        val_slice_block=block,
        threads=threads,
        init_from=None if init_from is None else str(init_from),
    )
    model_path = work / f"{recipe}_{block}.pt"
    started = time.perf_counter()
    result = train(find_cases([(image, label)]), config, model_path)
    seconds = time.perf_counter() - started
    state = model_path.with_name(model_path.name + ".state.pt")
    state.unlink(missing_ok=True)
    from segmentation.model_file import load_model

    split = load_model(model_path).metadata["training_data"]["split"]["val_slices"]
    held_out = np.arange(split[0], split[1] + 1)
    voxel_ml = abs(np.linalg.det(volume.affine[:3, :3])) / 1000.0
    row = {
        "recipe": recipe,
        "held_out": block,
        "start": "fine-tune of the previous model" if init_from else "from scratch",
        "epochs": result.epochs_run,
        "training_seconds": round(seconds, 1),
        **score_slices(_segment(volume, model_path), reference, voxel_ml, held_out),
    }
    work.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(row), encoding="utf-8")
    log.info("%s", json.dumps(row))
    return row


def finished_model_scores(model_path: Path, work: Path) -> list[dict]:
    """The whole sample series and each simulated geometry, segmented by one model.

    Cached in ``work`` under the model file's SHA-256, so a changed file is rescored.
    """
    import hashlib

    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:16]
    cache = work / f"finished_{digest}.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    _, _, volume, reference = _load_sample()
    rows = []
    cases = [("sample 0.977 mm pixels, 2 mm slices", volume, reference)]
    for pixel, thickness, fov in GEOMETRIES:
        moved, moved_reference = other_geometry(volume, reference, pixel, thickness, fov)
        cases.append((f"{pixel:g} mm pixels, {thickness:g} mm slices", moved, moved_reference))
    for name, case_volume, case_reference in cases:
        voxel_ml = abs(np.linalg.det(case_volume.affine[:3, :3])) / 1000.0
        pred = _segment(case_volume, model_path)
        rows.append({"case": name, **score_slices(pred, case_reference, voxel_ml)})
    cache.write_text(json.dumps(rows), encoding="utf-8")
    return rows


def summarize(folds: list[dict], finished: list[dict]) -> dict:
    """The four figures the decision uses: means over cases (higher Dice, lower error)."""
    smallest = [s["dice"] for row in folds + finished for s in row["smallest_sections"]]
    return {
        "a_leave_slices_out_dice": round(float(np.mean([r["dice"] for r in folds])), 4),
        "b_geometries_dice": round(float(np.mean([r["dice"] for r in finished[1:]])), 4),
        "c_smallest_sections_dice": round(float(np.nanmean(smallest)), 4),
        "c_smallest_sections_min": round(float(np.nanmin(smallest)), 4),
        "d_mean_abs_volume_error_pct": round(
            float(np.mean([abs(r["volume_error_pct"]) for r in folds + finished])), 2
        ),
        "sample_dice": finished[0]["dice"],
        "sample_volume_ml": finished[0]["volume_ml"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous-model", type=Path, required=True, help="the model to beat")
    parser.add_argument("--robust-model", type=Path, help="the robust recipe's finished model")
    parser.add_argument(
        "--joint-mr-model", type=Path, help="the joint CT+MR recipe's finished model"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "spleenscope_ct_robustness",
        help="fold models and cached scores (reused when present)",
    )
    parser.add_argument(
        "--epochs", type=int, default=FINE_TUNE_SETTINGS["epochs"], help="epochs of each fold run"
    )
    parser.add_argument("--blocks", nargs="+", default=["superior"], choices=list(BLOCKS))
    parser.add_argument(
        "--from-scratch", action="store_true", help="fold runs train from scratch, not fine-tune"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--recipes", nargs="+", default=["previous", "robust"], choices=list(RECIPES)
    )
    parser.add_argument("--folds-only", action="store_true", help="train and score folds only")
    parser.add_argument(
        "--finished-only", action="store_true", help="score the finished models only"
    )
    parser.add_argument("--record", type=Path, help="also write the result into this JSON file")
    parser.add_argument(
        "--record-as",
        default="robustness_comparison",
        help="the key the result is written under in --record (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    models = {
        "previous": args.previous_model,
        "robust": args.robust_model,
        "joint_mr": args.joint_mr_model,
    }
    if args.finished_only:
        for recipe, path in models.items():
            if recipe in args.recipes and path is not None:
                print(json.dumps({recipe: finished_model_scores(path, args.work)}))
        return 0
    folds = {
        recipe: [
            leave_slices_out(
                recipe, block, args.epochs, args.threads, args.work,
                None if args.from_scratch else args.previous_model,
            )  # fmt: skip
            for block in args.blocks
        ]
        for recipe in args.recipes
    }
    if args.folds_only:
        print(json.dumps({"folds": folds}))
        return 0
    result = {"recipes": {}}  # each fold row says its start and epochs (cached rows are reused)
    for recipe in args.recipes:
        if models[recipe] is None:
            option = recipe.replace("_", "-")
            parser.error(f"--{option}-model is needed to score the finished {recipe} model")
        finished = finished_model_scores(models[recipe], args.work)
        result["recipes"][recipe] = {
            "model": models[recipe].name,
            "summary": summarize(folds[recipe], finished),
            "leave_slices_out": folds[recipe],
            "finished_model": finished,
        }
    line = json.dumps(result)
    print(line)
    if args.record:
        report = json.loads(args.record.read_text(encoding="utf-8"))
        report[args.record_as] = result
        args.record.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
