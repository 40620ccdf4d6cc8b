"""The self-check on real failures: a result far from its reference is never ``ok``.

Real models on real volumes with a reference: the MR cross-validation fold models
(``models/mr_cv/fold_*.pt``) on one of their held-out patients each and on
``mr_abdomen.nii.gz``, another MR sequence where they miss the spleen (reference:
label 1 of ``mr_abdomen_organs.nii.gz``); the bundled MR model there too; the CT model
forced on an MR; the CT model on the sample CT. Every result with Dice below 0.8
against its reference must say ``check`` or ``failed``; the forced wrong modality says
``failed``; the sample CT says ``ok``. ``tests/benchmarks/bench_verdict.py`` runs more
cases and gives the verdict's precision and recall.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

from segmentation.metrics import dice_iou
from segmentation.registry import bundled_model_path, repository_models_dir
from segmentation.study import segment_study
from tests.seg_support import require_sample
from viewer.io import load_volume

torch.set_num_threads(2)
BAD_DICE = 0.8
CHAOS = "mr_spleen_chaos"


@cache
def _volume(*parts: str):
    return load_volume(require_sample(*parts))


@cache
def _reference(*parts: str, label: int | None = None) -> np.ndarray:
    array = np.asarray(_volume(*parts).array)
    return array == label if label is not None else array > 0


def _fold(index: int):
    path = repository_models_dir() / "mr_cv" / f"fold_{index}.pt"
    if not path.is_file():
        pytest.skip(f"no cross-validation model {path.name}")
    held_out = json.loads(path.with_suffix(".json").read_text())["held_out"]
    return path, held_out


def _judge(image: tuple, reference: np.ndarray, model=None, modality: str = "auto"):
    study = segment_study(_volume(*image), modality=modality, model=model, device="cpu")
    dice, _ = dice_iou(study.mask > 0, reference)
    return float(dice), study


def _assert_rule(dice: float, study) -> None:
    if dice < BAD_DICE:
        assert study.quality.verdict in ("check", "failed"), (
            f"Dice {dice:.3f} ({study.measurements.volume_ml:.0f} mL) left at ok")


@pytest.mark.parametrize("fold", [0, 1, 2, 3])
def test_cross_validation_models_on_another_mr_sequence_are_not_ok(fold):
    model, _ = _fold(fold)
    reference = _reference("mr_abdomen_organs.nii.gz", label=1)
    assert reference.any()
    dice, study = _judge(("mr_abdomen.nii.gz",), reference, model)
    assert study.model_modality == "MR" and study.modality.modality == "MR"
    assert dice < BAD_DICE  # they miss this spleen: the rule must hold
    _assert_rule(dice, study)


@pytest.mark.parametrize("fold", [0, 3])
def test_cross_validation_models_on_held_out_patients_follow_the_rule(fold):
    model, held_out = _fold(fold)
    name = held_out[0]
    dice, study = _judge((CHAOS, "imagesTr", f"{name}.nii.gz"),
                         _reference(CHAOS, "labelsTr", f"{name}.nii.gz"), model)
    assert dice > 0.5  # a real result of the model, not a failure to run
    _assert_rule(dice, study)


def test_bundled_mr_model_on_another_mr_sequence_is_not_ok():
    if not bundled_model_path("MR").is_file():
        pytest.skip("no bundled MR model")
    dice, study = _judge(("mr_abdomen.nii.gz",), _reference("mr_abdomen_organs.nii.gz", label=1))
    assert study.model_modality == "MR"
    assert dice < BAD_DICE
    _assert_rule(dice, study)


def test_forced_wrong_modality_fails():
    dice, study = _judge(("mr_abdomen.nii.gz",), _reference("mr_abdomen_organs.nii.gz", label=1),
                         modality="ct")
    assert study.model_modality == "CT" and study.modality.modality == "MR"
    assert study.quality.verdict == "failed"
    assert "trained on CT" in study.quality.reasons[0]
    _assert_rule(dice, study)


def test_sample_ct_is_ok():
    if not bundled_model_path("CT").is_file():
        pytest.skip("no bundled model")
    dice, study = _judge(("ct_spleen_dicom",), _reference("ct_spleen_dicom_label.nii.gz"))
    assert dice > 0.9
    assert study.quality.verdict == "ok", study.quality.reasons
