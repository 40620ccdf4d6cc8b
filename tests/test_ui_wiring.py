"""The one wiring place: every tool is built with what it needs, a new tool plugs
into the shell's public API, and one broken tool does not keep the window from opening."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import QSettings
from PyQt5.QtWidgets import QAction, QDockWidget, QLabel

from viewer.overlays import OverlayLayer
from viewer.phantom import make_phantom
from viewer.ui import wiring
from viewer.ui.main_window import MainWindow


def _window(qtbot, tmp_path, **kwargs) -> MainWindow:
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), **kwargs)
    qtbot.addWidget(win)
    return win


def test_every_tool_is_built_and_shares_one_session(qtbot, tmp_path):
    win = _window(qtbot, tmp_path)
    tools = win.tools
    assert tools.failed == []
    session = tools.mask_session
    assert session is not None
    for tool in (tools.segmentation_tool, tools.review_tool, tools.saving_tool,
                 tools.edit_tool, tools.training_tools):
        assert tool is not None and tool.session is session
    titles = [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert titles[0] == "File" and titles[-1] == "Help"
    assert {"Edit", "Training", "Segmentation"} <= set(titles)


def test_a_new_tool_plugs_into_the_shell(qtbot, tmp_path):
    """What the wiring module's docstring tells a new tool to do works."""
    win = _window(qtbot, tmp_path, with_tools=False)
    opened = []
    action = QAction("Open from &PACS…", win)
    action.triggered.connect(lambda: opened.append(True))
    win.add_file_action(action)
    file_actions = [a.text().replace("&", "") for a in win.menu("&File").actions()]
    assert file_actions.index("Open from PACS…") > file_actions.index("Open mask…")
    assert file_actions.index("Open from PACS…") < file_actions.index("Save screenshot…")
    action.trigger()
    assert opened == [True]

    dock = win.add_dock(QLabel("worklist"), "Worklist")
    assert isinstance(dock, QDockWidget) and dock.windowTitle() == "Worklist"
    titles = [a.text().replace("&", "") for a in win.menuBar().actions()]
    win.menu("Quality")
    titles = [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert titles.index("Quality") < titles.index("Help")
    assert win.menu("Quality") is win.menu("&Quality")

    phantom = make_phantom()
    win.set_volume(phantom.volume())
    with qtbot.waitSignal(win.overlays_changed):
        win.set_overlay(OverlayLayer("prediction", phantom.canonical_mask()))
    edits = []
    win.document.labels_edited.connect(lambda names, region: edits.append((names, region)))
    region = (slice(0, 4), slice(0, 4), slice(2, 3))
    win.document.edit_labels(["prediction", "not shown"], region)
    assert edits == [(("prediction",), region)]
    with pytest.raises(ValueError):
        win.set_overlay(OverlayLayer("bad", np.zeros((2, 2, 2), np.uint8)))


def test_a_tool_that_fails_to_build_is_left_out_and_named(qtbot, tmp_path, monkeypatch):
    def broken(shell, session):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(wiring, "_build_training", broken)
    win = _window(qtbot, tmp_path)
    assert win.tools.failed == ["training"]
    assert win.tools.training_tools is None
    assert win.tools.edit_tool is not None  # the others are still there
    assert "training" in win.statusBar().currentMessage()
