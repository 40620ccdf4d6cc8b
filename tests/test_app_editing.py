# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""Correcting a mask in the real window: paint, erase, undo with the mouse on the sample CT.

The edited mask is the sample CT's spleen label, loaded as the session's prediction
(as a reviewer's prediction would be) or opened as a plain mask file. Strokes are
real mouse events sent to a slice view's viewport; what is checked is what a
reviewer relies on: the voxels under the stroke, the colour on screen, the volume
in the results panel, the review's Dice, and undo giving back the exact mask.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication, QMessageBox
from scipy import ndimage

from tests.app_support import (  # noqa: F401
    answers,
    ct_reference,
    ct_volume,
    isolated_home,
    pixel,
    rgb,
    window,
    with_volume,
)
from tests.conftest import sample_path
from viewer.review import FALSE_NEGATIVE

RADIUS_MM = 6.0


def _mouse(view, kind, ijk, button=Qt.NoButton, buttons=Qt.NoButton,
           modifiers=Qt.NoModifier) -> None:
    """One mouse event at voxel ``ijk`` straight to the view's viewport (Qt 5's QTest
    moves carry no buttons)."""
    pos = view.widget_pos_of_voxel(ijk)
    event = QMouseEvent(kind, QPointF(pos), button, buttons, modifiers)
    QApplication.sendEvent(view.canvas.viewport(), event)


def _drag(view, start, end, steps: int = 12, modifiers=Qt.NoModifier) -> None:
    left = Qt.LeftButton
    start, end = np.asarray(start, float), np.asarray(end, float)
    _mouse(view, QEvent.MouseButtonPress, start, left, left, modifiers)
    for t in np.linspace(0.0, 1.0, steps + 1)[1:]:
        time.sleep(0.002)
        _mouse(view, QEvent.MouseMove, start + (end - start) * t, Qt.NoButton, left, modifiers)
    _mouse(view, QEvent.MouseButtonRelease, end, left, Qt.NoButton, modifiers)
    QApplication.processEvents()


def _empty_spot(mask2d: np.ndarray, near, clearance_voxels: float) -> tuple[int, int]:
    """The background voxel nearest ``near`` with at least ``clearance`` voxels of
    background around it (so a stroke there paints only new voxels)."""
    distance = ndimage.distance_transform_edt(mask2d == 0)
    candidates = np.argwhere(distance > clearance_voxels)
    best = candidates[np.argmin(((candidates - np.asarray(near)) ** 2).sum(axis=1))]
    return int(best[0]), int(best[1])


def _keep_screenshot(window, name: str, tmp_path: Path) -> Path:
    """Save the window grab (under $SPLEENSCOPE_TEST_SCREENSHOTS too, to look at)."""
    path = tmp_path / name
    assert window.save_screenshot(path)
    target = os.environ.get("SPLEENSCOPE_TEST_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        window.save_screenshot(Path(target) / name)
    return path


def _is_grey(color) -> bool:
    r, g, b = rgb(color)
    return max(r, g, b) - min(r, g, b) < 12


def _is_prediction_colour(color) -> bool:
    """Amber over the image: red > green > blue, clearly not grey."""
    r, g, b = rgb(color)
    return r > g > b and r - b > 60


@pytest.fixture
def editing(qtbot, window, ct_volume, ct_reference):
    """The window on the sample CT with its spleen label as the session's prediction."""
    with_volume(qtbot, window, ct_volume)
    window.tools.mask_session.set_prediction(ct_reference.copy(), source="file", name="label",
                                       dirty=False)
    QApplication.processEvents()
    return window


def test_paint_stroke_in_axial_view_edits_the_prediction_and_undo_restores(
        qtbot, editing, ct_volume, ct_reference, tmp_path):
    window, session, tool = editing, editing.tools.mask_session, editing.tools.edit_tool
    assert tool.current_target().layer_name is None  # the prediction is what gets edited
    assert tool.editor.labels is session.prediction
    view = window.views["axial"]
    k = view.slice_index
    spleen = np.argwhere(ct_reference[:, :, k]).mean(axis=0)
    dx, dy = ct_volume.spacing[:2]
    radius_voxels = RADIUS_MM / dx
    i0, j0 = _empty_spot(ct_reference[:, :, k], spleen, radius_voxels + 25)
    start, end = (i0 - 10, j0, k), (i0 + 10, j0, k)
    before_ml = session.measurements.volume_ml
    colour_before = pixel(view, (i0, j0, k))
    assert _is_grey(colour_before)

    tool.set_tool("paint")
    tool.set_radius(RADIUS_MM)
    _drag(view, start, end)

    edited = session.prediction
    assert edited[i0 - 10:i0 + 11, j0, k].all()  # every voxel along the stroke
    added = int(edited.sum()) - int(ct_reference.sum())
    # a stadium: a disc of radius r plus a 2r-wide band of the stroke's length (mm^2)
    expected = (math.pi * RADIUS_MM**2 + 2 * RADIUS_MM * 20 * dx) / (dx * dy)
    assert abs(added - expected) / expected < 0.06
    assert np.array_equal(edited[:, :, np.arange(20) != k], ct_reference[:, :, np.arange(20) != k])
    assert window.state.slice_index("axial") == k  # the crosshair did not move
    # the session heard about it: unsaved, re-measured, the results panel shows it
    assert session.dirty
    voxel_ml = abs(np.linalg.det(ct_volume.affine[:3, :3])) / 1000.0
    qtbot.waitUntil(lambda: session.measurements.voxels == int(edited.sum()), timeout=10000)
    assert session.measurements.volume_ml == pytest.approx(before_ml + added * voxel_ml)
    assert window.tools.results_panel.volume_label.text().endswith(
        f" {session.measurements.volume_ml:.1f} mL")
    # what the reviewer sees: the prediction's colour where there was plain tissue
    assert _is_prediction_colour(pixel(view, (i0, j0, k)))
    _mouse(view, QEvent.MouseMove, (i0 + 10, j0, k))  # the brush circle follows the mouse
    outline = tool.brush_outline("axial")
    assert outline.isVisible()
    assert outline.rect().width() == pytest.approx(2 * RADIUS_MM)
    _keep_screenshot(window, "edit_paint_axial.png", tmp_path)

    assert tool.act_undo.isEnabled()
    tool.act_undo.trigger()
    QApplication.processEvents()
    assert np.array_equal(session.prediction, ct_reference)  # bit for bit
    qtbot.waitUntil(lambda: session.measurements.volume_ml == pytest.approx(before_ml),
                    timeout=10000)
    assert _is_grey(pixel(view, (i0, j0, k)))
    tool.act_redo.trigger()
    QApplication.processEvents()
    assert int(session.prediction.sum()) == int(ct_reference.sum()) + added


def test_erase_with_threshold_in_coronal_view_and_review_dice_updates(
        qtbot, editing, ct_volume, ct_reference, tmp_path):
    window, session, tool = editing, editing.tools.mask_session, editing.tools.edit_tool
    session.set_reference(ct_reference.copy(), name="label")
    qtbot.waitUntil(lambda: session.pair is not None, timeout=60000)
    assert session.pair.evaluation.dice == pytest.approx(1.0)
    view = window.views["coronal"]
    centre = np.round(np.argwhere(ct_reference).mean(axis=0)).astype(int)
    window.state.set_cursor_voxel(centre)
    j = view.slice_index
    assert j == centre[1]
    tool.set_tool("erase")
    tool.set_radius(8.0)
    tool.panel.threshold.setChecked(True)
    tool.panel.low.setValue(85)  # spleen is 50-111 HU here (5th-95th percentile)
    tool.panel.high.setValue(400)
    a, b = (centre[0] - 8, j, centre[2]), (centre[0] + 8, j, centre[2])
    unedited_pair = session.pair
    _drag(view, a, b)
    removed = ct_reference.astype(bool) & ~session.prediction.astype(bool)
    assert removed.any() and (np.argwhere(removed)[:, 1] == j).all()  # only this slice
    hu = ct_volume.array[removed]
    assert hu.min() >= 85 and hu.max() <= 400  # the threshold held
    # along the stroke's centre line the darker spleen voxels were kept
    line = (slice(centre[0] - 8, centre[0] + 9), j, centre[2])
    darker = ct_reference[line].astype(bool) & (ct_volume.array[line] < 85)
    assert darker.any() and session.prediction[line][darker].all()
    assert not session.prediction[line][ct_volume.array[line] >= 85].any()
    # the difference map shows the erased voxels as false negatives at once, before
    # the new comparison is in
    assert session.mode == "difference"
    difference = window.overlays.get("difference")
    assert difference is not None and (difference.labels[removed] == FALSE_NEGATIVE).all()
    qtbot.waitUntil(lambda: session.pair is not None and session.pair is not unedited_pair,
                    timeout=60000)
    _mouse(view, QEvent.MouseMove, b)
    _keep_screenshot(window, "edit_erase_coronal_difference.png", tmp_path)
    assert session.pair.evaluation.dice < 1.0
    assert session.pair.evaluation.dice == pytest.approx(
        2 * session.prediction.sum() / (session.prediction.sum() + ct_reference.sum()))


def test_mask_opened_from_file_is_edited_in_place(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    layer = window.open_mask(sample_path("ct_spleen_dicom_organs.nii.gz"))
    tool = window.tools.edit_tool
    target = tool.current_target()
    assert target.layer_name == layer.name and tool.editor.labels is layer.labels
    original = layer.labels.copy()
    view = window.views["axial"]
    k = view.slice_index
    i0, j0 = _empty_spot(original[:, :, k], (256, 256), 12)
    tool.set_tool("paint")
    tool.set_radius(4.0)
    tool.panel.label.setValue(5)  # liver
    assert "liver" in tool.panel.label_name.text()
    _drag(view, (i0, j0 - 3, k), (i0, j0 + 3, k), steps=4)
    assert window.overlays.get(layer.name).labels is layer.labels
    assert layer.labels[i0, j0, k] == 5
    r, g, b = layer.colors[5]
    shown = rgb(pixel(view, (i0, j0, k)))
    assert shown != rgb(pixel(view, (i0, 500, k)))  # coloured, unlike the air outside
    assert "edited" in tool.panel.status.text()
    tool.undo()
    assert np.array_equal(layer.labels, original)
    assert not tool.act_undo.isEnabled() and tool.act_redo.isEnabled()
    assert (r, g, b) == tuple(layer.colors[5])


def test_new_empty_mask_keys_and_plain_drag_still_moves_the_crosshair(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    tool, session = window.tools.edit_tool, window.tools.mask_session
    assert tool.editor is None
    view = window.views["axial"]
    k = view.slice_index
    # without a tool, a drag moves the crosshair as before
    _drag(view, (100, 100, k), (200, 300, k))
    assert np.allclose(window.state.cursor_voxel[:2], (200, 300), atol=1.0)
    target = tool.new_empty_mask()
    assert target is not None and session.prediction is not None
    assert session.prediction.shape == ct_volume.shape and not session.prediction.any()
    for key, expected in ((Qt.Key_B, "paint"), (Qt.Key_E, "erase")):
        qtbot.keyClick(view.canvas, key)
        assert tool.tool == expected
    qtbot.keyClick(view.canvas, Qt.Key_B)
    tool.set_radius(10.0)
    qtbot.keyClick(view.canvas, Qt.Key_BracketRight)
    assert tool.radius_mm == pytest.approx(12.5)
    qtbot.keyClick(view.canvas, Qt.Key_BracketLeft)
    assert tool.radius_mm == pytest.approx(10.0)
    _mouse(view, QEvent.MouseButtonPress, (256, 256, k), Qt.LeftButton, Qt.LeftButton)
    _mouse(view, QEvent.MouseButtonRelease, (256, 256, k), Qt.LeftButton, Qt.NoButton)
    QApplication.processEvents()
    painted = int(session.prediction.sum())
    dx, dy = ct_volume.spacing[:2]
    assert abs(painted - math.pi * 100 / (dx * dy)) / (math.pi * 100 / (dx * dy)) < 0.05
    assert np.allclose(window.state.cursor_voxel[:2], (200, 300), atol=1.0)
    assert session.dirty
    qtbot.waitUntil(lambda: session.measurements.voxels == painted, timeout=10000)
    # Shift+drag still sets window/level while the brush is on, and paints nothing
    center_before = window.window_center_width
    _drag(view, (100, 100, k), (160, 100, k), modifiers=Qt.ShiftModifier)
    assert window.window_center_width != center_before
    assert int(session.prediction.sum()) == painted
    qtbot.keyClick(view.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert not session.prediction.any()
    qtbot.keyClick(view.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert int(session.prediction.sum()) == painted
    tool.set_tool(None)
    assert tool.tool is None and not tool.brush_outline("axial").isVisible()


def test_edit_menu_lists_the_tools(window):
    menu = window.menu("Edit")
    shortcuts = {a.text(): a.shortcut().toString() for a in menu.actions() if a.text()}
    assert shortcuts["Paint"] == "B" and shortcuts["Erase"] == "E"
    assert shortcuts["Undo edit"] == "Ctrl+Z" and shortcuts["Redo edit"] == "Ctrl+Shift+Z"
    assert shortcuts["Smaller brush"] == "[" and shortcuts["Larger brush"] == "]"
    assert "New empty mask" in shortcuts


def test_fill_holes_on_the_active_view_slice_closes_an_erased_hole(qtbot, editing, ct_reference):
    window, session, tool = editing, editing.tools.mask_session, editing.tools.edit_tool
    view = window.views["axial"]
    k = view.slice_index
    inside = ndimage.distance_transform_edt(ct_reference[:, :, k])
    i0, j0 = np.unravel_index(np.argmax(inside), inside.shape)  # deep inside the spleen
    assert inside[i0, j0] > 10
    tool.set_tool("erase")
    tool.set_radius(4.0)
    _drag(view, (i0, j0, k), (i0, j0, k), steps=1)
    hole = ct_reference[:, :, k].astype(bool) & ~session.prediction[:, :, k].astype(bool)
    assert 40 < hole.sum() < 80  # a 4 mm disc at 0.98 mm pixels: about 52 voxels
    window.active_view = "axial"
    filled = tool.fill_holes()
    assert filled >= hole.sum()
    assert session.prediction[:, :, k][hole].all()
    assert tool.editor.undo_depth == 2
    tool.undo()
    assert not session.prediction[:, :, k][hole].any()  # the fill is its own undo step


def test_binary_mask_file_edited_then_used_as_prediction_keeps_its_history(
        qtbot, window, ct_volume, ct_reference):
    with_volume(qtbot, window, ct_volume)
    layer = window.open_mask(sample_path("ct_spleen_dicom_label.nii.gz"))
    tool, session = window.tools.edit_tool, window.tools.mask_session
    assert tool.panel.promote_button.isVisibleTo(tool.panel)  # binary: it can become one
    view = window.views["axial"]
    k = view.slice_index
    i0, j0 = _empty_spot(ct_reference[:, :, k], (256, 256), 10)
    tool.set_tool("paint")
    tool.set_radius(3.0)
    _drag(view, (i0, j0, k), (i0, j0, k), steps=1)
    assert layer.labels[i0, j0, k] == 1
    tool.use_as_prediction()
    assert session.prediction is not None and session.prediction[i0, j0, k] == 1
    assert session.dirty and layer.name not in window.overlays
    assert tool.current_target().layer_name is None and tool.editor.can_undo
    qtbot.waitUntil(lambda: window.tools.results_panel.volume_label.text() != "—", timeout=10000)
    tool.undo()
    assert np.array_equal(session.prediction, ct_reference)
    qtbot.waitUntil(lambda: session.measurements.voxels == int(ct_reference.sum()),
                    timeout=10000)


# ------------------------------------------------ unsaved edits of a mask FILE
@pytest.fixture
def file_mask(qtbot, window, ct_volume, ct_reference, tmp_path):
    """The CT with a copy of its label (in tmp_path, so Save may write beside it)
    opened as a mask file, and one paint stroke on it."""
    import shutil

    mask_file = tmp_path / "masks" / "spleen_label.nii.gz"
    mask_file.parent.mkdir()
    shutil.copy(sample_path("ct_spleen_dicom_label.nii.gz"), mask_file)
    with_volume(qtbot, window, ct_volume)
    layer = window.open_mask(mask_file)
    tool = window.tools.edit_tool
    view = window.views["axial"]
    k = view.slice_index
    i0, j0 = _empty_spot(ct_reference[:, :, k], (256, 256), 10)
    tool.set_tool("paint")
    tool.set_radius(3.0)
    _drag(view, (i0, j0 - 2, k), (i0, j0 + 2, k), steps=2)
    assert layer.labels[i0, j0, k] == 1 and ct_reference[i0, j0, k] == 0
    assert tool.unsaved_file_masks() == [layer.name]
    assert "not saved" in tool.panel.status.text()
    return window, layer, mask_file, mask_file.read_bytes(), (i0, j0, k)


def test_closing_with_edited_file_mask_save_writes_a_new_file_beside_it(
        qtbot, file_mask, answers, ct_volume):
    from viewer.overlays import load_mask_for_volume

    window, layer, mask_file, original_bytes, painted = file_mask
    answers.question = QMessageBox.Save
    answers.save_path = str(mask_file)  # the user picks the opened mask itself: refused
    assert not window.close()
    assert window.isVisible() and "another name" in window.last_error
    assert mask_file.read_bytes() == original_bytes

    answers.save_path = None  # accept the suggested name
    assert window.close()
    assert not window.isVisible()
    title, text = answers.questions[-1]
    assert title == "Unsaved mask edits" and layer.name in text
    caption, suggested = answers.save_dialogs[-1]
    assert Path(suggested) == mask_file.parent / "spleen_label_edited.nii.gz"
    written, _ = load_mask_for_volume(suggested, ct_volume)
    assert np.array_equal(written, layer.labels) and written[painted] == 1
    assert mask_file.read_bytes() == original_bytes  # the opened mask is untouched
    assert window.tools.edit_tool.unsaved_file_masks() == []


def test_opening_another_volume_with_edited_file_mask_discard_loses_them(
        qtbot, file_mask, answers):
    window, layer, mask_file, original_bytes, _ = file_mask
    answers.question = QMessageBox.Discard
    with qtbot.waitSignal(window.volume_changed, timeout=60000):
        assert window.open_path(sample_path("ct_spleen_dicom"))
    assert len(answers.questions) == 1 and answers.save_dialogs == []
    assert layer.name not in window.overlays
    assert sorted(p.name for p in mask_file.parent.iterdir()) == [mask_file.name]
    assert mask_file.read_bytes() == original_bytes
    assert window.tools.edit_tool.unsaved_file_masks() == []


def test_a_file_that_fails_to_open_keeps_the_edited_mask_unsaved(
    qtbot, file_mask, answers, tmp_path
):
    """Discard is the answer ready, but the new file is broken: nothing is asked,
    the edited mask stays on screen and unsaved, and Quit still asks about it."""
    window, layer, _mask_file, _, painted = file_mask
    answers.question = QMessageBox.Discard
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a NIfTI file")
    volume = window.volume
    with qtbot.waitSignal(window.load_failed, timeout=30000):
        assert window.open_path(broken)
    assert answers.questions == []
    assert window.volume is volume and window.overlays.get(layer.name) is layer
    assert layer.labels[painted] == 1
    assert window.tools.edit_tool.unsaved_file_masks() != []
    answers.question = QMessageBox.Cancel
    assert not window.close()  # Quit still asks about the unsaved edits
    assert [title for title, _ in answers.questions] == ["Unsaved mask edits"]


def test_edited_file_mask_cancel_keeps_window_and_edits_and_undo_makes_it_clean(
        qtbot, file_mask, answers, ct_reference):
    window, layer, mask_file, _, painted = file_mask
    answers.question = QMessageBox.Cancel
    volume = window.volume
    assert window.open_path(sample_path("ct_spleen_dicom"))  # asked once it has loaded
    qtbot.waitUntil(lambda: not window.is_loading() and len(answers.questions) == 1, timeout=60000)
    assert window.volume is volume and layer.name in window.overlays
    assert not window.close()
    assert window.isVisible() and layer.labels[painted] == 1
    assert len(answers.questions) == 2 and answers.save_dialogs == []

    answers.question = QMessageBox.Save
    answers.save_path = ""  # Save, then Cancel in the file dialog: nothing closes
    assert not window.close()
    assert len(answers.save_dialogs) == 1
    assert sorted(p.name for p in mask_file.parent.iterdir()) == [mask_file.name]

    window.tools.edit_tool.undo()  # back to the file's state: nothing to save, nothing asked
    assert np.array_equal(layer.labels > 0, ct_reference > 0)
    assert window.tools.edit_tool.unsaved_file_masks() == []
    asked = len(answers.questions)
    assert window.close()
    assert len(answers.questions) == asked
