# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""The left-drag tools and the shortcut list in the real window (with every extension).

Ruler (D), Paint (B) and Erase (E) all take the plain left drag, so at most one is
on: a drag with the ruler on measures and leaves every mask voxel alone, a drag with
the brush on paints and draws no ruler. Help ▸ Shortcuts lists every key the
window's actions answer to (the Edit tool's and any extension's), read from the
actions themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, Qt
from PyQt5.QtWidgets import QAction, QApplication, QToolButton

from tests.app_support import (  # noqa: F401
    answers,
    ct_reference,
    ct_volume,
    isolated_home,
    window,
    with_volume,
)
from tests.conftest import sample_path
from tests.test_app_editing import _drag, _empty_spot, _mouse
from viewer.ui.dialogs import ShortcutsDialog, shortcut_text


@pytest.fixture
def on_ct(qtbot, window, ct_volume, ct_reference):
    """The sample CT with its spleen label opened as a mask file (an editable layer)."""
    with_volume(qtbot, window, ct_volume)
    window.open_mask(sample_path("ct_spleen_dicom_label.nii.gz"))
    QApplication.processEvents()
    return window


def _toolbar_button(window, action: QAction) -> QToolButton:
    button = window.toolbar.widgetForAction(action)
    assert isinstance(button, QToolButton)
    return button


def _stroke_spot(window, ct_reference):
    view = window.views["axial"]
    k = view.slice_index
    i0, j0 = _empty_spot(ct_reference[:, :, k], (256, 256), 20)
    return view, (i0 - 8, j0, k), (i0 + 8, j0, k)


def test_paint_then_ruler_the_drag_measures_and_paints_nothing(qtbot, on_ct, ct_reference):
    window, tool = on_ct, on_ct.tools.edit_tool
    labels = tool.editor.labels
    before = labels.copy()
    paint_button = _toolbar_button(window, tool.act_paint)
    ruler_button = _toolbar_button(window, window.act_measure)

    tool.set_tool("paint")
    assert tool.tool == "paint" and paint_button.isChecked()
    qtbot.mouseClick(ruler_button, Qt.LeftButton)  # the user clicks Ruler on the toolbar
    assert window.act_measure.isChecked() and ruler_button.isChecked()
    assert not tool.act_paint.isChecked() and not paint_button.isChecked()
    assert tool.tool is None

    view, start, end = _stroke_spot(window, ct_reference)
    _drag(view, start, end)
    assert len(view.rulers) == 1
    assert np.array_equal(labels, before)  # not one voxel painted
    assert not tool.act_undo.isEnabled()


def test_ruler_then_paint_the_drag_paints_and_draws_no_ruler(qtbot, on_ct, ct_reference):
    window, tool = on_ct, on_ct.tools.edit_tool
    labels = tool.editor.labels
    window.act_measure.trigger()  # D
    assert window.act_measure.isChecked()
    assert all(v.box.measure_mode for v in window.views.values())

    tool.act_paint.trigger()  # B
    assert tool.act_paint.isChecked() and _toolbar_button(window, tool.act_paint).isChecked()
    assert not window.act_measure.isChecked()
    assert not _toolbar_button(window, window.act_measure).isChecked()
    assert not any(v.box.measure_mode for v in window.views.values())

    view, start, end = _stroke_spot(window, ct_reference)
    _drag(view, start, end)
    assert view.rulers == []
    centre = tuple((np.asarray(start) + np.asarray(end)) // 2)
    assert labels[centre] == 1 and ct_reference[centre] == 0  # painted where there was none

    # erase switches paint off, and the ruler again switches the brush off
    tool.act_erase.trigger()
    assert tool.tool == "erase" and not tool.act_paint.isChecked()
    window.act_measure.trigger()
    assert tool.tool is None and not tool.act_erase.isChecked()
    # and D again (ruler off) leaves every left-drag tool off: a drag moves the crosshair
    window.act_measure.trigger()
    assert not window.act_measure.isChecked() and tool.tool is None
    cursor = window.cursor_world().copy()
    _mouse(view, QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    _mouse(view, QEvent.MouseButtonRelease, start, Qt.LeftButton, Qt.NoButton)
    assert not np.allclose(window.cursor_world(), cursor)


def test_shortcuts_dialog_lists_every_action_key_of_the_window(qtbot, window):
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    text = dialog.text()
    with_keys = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert len(with_keys) >= 20
    missing = [(a.text(), shortcut_text(a)) for a in with_keys if shortcut_text(a) not in text]
    assert missing == []
    lines = text.splitlines()
    # the editor's keys, each on the line of its command
    for keys, command in (("B", "Paint"), ("E", "Erase"), ("[", "Smaller brush"),
                          ("]", "Larger brush"), ("Ctrl+Z", "Undo edit"),
                          ("Ctrl+Shift+Z", "Redo edit"), ("D", "Distance ruler"),
                          ("F1", "Shortcuts")):
        assert any(line.split("\t")[0] == keys and command in line for line in lines), keys
    # the hand-written mouse gestures are still there
    assert "Shift + left drag" in text and "Middle drag, Space + drag" in text

    # a key an extension registers later is listed the next time the dialog opens
    extra = QAction("Measure the spleen", window)
    extra.setShortcut("Ctrl+Alt+K")
    window.menu("Tools").addAction(extra)
    again = ShortcutsDialog(window)
    qtbot.addWidget(again)
    assert "Ctrl+Alt+K\tTools ▸ Measure the spleen" in again.text()
