"""The bundled MR model: cross-validation Dice on held-out patients, re-measured here.

Each fold model in ``models/mr_cv/`` was trained on 9 of the 12 MR patients and never
saw the other 3 (``segmentation.train_mr.FOLDS``). The test segments those held-out
patients again with the whole pipeline and checks that the Dice the model card quotes
(``spleen_mr_unet2d.training.json``) is what the models really give, and that it stays
above a floor. It also checks the shipped model on an MR: ``auto`` picks it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from segmentation.metrics import dice_iou
from segmentation.registry import bundled_model_path, repository_models_dir
from segmentation.study import segment_study
from segmentation.train_mr import CV_FOLDER, FOLDS
from tests.seg_support import require_sample
from viewer.io import load_volume

RECORD = repository_models_dir() / "spleen_mr_unet2d.training.json"
# Margin between the recorded and the re-measured Dice (same weights, same data: only
# float rounding of the float16 fold weights may differ).
MARGIN = 0.01
# Held-out floor per fold (mean over its 3 patients): the lowest the card may fall to
# before this test calls it a regression.
FOLD_FLOOR = 0.8


def _record() -> dict:
    if not RECORD.is_file():
        pytest.skip("no MR training record")
    return json.loads(RECORD.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fold", range(len(FOLDS)))
def test_held_out_fold_dice_matches_the_card(fold):
    record = _record()
    model = repository_models_dir() / CV_FOLDER / f"fold_{fold}.pt"
    if not model.is_file() or str(fold) not in record.get("cross_validation", {}):
        pytest.skip(f"fold {fold} was not trained")
    recorded = {row["case"]: row["dice"] for row in record["cross_validation"][str(fold)]["cases"]}
    assert sorted(recorded) == sorted(FOLDS[fold])
    measured = {}
    for name in FOLDS[fold]:
        image = require_sample("mr_spleen_chaos", "imagesTr", f"{name}.nii.gz")
        label = require_sample("mr_spleen_chaos", "labelsTr", f"{name}.nii.gz")
        volume = load_volume(image)
        study = segment_study(volume, model=model, device="cpu")
        assert study.model_modality == "MR" and study.modality.modality == "MR"
        dice, _ = dice_iou(study.mask > 0, np.asarray(load_volume(label).array) > 0)
        measured[name] = dice
        assert dice == pytest.approx(recorded[name], abs=MARGIN), name
    assert np.mean(list(measured.values())) >= FOLD_FLOOR, measured


def test_auto_picks_the_mr_model_for_an_mr():
    if not bundled_model_path("MR").is_file():
        pytest.skip("no bundled MR model")
    volume = load_volume(require_sample("mr_abdomen.nii.gz"))
    study = segment_study(volume, device="cpu")
    assert study.modality.modality == "MR" and study.model_modality == "MR"
    assert "trained on" not in " ".join(study.quality.reasons)  # no mismatch
