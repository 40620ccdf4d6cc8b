"""The distance ruler in the real window: a left drag in ruler mode measures in mm."""

from __future__ import annotations

import time

import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication

from viewer.phantom import make_phantom
from viewer.ui.app import create_app
from viewer.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    create_app()
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat),
                     with_tools=False)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    win.set_volume(make_phantom(spacing=(0.8, 0.8, 5.0),
                                field_of_view_mm=(240.0, 200.0, 150.0)).volume())
    return win


def _mouse(widget, kind, pos, button, buttons):
    if kind == QEvent.MouseMove:
        time.sleep(0.02)  # pyqtgraph drops moves closer than ~1/60 s
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, Qt.NoModifier))


def _drag(view, ijk_a, ijk_b):
    viewport = view.canvas.viewport()
    start, end = view.widget_pos_of_voxel(ijk_a), view.widget_pos_of_voxel(ijk_b)
    left = Qt.LeftButton
    _mouse(viewport, QEvent.MouseButtonPress, start, left, left)
    for step in range(1, 9):
        t = step / 8
        _mouse(viewport, QEvent.MouseMove, QPoint(round(start.x() + t * (end.x() - start.x())),
                                                  round(start.y() + t * (end.y() - start.y()))),
               Qt.NoButton, left)
    _mouse(viewport, QEvent.MouseButtonRelease, end, left, Qt.NoButton)


def test_ruler_in_coronal_measures_thick_slices_in_mm(window):
    coronal = window.views["coronal"]
    cursor = window.cursor_world()
    window.act_measure.setChecked(True)
    index = coronal.slice_index
    # 20 slices of 5 mm along the coronal view's vertical (superior-inferior) axis
    _drag(coronal, (150, index, 5), (150, index, 25))
    assert len(coronal.rulers) == 1
    ruler, roi, text = coronal.rulers[0]
    # screen pixels quantise the ends: within one screen pixel's worth of mm
    mm_per_pixel = coronal.box.viewPixelSize()[1]
    assert ruler.length_mm(coronal.geometry_, window.volume.affine) == pytest.approx(
        100.0, abs=2 * mm_per_pixel)
    assert text.toPlainText().endswith("cm") and text.isVisible()
    assert window.cursor_world() == pytest.approx(cursor)  # a ruler drag is not a click

    # the ruler belongs to its slice; it hides elsewhere and comes back
    window.go_to_slice("coronal", index + 3)
    assert not roi.isVisible()
    window.go_to_slice("coronal", index)
    assert roi.isVisible()

    # dragging an end handle updates the length
    handle = roi.getHandles()[1]
    roi.movePoint(handle, coronal.view_point_of_voxel((150, index, 15)))
    assert text.toPlainText().endswith(" mm")
    assert float(text.toPlainText().split()[0]) == pytest.approx(50.0, abs=2 * mm_per_pixel)

    window.act_measure.setChecked(False)
    _drag(coronal, (100, index, 5), (120, index, 5))  # back to moving the cursor
    assert len(coronal.rulers) == 1
    window.clear_rulers()
    assert coronal.rulers == []
