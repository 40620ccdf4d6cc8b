"""A worse model cannot become active without an explicit confirmation.

The "worse" model is the bundled CT model with its output layer biased so far that it
calls much of the abdomen spleen (as a badly trained model once reported 1252 mL): a
real model file, scored by the real pipeline on the real sample CT.
"""

from __future__ import annotations

import os

import pytest
import torch

from segmentation import registry
from segmentation.model_comparison import compare_with_active
from segmentation.model_file import load_model, save_model
from tests.seg_support import require_sample

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    require_sample("ct_spleen_dicom")
    if not registry.bundled_model_path().is_file():
        pytest.skip("no bundled model")


def _worse_model() -> object:
    bundled = load_model(registry.bundled_model_path())
    with torch.no_grad():
        bundled.network.head.bias.add_(12.0)
    path = registry.user_models_dir() / "overeager.pt"
    metadata = dict(bundled.metadata, name="overeager CT model")
    return save_model(path, bundled.network, bundled.config, metadata)


def test_comparison_scores_both_models_on_the_same_cases():
    comparison = compare_with_active(_worse_model())
    assert comparison.cases == ["sample CT"]
    assert comparison.active.mean_dice > 0.9  # the bundled model on its sample CT
    assert comparison.candidate.mean_dice < comparison.active.mean_dice - 0.1
    assert comparison.candidate_is_worse
    assert "mean Dice" in comparison.text()


def test_worse_model_needs_confirmation_in_the_model_manager(qtbot):
    from PyQt5.QtWidgets import QPushButton

    from viewer.ui.model_manager import ModelManagerDialog

    worse = _worse_model()
    dialog = ModelManagerDialog()
    qtbot.addWidget(dialog)
    assert dialog.select(worse)
    assert dialog.set_selected_active() is False
    box = dialog.worse_box
    assert box is not None and box.isVisible()
    assert "scores lower" in box.windowTitle()
    assert f"{dialog.last_comparison.candidate.mean_dice:.3f}" in box.text()
    assert f"{dialog.last_comparison.active.mean_dice:.3f}" in box.text()
    # Cancel (the default): nothing changes.
    qtbot.mouseClick(box.button(box.Cancel), 1)
    assert registry.active_model_path() == registry.bundled_model_path()
    # Asked again and confirmed: now it is active, and the list says so.
    assert dialog.set_selected_active() is False
    use = dialog.worse_box.findChild(QPushButton, "use_worse_model")
    qtbot.mouseClick(use, 1)
    assert registry.active_model_path() == worse.resolve()
    assert dialog.table.item(dialog.row_of(worse), 0).text() == "●"
    # Going back to the bundled model (better) needs no confirmation.
    assert dialog.select(registry.bundled_model_path())
    assert dialog.set_selected_active() is True
    assert registry.active_model_path() == registry.bundled_model_path()
