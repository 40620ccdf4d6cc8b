# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""What a radiologist sees first in the whole window (every tool built): a maximized
view, the readout after a slice change, a mask's volume, an empty window, the
window/level drag, the Dice plot, where dialogs start, the remembered dock layout."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, QRectF, QSettings, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication, QFileDialog, QScrollArea

from tests.app_support import (  # noqa: F401  (fixtures)
    answers,
    ct_volume,
    isolated_home,
    window,
    with_volume,
)
from tests.conftest import sample_path
from viewer.phantom import make_phantom
from viewer.ui.main_window import MainWindow


def _mouse(
    widget, kind, pos, button=Qt.NoButton, buttons=Qt.NoButton, modifiers=Qt.NoModifier
) -> None:
    if kind == QEvent.MouseMove:
        time.sleep(0.02)  # pyqtgraph drops moves closer than ~1/60 s
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, modifiers))


def test_maximized_view_takes_the_whole_canvas(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    canvas = window.central.contentsRect()
    quarter = window.views["coronal"].size()
    window.toggle_maximize("coronal")
    qtbot.waitUntil(lambda: window.views["coronal"].width() > quarter.width() * 1.5)
    coronal = window.views["coronal"]
    assert coronal.width() >= 0.97 * canvas.width()
    assert coronal.height() >= 0.97 * canvas.height()
    assert not any(window.views[name].isVisible() for name in ("axial", "sagittal"))
    assert not window.image_panel.isVisible()
    window.toggle_maximize()
    qtbot.waitUntil(lambda: window.views["coronal"].width() < 0.6 * canvas.width())
    assert all(view.isVisible() for view in window.views.values())


def test_readout_follows_a_key_slice_change_without_a_mouse_move(qtbot, window, ct_volume):
    """The mouse rests over a voxel; Up goes to the next slice: the readout names the
    new slice's voxel and its HU at once, not the previous slice's."""
    with_volume(qtbot, window, ct_volume)
    axial = window.views["axial"]
    k = axial.slice_index
    i, j = 300, 200
    u, v = axial.view_point_of_voxel((i, j, k))
    axial.box.setRange(QRectF(u - 10, v - 10, 20, 20), padding=0)  # a voxel owns pixels

    def resting_on_voxel() -> bool:
        _mouse(axial.canvas.viewport(), QEvent.MouseMove, axial.widget_pos_of_voxel((i, j, k)))
        values = window.readout_panel.last_values
        return values is not None and values["voxel"] == (i, j, k)

    qtbot.waitUntil(resting_on_voxel, timeout=5000)
    assert ct_volume.array[i, j, k] != ct_volume.array[i, j, k + 1]  # the HU must change
    qtbot.keyClick(axial.canvas, Qt.Key_Up)
    assert axial.slice_index == k + 1
    values = window.readout_panel.last_values
    assert values["voxel"] == (i, j, k + 1)
    assert values["value"] == float(ct_volume.array[i, j, k + 1])
    assert f"{ct_volume.array[i, j, k + 1]:.0f} HU" in window.readout_panel.text()


def test_a_mask_opened_from_file_shows_its_volume(qtbot, window, ct_volume):
    path = sample_path("ct_spleen_dicom_label.nii.gz")
    with_volume(qtbot, window, ct_volume)
    window.open_mask(path)
    image = nib.load(str(path))  # read independently: voxel count x voxel volume
    expected_ml = (
        np.count_nonzero(np.asanyarray(image.dataobj))
        * abs(np.linalg.det(image.affine[:3, :3]))
        / 1000.0
    )
    assert expected_ml == pytest.approx(249.2, abs=0.05)  # the data README's figure
    legend = window.overlay_panel.legend.text()
    assert f"{expected_ml:.1f} mL" in legend and "spleen" in legend


def test_nothing_open_no_crosshair_and_no_brushes(qtbot, window, ct_volume):
    edit = window.tools.edit_tool
    for view in window.views.values():
        assert not view.vline.isVisible() and not view.hline.isVisible()
    assert not edit.act_paint.isEnabled() and not edit.act_erase.isEnabled()
    with_volume(qtbot, window, ct_volume)
    assert all(view.vline.isVisible() for view in window.views.values())
    assert edit.act_paint.isEnabled() and edit.act_erase.isEnabled()
    window.set_volume(None)
    assert not any(view.vline.isVisible() for view in window.views.values())
    assert not edit.act_paint.isEnabled() and edit.tool is None


def _mean_grey(view) -> float:
    image = view.canvas.viewport().grab().toImage()
    samples = [
        image.pixelColor(x, y).value()
        for x in range(20, image.width() - 20, 9)
        for y in range(40, image.height() - 40, 9)
    ]
    return float(np.mean(samples))


def test_shift_drag_down_brightens_as_the_shortcuts_say(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    axial = window.views["axial"]
    viewport = axial.canvas.viewport()
    before_center, before_width = window.window_center_width
    before_grey = _mean_grey(axial)
    left, shift = Qt.LeftButton, Qt.ShiftModifier
    _mouse(viewport, QEvent.MouseButtonPress, QPoint(200, 150), left, left, shift)
    for step in range(1, 8):
        _mouse(viewport, QEvent.MouseMove, QPoint(200, 150 + 12 * step), Qt.NoButton, left, shift)
    _mouse(viewport, QEvent.MouseButtonRelease, QPoint(200, 234), left, Qt.NoButton, shift)
    center, width = window.window_center_width
    assert center < before_center - 20 and width == pytest.approx(before_width)
    assert _mean_grey(axial) > before_grey + 5  # brighter on the screen too


def test_dice_plot_follows_the_open_volume_and_has_no_si_scale(qtbot, window, ct_volume):
    panel = window.tools.review_tool.panel
    phantom = make_phantom(spacing=(2.0, 2.0, 3.0), field_of_view_mm=(200.0, 200.0, 150.0))
    with_volume(qtbot, window, phantom.volume())
    panel.show_slice_dice(np.linspace(0.2, 0.9, 50), "axial")  # a comparison on 50 slices
    with_volume(qtbot, window, ct_volume)  # 20 axial slices, nothing compared yet
    low, high = panel.plot.getViewBox().viewRange()[0]
    assert low == pytest.approx(-0.5, abs=0.6) and high == pytest.approx(19.5, abs=0.6)
    label = panel.plot.getAxis("bottom").labelString()
    assert "slice" in label and "x0.001" not in label and "(x" not in label


def test_open_dialogs_start_where_the_user_was_not_in_the_program_folder(
    qtbot, window, ct_volume, monkeypatch, tmp_path
):
    asked = []

    def fake_open(_parent, caption, directory="", *_args, **_kwargs):
        asked.append((caption, directory))
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_open)
    monkeypatch.chdir(tmp_path)  # wherever the program was started
    window.act_open.trigger()
    assert asked[-1][1] not in ("", str(tmp_path)) and asked[-1][1]
    folder = sample_path("ct_spleen_dicom_label.nii.gz").parent
    window.recent.remember_folder(sample_path("ct_spleen_dicom_label.nii.gz"))
    with_volume(qtbot, window, ct_volume)
    window.act_open_mask.trigger()
    window.tools.review_tool.act_reference.trigger()
    assert [directory for _, directory in asked[-2:]] == [str(folder.resolve())] * 2


def test_review_actions_are_in_view_at_1280x800(qtbot, window, ct_volume):
    window.resize(1280, 800)
    with_volume(qtbot, window, ct_volume)
    review = window.tools.review_tool
    review.dock.raise_()
    qtbot.waitUntil(lambda: review.panel.isVisible())
    area = review.dock.widget()
    assert isinstance(area, QScrollArea)
    for button in (
        review.panel.reference_button,
        review.panel.prediction_button,
        review.panel.next_button,
    ):
        bottom = button.mapTo(area.viewport(), QPoint(0, button.height()))
        assert area.viewport().rect().contains(bottom), button.text()


def test_dock_layout_is_remembered(qtbot, tmp_path, answers):
    settings_file = str(tmp_path / "settings.ini")
    first = MainWindow(settings=QSettings(settings_file, QSettings.IniFormat))
    qtbot.addWidget(first)
    first.place_on_screen()
    first.show()
    first.addDockWidget(Qt.LeftDockWidgetArea, first.readout_dock)
    assert first.close()
    second = MainWindow(settings=QSettings(settings_file, QSettings.IniFormat))
    qtbot.addWidget(second)
    assert second.dockWidgetArea(second.readout_dock) == Qt.RightDockWidgetArea
    second.place_on_screen()
    assert second.dockWidgetArea(second.readout_dock) == Qt.LeftDockWidgetArea


def test_the_window_segments_with_as_many_threads_as_the_cli(monkeypatch):
    """One thread policy: on a 2-core machine the window used 1 thread, the CLI 2."""
    import os

    from segmentation.devices import cpu_threads
    from viewer.ui.segment_worker import worker_threads

    monkeypatch.delenv("SPLEENSCOPE_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert worker_threads() == cpu_threads() == min(cores, 8)
