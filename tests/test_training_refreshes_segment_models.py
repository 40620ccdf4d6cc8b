"""A model that training adds or the model manager activates shows up in the Segment
tool's model list at once: the wiring hands the training tools the Segment tool."""

from __future__ import annotations

import shutil

from PyQt5.QtCore import QSettings

from segmentation.registry import bundled_model_path, user_models_dir
from viewer.ui.main_window import MainWindow


def _model_files(tool) -> list[str]:
    box = tool.options.model
    return [str(box.itemData(index)) for index in range(box.count())]


def test_a_new_model_appears_in_the_segment_tool(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    segment, training = win.tools.segmentation_tool, win.tools.training_tools
    segment.refresh_models()
    qtbot.waitUntil(lambda: segment.models_listed, timeout=60000)
    new_model = user_models_dir() / "retrained.pt"
    assert str(new_model) not in _model_files(segment)

    # what a finished training run leaves: a model file in the user's folder
    shutil.copy(bundled_model_path("CT"), new_model)
    training.models_changed()  # called when training saves a model or the manager changes one
    qtbot.waitUntil(lambda: str(new_model) in _model_files(segment), timeout=60000)
