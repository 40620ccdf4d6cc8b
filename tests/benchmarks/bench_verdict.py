"""How well the self-check verdict separates bad results from good ones: one JSON line.

Runs real models on real cases with a reference and records each result's Dice
against its reference and its verdict (``ok``, ``check``, ``failed``):

- the four MR cross-validation fold models (``models/mr_cv/fold_*.pt``) on their
  held-out patients (``fold_*.json``): results the MR model really gives;
- the bundled MR model and every fold model on ``mr_abdomen.nii.gz`` (another MR
  sequence, spleen label 1 of ``mr_abdomen_organs.nii.gz``), where it misses the spleen;
- the CT model forced on MR volumes and the MR model forced on the sample CT;
- the CT model on the sample CT, and two damaged copies of it: its output layer
  biased up (calls much of the abdomen spleen, as a badly trained model once did)
  and down (finds only the core of the spleen).

A result is *bad* when its Dice is below 0.8 and *flagged* when its verdict is not
``ok``; the line gives the verdict's precision (flagged results that are bad) and
recall (bad results that are flagged), and every case's Dice and verdict.

Usage: ``python tests/benchmarks/bench_verdict.py [--quick]`` (``--quick``: one
held-out case per fold)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from segmentation.metrics import dice_iou  # noqa: E402
from segmentation.model_file import load_model  # noqa: E402
from segmentation.registry import bundled_model_path  # noqa: E402
from segmentation.study import segment_study  # noqa: E402
from viewer.io import load_volume  # noqa: E402

BAD_DICE = 0.8


def data_dir() -> Path:
    return Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", REPO.parent / "shared" / "data"))


def biased(model_path: Path, bias: float):
    """The model with its output layer's bias shifted: a real network made worse."""
    loaded = load_model(model_path)
    with torch.no_grad():
        loaded.network.head.bias.add_(bias)
    loaded.metadata = dict(loaded.metadata, name=f"{loaded.name} bias {bias:+g}")
    return loaded


def cases(quick: bool) -> list[dict]:
    data = data_dir()
    chaos = data / "mr_spleen_chaos"
    ct, ct_label = data / "ct_spleen_dicom", data / "ct_spleen_dicom_label.nii.gz"
    mr, mr_organs = data / "mr_abdomen.nii.gz", data / "mr_abdomen_organs.nii.gz"
    found = []
    for fold_file in sorted((REPO / "models" / "mr_cv").glob("fold_*.json")):
        held_out = json.loads(fold_file.read_text())["held_out"]
        model = fold_file.with_suffix(".pt")
        for name in held_out[:1] if quick else held_out:
            found.append(dict(name=f"{model.stem} on {name}", model=model,
                              image=chaos / "imagesTr" / f"{name}.nii.gz",
                              label=chaos / "labelsTr" / f"{name}.nii.gz", label_value=None))
        found.append(dict(name=f"{model.stem} on mr_abdomen", model=model, image=mr,
                          label=mr_organs, label_value=1))
    ct_model, mr_model = bundled_model_path("CT"), bundled_model_path("MR")
    found += [
        dict(name="MR model on mr_abdomen", model=mr_model, image=mr, label=mr_organs,
             label_value=1),
        dict(name="CT model forced on mr_abdomen", model=None, modality="ct", image=mr,
             label=mr_organs, label_value=1),
        dict(name="CT model forced on chaos_t2_p01", model=None, modality="ct",
             image=chaos / "imagesTr" / "chaos_t2_p01.nii.gz",
             label=chaos / "labelsTr" / "chaos_t2_p01.nii.gz", label_value=None),
        dict(name="MR model forced on the sample CT", model=None, modality="mr", image=ct,
             label=ct_label, label_value=None),
        dict(name="CT model on the sample CT", model=ct_model, image=ct, label=ct_label,
             label_value=None),
        dict(name="CT model bias +12 on the sample CT", model=(ct_model, 12.0), image=ct,
             label=ct_label, label_value=None),
        dict(name="CT model bias -6 on the sample CT", model=(ct_model, -6.0), image=ct,
             label=ct_label, label_value=None),
    ]
    return found


def reference(path: Path, value: int | None) -> np.ndarray:
    array = np.asarray(load_volume(path).array)
    return array == value if value is not None else array > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    started = time.perf_counter()
    for case in cases(args.quick):
        if not case["image"].exists():
            continue
        model = case["model"]
        if isinstance(model, tuple):
            model = biased(*model)
        volume = load_volume(case["image"])
        study = segment_study(volume, modality=case.get("modality", "auto"), model=model,
                              device="cpu")
        dice, _ = dice_iou(study.mask > 0, reference(case["label"], case["label_value"]))
        rows.append(dict(case=case["name"], dice=round(float(dice), 4),
                         volume_ml=round(float(study.measurements.volume_ml), 1),
                         verdict=study.quality.verdict, reasons=study.quality.reasons))
    bad = [r for r in rows if r["dice"] < BAD_DICE]
    flagged = [r for r in rows if r["verdict"] != "ok"]
    both = [r for r in bad if r["verdict"] != "ok"]
    print(json.dumps({
        "benchmark": "verdict",
        "cases": len(rows),
        "bad_results": len(bad),
        "flagged_results": len(flagged),
        "verdict_precision": round(len(both) / len(flagged), 3) if flagged else None,
        "verdict_recall": round(len(both) / len(bad), 3) if bad else None,
        "bad_left_ok": [r["case"] for r in bad if r["verdict"] == "ok"],
        "seconds": round(time.perf_counter() - started, 1),
        "results": rows,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
