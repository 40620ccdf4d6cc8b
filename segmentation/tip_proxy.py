"""Does tip coverage help a model trained on mid-spleen slices only? ``python -m segmentation.tip_proxy``.

The bundled CT model is trained on 20 slices from the middle of one spleen and misses
the inferior tip of an unseen patient; the one shared CT has no tip to hold out, so a
recipe aimed at tips (zoom-out to 0.55 and spleen slices drawn with weight
``area ** -0.5``) cannot be judged on CT. This is a cross-modality proxy built from the
12 labelled T2-SPIR MR patients (``segmentation.train_mr.FOLDS``): for each fold, a
model is trained on the 9 training patients cropped to the middle half of each
spleen's slice extent (:func:`crop_to_middle`), then the 3 held-out patients' whole
volumes are segmented with the whole pipeline (:func:`segmentation.study.segment_study`)
and scored on the whole spleen and on its two end quarters (:func:`score_tips`).

Arms (same schedule and seed; :data:`ARMS`):

- ``A``: the MR recipe (``MR_AUGMENTATION``), slices drawn by area as usual (control);
- ``B``: tip coverage: ``MR_AUGMENTATION`` with ``scale_range`` (0.55, 1.3) and
  ``small_section_power`` 0.5, the two tip parts of ``ROBUST_CT_AUGMENTATION`` (its
  CT-only HU, contrast-phase and thick-slice parts left out).

Each (arm, seed, fold) is cached under ``--work`` as a JSON record, so a rerun only adds
what is missing; separate processes may run different arms, seeds or folds at once.
Prints one JSON line: per arm and seed, the mean over the 12 held-out patients.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Crops, fold models and per-fold records; reused by a rerun, so not a fresh folder.
DEFAULT_WORK = Path(tempfile.gettempdir()) / "spleenscope_tip_proxy"
# Spleen slices whose centre lies in the lowest / highest quarter of the reference
# extent are the tips; those in the middle half are the training slices.
TIP_QUARTER = 0.25
ARMS = ("A", "B")
TIP_SCALE_RANGE = (0.55, 1.3)
TIP_SMALL_SECTION_POWER = 0.5
# The MR recipe's own schedule (48 epochs x 20 steps, about 6 min per fold on one CPU
# thread); ``--epochs 16`` is the short schedule the model card also reports.
DEFAULT_EPOCHS = 48
# Whole-volume Dice below this: the pipeline kept something other than the spleen.
LOST_DICE = 0.1


# ----------------------------------------------------------------- slice selection
def spleen_extent(label: np.ndarray, axis: int = 2) -> tuple[int, int] | None:
    """First and last slice index along ``axis`` with any label voxel; None if empty."""
    moved = np.moveaxis(np.asarray(label) > 0, axis, 0).reshape(label.shape[axis], -1)
    present = np.flatnonzero(moved.any(axis=1))
    if present.size == 0:
        return None
    return int(present[0]), int(present[-1])


def slice_roles(label: np.ndarray, axis: int = 2) -> dict[str, np.ndarray]:
    """The spleen's slices along ``axis`` split into ``low``, ``middle`` and ``high``.

    A slice of the reference extent ``first..last`` (n slices) belongs to ``low`` when
    its centre lies in the lowest quarter of the extent (``(i - first + 0.5) / n <
    0.25``), to ``high`` when in the highest quarter, else to ``middle`` (the middle
    half). On the canonical RAS grid axis 2 runs inferior to superior, so ``low`` is
    the inferior end. The three parts are disjoint and cover the extent.
    """
    extent = spleen_extent(label, axis)
    if extent is None:
        empty = np.zeros(0, dtype=int)
        return {"low": empty, "middle": empty, "high": empty}
    first, last = extent
    indices = np.arange(first, last + 1)
    position = (indices - first + 0.5) / len(indices)
    return {
        "low": indices[position < TIP_QUARTER],
        "middle": indices[(position >= TIP_QUARTER) & (position <= 1 - TIP_QUARTER)],
        "high": indices[position > 1 - TIP_QUARTER],
    }


def crop_to_middle(case, folder: Path):
    """Write ``case``'s image and label cropped to the middle half of its spleen.

    The files are on the canonical RAS grid, so slice ``k`` of the crop is slice
    ``middle[0] + k`` of the canonical volume; the affine's origin is moved to that
    slice (nibabel's slicer), so every kept voxel keeps its world position. Returns the
    new :class:`segmentation.datasets.Case` and the canonical slice indices kept.
    """
    import nibabel as nib

    from segmentation.datasets import Case

    folder.mkdir(parents=True, exist_ok=True)
    label_img = nib.as_closest_canonical(nib.load(str(case.label)))
    label = np.asarray(label_img.dataobj)
    middle = slice_roles(label, axis=2)["middle"]
    if middle.size == 0:
        raise ValueError(f"{case.name}: no spleen slices to keep")
    start, stop = int(middle[0]), int(middle[-1]) + 1
    paths = {}
    for kind, path in (("image", case.image), ("label", case.label)):
        image = label_img if kind == "label" else nib.as_closest_canonical(nib.load(str(path)))
        cropped = image.slicer[:, :, start:stop]
        out = folder / kind / f"{case.name}.nii.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        nib.save(cropped, str(out))
        paths[kind] = out
    return Case(case.name, paths["image"], paths["label"]), middle


# -------------------------------------------------------------------------- scoring
def score_tips(pred: np.ndarray, ref: np.ndarray, axis: int = 2) -> dict:
    """Whole-volume and per-end scores of ``pred`` against ``ref`` (same grid).

    ``inferior`` is the low end of ``axis`` (canonical RAS), ``superior`` the high one.
    Per end: the Dice pooled over that quarter's slices (``dice``), how many of those
    slices hold reference spleen (``slices``), how many of them the prediction leaves
    empty (``missed``), and how many slices beyond the reference extent on that side
    the prediction marks (``overshoot_slices``).
    """
    from segmentation.metrics import dice_iou

    pred = np.asarray(pred) > 0
    ref = np.asarray(ref) > 0
    roles = slice_roles(ref, axis)
    moved_pred = np.moveaxis(pred, axis, 0)
    moved_ref = np.moveaxis(ref, axis, 0)
    pred_any = moved_pred.reshape(moved_pred.shape[0], -1).any(axis=1)
    extent = spleen_extent(ref, axis)
    scores = {"dice": round(dice_iou(pred, ref)[0], 4)}
    for end, role in (("inferior", "low"), ("superior", "high")):
        index = roles[role]
        beyond = (
            np.zeros(0, dtype=int)
            if extent is None
            else np.arange(0, extent[0])
            if end == "inferior"
            else np.arange(extent[1] + 1, moved_ref.shape[0])
        )
        scores[end] = {
            "dice": round(dice_iou(moved_pred[index], moved_ref[index])[0], 4),
            "slices": int(index.size),
            "missed": int(np.count_nonzero(~pred_any[index])),
            "overshoot_slices": int(np.count_nonzero(pred_any[beyond])),
        }
    return scores


# ------------------------------------------------------------------------ training
def arm_settings(arm: str, seed: int, epochs: int) -> tuple[dict, object, float]:
    """``(MR_SETTINGS with seed and epochs, augmentation, small_section_power)`` of an arm."""
    from segmentation.train_mr import MR_AUGMENTATION, MR_SETTINGS

    settings = dict(MR_SETTINGS, seed=int(seed), epochs=int(epochs))
    if arm == "A":
        return settings, MR_AUGMENTATION, 0.0
    if arm == "B":
        augmentation = dataclasses.replace(MR_AUGMENTATION, scale_range=TIP_SCALE_RANGE)
        return settings, augmentation, TIP_SMALL_SECTION_POWER
    raise ValueError(f"unknown arm {arm!r}: use one of {', '.join(ARMS)}")


def run_key(arm: str, seed: int, epochs: int, fold: int) -> str:
    return f"{arm}_s{seed}_e{epochs}_fold{fold}"


def train_fold(arm, seed, epochs, fold, work: Path, threads: int) -> dict:
    """Train one arm on a fold's cropped training patients and score its held-out ones."""
    from segmentation.datasets import find_cases
    from segmentation.measurements import voxel_volume_mm3
    from segmentation.study import segment_study
    from segmentation.train_mr import FOLDS, log_epochs, mr_data_dir
    from segmentation.training import TrainConfig, train
    from viewer.io import load_volume

    cases = find_cases(mr_data_dir())
    held_out = FOLDS[fold]
    training, kept = [], {}
    for case in cases:
        if case.name in held_out:
            continue
        cropped, middle = crop_to_middle(case, work / "crops" / run_key(arm, seed, epochs, fold))
        training.append(cropped)
        kept[case.name] = [int(middle[0]), int(middle[-1])]
    settings, augmentation, power = arm_settings(arm, seed, epochs)
    config = TrainConfig(
        **settings,
        augmentation=augmentation,
        small_section_power=power,
        threads=threads,
        val_fraction=0.0,
        keep_best=False,
        model_name=f"tip proxy {run_key(arm, seed, epochs, fold)}",
    )
    output = work / "models" / f"{run_key(arm, seed, epochs, fold)}.pt"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result = train(training, config, output, progress=log_epochs)
    output.with_name(output.name + ".state.pt").unlink(missing_ok=True)
    training_seconds = round(time.time() - started, 1)
    rows = []
    for case in (c for c in cases if c.name in held_out):
        volume = load_volume(case.image)
        reference = np.asarray(load_volume(case.label).array) > 0
        study = segment_study(volume, model=output, device="cpu")
        row = {"case": case.name, **score_tips(study.mask, reference, study.segmentation.axis)}
        row["volume_ml"] = round(study.measurements.volume_ml, 1)
        reference_ml = np.count_nonzero(reference) * voxel_volume_mm3(volume.affine) / 1000.0
        row["reference_ml"] = round(float(reference_ml), 1)
        row["volume_error_percent"] = round(
            100.0 * (row["volume_ml"] - row["reference_ml"]) / row["reference_ml"], 1
        )
        row["seconds"] = round(study.seconds, 2)
        rows.append(row)
        log.info("%s %s", run_key(arm, seed, epochs, fold), json.dumps(row))
    return {
        "arm": arm,
        "seed": seed,
        "epochs": epochs,
        "fold": fold,
        "held_out": list(held_out),
        "training_slices_kept": kept,
        "train_slices": sum(b - a + 1 for a, b in kept.values()),
        "small_section_power": power,
        "augmentation": augmentation.describe(),
        "training_seconds": training_seconds,
        "epochs_run": result.epochs_run,
        "final_train_loss": result.history[-1]["train_loss"] if result.history else None,
        "cases": rows,
    }


# ------------------------------------------------------------------------ summary
def summarize(records: list[dict]) -> dict:
    """Means over the held-out patients of one arm and seed (all folds' records)."""
    rows = [row for record in records for row in record["cases"]]
    if not rows:
        return {}

    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    summary = {
        "folds": sorted(record["fold"] for record in records),
        "cases": len(rows),
        "whole_dice": mean(r["dice"] for r in rows),
        "mean_abs_volume_error_percent": mean(abs(r["volume_error_percent"]) for r in rows),
        "mean_volume_error_percent": mean(r["volume_error_percent"] for r in rows),
        "training_seconds": round(sum(record["training_seconds"] for record in records), 1),
        # Patients whose spleen the pipeline did not find at all (it kept another organ).
        "lost_cases": sorted(r["case"] for r in rows if (r["dice"] or 0.0) < LOST_DICE),
    }
    for end in ("inferior", "superior"):
        slices = sum(r[end]["slices"] for r in rows)
        missed = sum(r[end]["missed"] for r in rows)
        summary[f"tip_dice_{end}"] = mean(r[end]["dice"] for r in rows)
        summary[f"miss_rate_{end}"] = round(missed / slices, 4) if slices else None
        summary[f"missed_slices_{end}"] = f"{missed}/{slices}"
        summary[f"overshoot_slices_{end}"] = sum(r[end]["overshoot_slices"] for r in rows)
    return summary


def _case_rows(records: list[dict]) -> dict[str, dict]:
    return {row["case"]: row for record in records for row in record["cases"]}


def collect(work: Path, epochs: int) -> dict:
    """The summary of every complete (arm, seed) found under ``work``."""
    from segmentation.train_mr import FOLDS

    by_run: dict[str, list[dict]] = {}
    for path in sorted((work / "results").glob(f"*_e{epochs}_fold*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        by_run.setdefault(f"{record['arm']}_s{record['seed']}", []).append(record)
    report = {"epochs": epochs, "runs": {}}
    for name, records in sorted(by_run.items()):
        summary = summarize(records)
        summary["complete"] = len(records) == len(FOLDS)
        report["runs"][name] = summary
    # Only arms with all folds are compared (a partial run covers other patients).
    complete = {n: s for n, s in report["runs"].items() if s["complete"]}
    seeds = sorted({int(n.split("_s")[1]) for n in complete})
    metrics = ("whole_dice", "tip_dice_inferior", "tip_dice_superior")
    report["b_minus_a"] = {
        str(seed): {
            m: round(complete[f"B_s{seed}"][m] - complete[f"A_s{seed}"][m], 4) for m in metrics
        }
        for seed in seeds
        if f"A_s{seed}" in complete and f"B_s{seed}" in complete
    }
    # Paired over the patients both arms found: tip accuracy apart from whole-case losses.
    for seed in seeds:
        if f"A_s{seed}" not in complete or f"B_s{seed}" not in complete:
            continue
        rows = {arm: _case_rows(by_run[f"{arm}_s{seed}"]) for arm in ARMS}
        found = [
            c for c in rows["A"] if all((rows[a][c]["dice"] or 0.0) >= LOST_DICE for a in ARMS)
        ]
        paired = {"cases": len(found)}
        for end in ("inferior", "superior"):
            diffs = [
                rows["B"][c][end]["dice"] - rows["A"][c][end]["dice"]
                for c in found
                if rows["A"][c][end]["dice"] is not None and rows["B"][c][end]["dice"] is not None
            ]
            paired[f"tip_dice_{end}"] = round(float(np.mean(diffs)), 4) if diffs else None
            paired[f"missed_{end}"] = {
                a: sum(rows[a][c][end]["missed"] for c in found) for a in ARMS
            }
        report.setdefault("b_minus_a_found_by_both", {})[str(seed)] = paired
    for arm in ARMS:
        values = [complete[f"{arm}_s{s}"] for s in seeds if f"{arm}_s{s}" in complete]
        if len(values) >= 2:
            report.setdefault("seed_spread", {})[arm] = {
                m: round(max(v[m] for v in values) - min(v[m] for v in values), 4) for m in metrics
            }
    return report


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--arms", nargs="*", default=list(ARMS), choices=ARMS)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--folds", type=int, nargs="*", default=[0, 1, 2, 3])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--collect", action="store_true", help="train nothing: summarize the cached records"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    results = args.work / "results"
    results.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        for seed in args.seeds:
            for fold in args.folds:
                for arm in args.arms:
                    path = results / f"{run_key(arm, seed, args.epochs, fold)}.json"
                    if path.is_file():
                        continue
                    record = train_fold(arm, seed, args.epochs, fold, args.work, args.threads)
                    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(json.dumps(collect(args.work, args.epochs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
