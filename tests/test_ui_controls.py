"""Controls the other window tests do not drive: Space + drag pan,
the MR window (no header window: automatic), crosshair hiding, keyboard maximize."""

from __future__ import annotations

import time

import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PyQt5.QtGui import QKeyEvent, QMouseEvent
from PyQt5.QtWidgets import QApplication

from tests.conftest import sample_path
from viewer.io import load_volume
from viewer.phantom import make_phantom
from viewer.ui.app import create_app
from viewer.ui.main_window import MainWindow
from viewer.window_level import auto_window


@pytest.fixture
def window(qtbot, tmp_path):
    create_app()
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat),
                     with_tools=False)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    return win


def _mouse(widget, kind, pos, button, buttons):
    if kind == QEvent.MouseMove:
        time.sleep(0.02)  # pyqtgraph drops moves closer than ~1/60 s
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, Qt.NoModifier))


def _key(widget, kind, key):
    QApplication.sendEvent(widget, QKeyEvent(kind, key, Qt.NoModifier))


def test_space_and_left_drag_pans_without_moving_the_cursor(window):
    window.set_volume(make_phantom().volume())
    axial = window.views["axial"]
    viewport = axial.canvas.viewport()
    cursor = window.cursor_world()
    rect = axial.box.viewRect()
    _key(axial.canvas, QEvent.KeyPress, Qt.Key_Space)
    centre = QPoint(viewport.width() // 2, viewport.height() // 2)
    left = Qt.LeftButton
    _mouse(viewport, QEvent.MouseButtonPress, centre, left, left)
    for step in range(1, 6):
        _mouse(viewport, QEvent.MouseMove, centre + QPoint(12 * step, 0), Qt.NoButton, left)
    _mouse(viewport, QEvent.MouseButtonRelease, centre + QPoint(60, 0), left, Qt.NoButton)
    _key(axial.canvas, QEvent.KeyRelease, Qt.Key_Space)
    moved = axial.box.viewRect()
    assert abs(moved.center().x() - rect.center().x()) > 5  # mm of pan
    assert moved.width() == pytest.approx(rect.width())  # a pan, not a zoom
    assert window.cursor_world() == pytest.approx(cursor)
    assert not axial.box.space_held


def test_mr_without_header_window_gets_the_automatic_window(window):
    window.set_volume(make_phantom().volume())  # a CT: its readout is in HU
    assert " HU" in window.readout_panel.text()
    mr = load_volume(sample_path("mr_abdomen.nii.gz"))
    assert not (mr.window and mr.window[1] > 0)
    window.set_volume(mr)
    expected = auto_window(mr.array)
    assert window.window_center_width == pytest.approx(expected)
    readout = window.readout_panel.text()
    assert "Value" in readout and " HU" not in readout  # MR values are not HU
    window.apply_preset("bone")
    window.apply_preset("auto")
    assert window.window_center_width == pytest.approx(expected)
    assert f"W {expected[1]:.0f}" in window.views["axial"].window_label.text()


def test_crosshair_hiding_and_keyboard_maximize(window):
    window.set_volume(make_phantom().volume())
    window.act_crosshair.trigger()  # C
    assert not any(v.vline.isVisible() or v.hline.isVisible() for v in window.views.values())
    window.act_crosshair.trigger()
    assert all(v.vline.isVisible() for v in window.views.values())
    window.active_view = "sagittal"
    window.act_maximize.trigger()  # F
    assert window.maximized_view == "sagittal"
    assert [n for n, v in window.views.items() if v.isVisible()] == ["sagittal"]
    window.act_maximize.trigger()
    assert window.maximized_view is None
    assert all(v.isVisible() for v in window.views.values())
