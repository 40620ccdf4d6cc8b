"""Shared set-up for the in-app segmentation / review / saving tests.

Real widgets (the whole main window with its tools), real data (the sample CT
series and its reference label), the bundled model. Every test gets its own
``SPLEENSCOPE_HOME`` under tmp_path, so no model, setting or recovery copy touches
the real user folders, and torch uses one thread (2 shared cores).

Modal dialogs would block a test forever; :class:`Answers` replaces
``QMessageBox.question`` and ``QFileDialog.getSaveFileName`` with recorders that
return scripted answers, so tests also see what the user would have been asked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PyQt5.QtCore import QSettings
from PyQt5.QtGui import QColor, QGuiApplication
from PyQt5.QtWidgets import QFileDialog, QMessageBox

from tests.conftest import sample_path
from viewer.io import load_volume
from viewer.ui.app import configure_pyqtgraph
from viewer.ui.background import wait_for_all
from viewer.ui.main_window import MainWindow

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Models, settings and recovery copies live under tmp_path; one torch thread."""
    home = tmp_path / "home"
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(home))
    monkeypatch.setenv("SPLEENSCOPE_THREADS", "1")
    return home


@pytest.fixture(scope="session")
def ct_volume():
    """The sample CT series (20 slices, 512 x 512), canonical RAS+."""
    return load_volume(sample_path("ct_spleen_dicom"))


@pytest.fixture(scope="session")
def ct_reference(ct_volume):
    """The reference spleen label on the CT's canonical grid (uint8 0/1)."""
    from viewer.overlays import load_mask_for_volume

    labels, notice = load_mask_for_volume(sample_path("ct_spleen_dicom_label.nii.gz"), ct_volume)
    assert notice == ""
    return (labels > 0).astype(np.uint8)


class Answers:
    """Scripted answers for the blocking dialogs, with a record of every question."""

    def __init__(self, monkeypatch) -> None:
        self.questions: list[tuple[str, str]] = []
        self.save_dialogs: list[tuple[str, str]] = []
        self.question = QMessageBox.Cancel
        self.save_path: str | None = None  # None: accept the suggested name
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QFileDialog, "getSaveFileName", self._save_file)

    def _question(self, _parent, title, text, *_args, **_kwargs):
        self.questions.append((title, text))
        return self.question

    def _save_file(self, _parent, caption, directory="", filters="", *_args, **_kwargs):
        self.save_dialogs.append((caption, directory))
        chosen = self.save_path if self.save_path is not None else directory
        return chosen, filters.split(";;")[0] if filters else ""


@pytest.fixture
def answers(monkeypatch) -> Answers:
    return Answers(monkeypatch)


def make_window(qtbot, tmp_path: Path, register: bool = True) -> MainWindow:
    """The real main window with every extension, shown at 1600 x 1000.

    ``register=False`` when the test deletes the window itself.
    """
    configure_pyqtgraph()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    window = MainWindow(settings=settings)
    if register:
        qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    focus_window(qtbot, window)
    return window


def focus_window(qtbot, window) -> None:
    """Make ``window`` the one that receives keys, and wait until the platform agrees.

    On a real X server (no window manager under Xvfb) a new window gets the keyboard
    only after it asks and the server answers; menu shortcuts (B, E, N, ...) act only
    in that window, as on a desk where the radiologist has clicked into it.
    """
    window.activateWindow()
    qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is window.windowHandle())


@pytest.fixture
def window(qtbot, tmp_path, answers):
    win = make_window(qtbot, tmp_path)
    yield win
    tool = win.tools.segmentation_tool
    if tool is not None and tool.is_running():
        tool.cancel()
    win.tools.mask_session.discard()  # nothing left to ask about at teardown
    win.tools.mask_session.wait_for_recovery()
    wait_for_all()


def with_volume(qtbot, window: MainWindow, volume) -> MainWindow:
    """Show ``volume`` synchronously (no loader thread) and let the views settle."""
    window.set_volume(volume)
    qtbot.wait(10)
    return window


def segment(qtbot, window: MainWindow, timeout_ms: int = 60000, **options) -> str:
    """Run the Segment action and wait for its outcome ("done", "cancelled", "failed")."""
    tool = window.tools.segmentation_tool
    with qtbot.waitSignal(tool.finished, timeout=timeout_ms) as blocker:
        assert tool.start(**options)
    return blocker.args[0]


def pixel(view, ijk) -> QColor:
    """The colour the user sees at voxel ``ijk`` in a slice view (a real grab)."""
    image = view.canvas.grab().toImage()
    pos = view.widget_pos_of_voxel(ijk)
    return QColor(image.pixel(int(round(pos.x())), int(round(pos.y()))))


def rgb(color: QColor) -> tuple[int, int, int]:
    return color.red(), color.green(), color.blue()
