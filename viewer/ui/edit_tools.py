"""Correcting a mask in the window: paint and erase brushes, fill holes, undo.

The Edit menu and toolbar switch a brush on (Paint ``B``, Erase ``E``; ``[`` and
``]`` resize it; Ctrl+Z / Ctrl+Shift+Z undo and redo). While a brush is on, a
plain left press or drag in any slice view edits that view's CURRENT slice instead
of moving the crosshair, and a circle of the brush's size follows the mouse.
Shift+drag (window/level), Space+drag (pan), the right and middle buttons and the
wheel keep their meaning, so a reviewer can scroll and window while correcting.

The mouse is taken with an event filter on each view's viewport
(``SliceView.canvas.viewport()``, public), installed after pyqtgraph's own, so
the viewer's widgets need no hook: the filter consumes only the presses, drags and
releases of a stroke and lets hover moves through (the readout keeps working).

What is edited, in place: the segmentation session's prediction when there is one
(what Save writes, what "Add case" uses, what the review compares), else a mask
opened from a file (an overlay layer), else a new empty mask. After each stroke the
session re-measures and re-reviews (``MaskSession.prediction_edited``) or the
window redraws (``MainWindow.refresh_overlays``). During a drag only the views'
overlay images are re-rendered, so painting keeps up with the hand.

The brushes and the ruler (``D``) share the plain left drag, so they are one
exclusive group (``MainWindow.add_drag_tool``): switching one on switches the
others off. Each edited array keeps its own undo history while the volume stays.

Edits to a mask opened from a file are not the session's business (its Save and
unsaved prompt cover the prediction only), so this tool guards them itself: on
closing the window or opening another volume it asks Save / Discard / Cancel, and
Save writes a NEW file beside the mask (``<mask>_edited.nii.gz``), never over the
mask that was opened nor over the input.

The editing itself is Qt-free: :class:`viewer.editing.MaskEditor`. The tool's
parts, one module each: :mod:`viewer.ui.edit_panel` (the dock's widgets),
:mod:`viewer.ui.edit_brush` (strokes under the mouse, live redraw through the
document), :mod:`viewer.ui.edit_file_masks` (edit targets, their histories, the
unsaved-edits guard for masks opened from files); this module holds the actions,
the targets and undo / redo / fill.
"""

from __future__ import annotations

import logging

import numpy as np
from PyQt5.QtCore import QObject, Qt, QTimer
from PyQt5.QtWidgets import (
    QAction,
    QGraphicsEllipseItem,
)

from viewer.editing import MaskEditor
from viewer.overlays import OverlayLayer, label_colors, present_labels
from viewer.review import (
    PREDICTION_COLOR,
    REVIEW_LAYERS,
)
from viewer.slicing import SLICE_AXIS
from viewer.ui.edit_brush import (
    CT_THRESHOLD_HU,
    ERASE,
    NEW_MASK_LAYER,
    PAINT,
    RADIUS_RANGE_MM,
    RADIUS_STEP,
    BrushInput,
    Stroke,
)
from viewer.ui.edit_file_masks import EditTarget, FileMaskSaving, History
from viewer.ui.edit_panel import EditPanel

log = logging.getLogger(__name__)


class MaskEditTool(BrushInput, FileMaskSaving, QObject):
    """The Edit menu, the brush in the slice views, and the undo history of one window."""

    def __init__(self, window, session=None) -> None:
        super().__init__(window)
        self.window = window
        #: the segmentation session (its prediction is the first edit target), or None
        self.session = session
        self.tool: str | None = None
        self.editor: MaskEditor | None = None
        #: every array edited since the volume was shown (switching masks keeps history)
        self._histories: list[History] = []
        self._editor_key: str | None = None
        self._stroke: Stroke | None = None
        self._targets: list[EditTarget] = []
        self._outlines: dict[str, QGraphicsEllipseItem] = {}
        self._views_by_viewport = {}
        self._last_redraw = 0.0
        self._prediction_had_voxels = False
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self._redraw_live)
        self.panel = EditPanel()
        self.dock = window.add_dock(self.panel, "Edit mask", Qt.LeftDockWidgetArea)
        self.dock.hide()
        self._build_actions()
        self._wire_panel()
        for view in window.views.values():
            viewport = view.canvas.viewport()
            viewport.installEventFilter(self)
            self._views_by_viewport[viewport] = view
            outline = QGraphicsEllipseItem()
            outline.setZValue(200)
            outline.setVisible(False)
            view.box.addItem(outline, ignoreBounds=True)
            self._outlines[view.view] = outline
        window.volume_changed.connect(self._volume_changed)
        window.overlays_changed.connect(self.refresh_targets)
        session = self.session
        if session is not None:
            session.prediction_changed.connect(self.refresh_targets)
            session.dirty_changed.connect(lambda _dirty: self._update_status())
        window.add_close_guard(self.confirm_discard_file_edits)
        self._volume_changed(window.volume)

    # ------------------------------------------------------------------ set-up

    def _build_actions(self) -> None:
        window = self.window

        def action(text, name, shortcut=None, checkable=False, tip=""):
            act = QAction(text, window)
            act.setObjectName(name)
            if shortcut:
                act.setShortcut(shortcut)
            act.setCheckable(checkable)
            act.setToolTip(f"{tip or text} ({shortcut})" if shortcut else (tip or text))
            window.addAction(act)
            return act

        self.act_paint = action("Paint", "act_edit_paint", "B", True,
                                "Paint brush: left drag paints on the slice")
        self.act_erase = action("Erase", "act_edit_erase", "E", True,
                                "Eraser: left drag erases on the slice")
        # one group with the ruler: one left-drag tool at a time
        window.add_drag_tool(self.act_paint)
        window.add_drag_tool(self.act_erase)
        self.act_paint.toggled.connect(lambda on: self._tool_toggled(PAINT, on))
        self.act_erase.toggled.connect(lambda on: self._tool_toggled(ERASE, on))
        self.act_smaller = action("Smaller brush", "act_edit_smaller", "[")
        self.act_bigger = action("Larger brush", "act_edit_bigger", "]")
        self.act_smaller.triggered.connect(lambda: self.scale_radius(1.0 / RADIUS_STEP))
        self.act_bigger.triggered.connect(lambda: self.scale_radius(RADIUS_STEP))
        self.act_undo = action("Undo edit", "act_edit_undo", "Ctrl+Z")
        self.act_redo = action("Redo edit", "act_edit_redo", "Ctrl+Shift+Z")
        self.act_undo.triggered.connect(lambda: self.undo())
        self.act_redo.triggered.connect(lambda: self.redo())
        self.act_fill = action("Fill holes on this slice", "act_edit_fill",
                               tip="Fill holes enclosed by the label on the active view's slice")
        self.act_fill.triggered.connect(lambda: self.fill_holes())
        self.act_new = action("New empty mask", "act_edit_new")
        self.act_new.triggered.connect(lambda: self.new_empty_mask())
        self.act_save_file_mask = action("Save edited mask file as…", "act_edit_save_file",
                                         tip="Write the edited mask opened from a file "
                                             "to a new NIfTI file")
        self.act_save_file_mask.triggered.connect(lambda: self.save_file_mask())

        menu = window.menu("&Edit")
        for act in (self.act_paint, self.act_erase, self.act_smaller, self.act_bigger):
            menu.addAction(act)
        menu.addSeparator()
        for act in (self.act_undo, self.act_redo, self.act_fill):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.act_new)
        menu.addAction(self.act_save_file_mask)
        menu.addAction(self.dock.toggleViewAction())
        self.menu = menu
        bar = window.toolbar
        bar.addSeparator()
        for act in (self.act_paint, self.act_erase, self.act_undo, self.act_redo):
            bar.addAction(act)

    def _wire_panel(self) -> None:
        panel = self.panel
        panel.paint_button.setDefaultAction(self.act_paint)
        panel.erase_button.setDefaultAction(self.act_erase)
        panel.undo_button.setDefaultAction(self.act_undo)
        panel.redo_button.setDefaultAction(self.act_redo)
        panel.fill_button.clicked.connect(lambda: self.fill_holes())
        panel.new_mask_button.clicked.connect(lambda: self.new_empty_mask())
        panel.promote_button.clicked.connect(lambda: self.use_as_prediction())
        panel.target.currentIndexChanged.connect(lambda _i: self._target_chosen())
        panel.radius.valueChanged.connect(lambda _v: self._update_outline_size())
        panel.label.valueChanged.connect(lambda _v: self._show_label())

    # ---------------------------------------------------------------- targets
    def refresh_targets(self) -> None:
        """List the editable masks; keep the chosen one, else prefer the prediction."""
        window, session = self.window, self.session
        targets: list[EditTarget] = []
        if window.volume is not None:
            if session is not None and session.prediction is not None:
                name = session.prediction_name or session.source or "prediction"
                targets.append(EditTarget("prediction", f"Prediction ({name})",
                                          session.prediction, None))
            for layer in window.overlays:
                if layer.name not in REVIEW_LAYERS:
                    targets.append(EditTarget(f"layer:{layer.name}", f"Mask: {layer.name}",
                                              layer.labels, layer.name))
        combo = self.panel.target
        previous = combo.currentData()
        self._targets = targets
        combo.blockSignals(True)
        combo.clear()
        for target in targets:
            combo.addItem(target.title, target.key)
        if not targets:
            combo.addItem("(no mask: New empty mask)", None)
        keys = [t.key for t in targets]
        combo.setCurrentIndex(keys.index(previous) if previous in keys else 0)
        combo.blockSignals(False)
        self._target_chosen()

    def brush_outline(self, view_name: str) -> QGraphicsEllipseItem:
        """The brush circle of one view (shown while Paint or Erase is on and the mouse
        is over that view), sized to the brush in mm."""
        return self._outlines[view_name]

    def current_target(self) -> EditTarget | None:
        key = self.panel.target.currentData()
        return next((t for t in self._targets if t.key == key), None)

    def _target_chosen(self) -> None:
        target = self.current_target()
        if target is None or self.window.volume is None:
            self._set_editor(None)
        elif self.editor is None or self.editor.labels is not target.labels:
            # another array: its own history (kept while the array is a target)
            alive = [t.labels for t in self._targets]
            self._histories = [h for h in self._histories
                               if any(h.editor.labels is a for a in alive)]
            history = self._history_of(target.labels)
            if history is None:
                volume = self.window.volume
                history = History(MaskEditor(target.labels, volume.spacing, volume.array))
                self._histories.append(history)
            self._set_editor(history.editor, target.key)
            self._prediction_had_voxels = bool(target.labels.any())
        else:
            self._editor_key = target.key  # the same array under another role: keep the history
        is_layer = target is not None and target.layer_name is not None
        self.panel.label.setEnabled(is_layer)
        if target is not None:
            self.panel.label.setMaximum(min(int(np.iinfo(target.labels.dtype).max), 65535))
        if not is_layer:
            self.panel.label.setValue(1)
        layer = self.window.overlays.get(target.layer_name) if is_layer else None
        self.panel.promote_button.setVisible(
            self.session is not None and layer is not None
            and present_labels(layer.labels) in ([], [1]))
        self._show_label()
        self._update_status()

    def _history_of(self, labels: np.ndarray) -> History | None:
        return next((h for h in self._histories if h.editor.labels is labels), None)

    def _set_editor(self, editor: MaskEditor | None, key: str | None = None) -> None:
        if self._stroke is not None:
            self._stroke = None
        self.editor, self._editor_key = editor, key

    def _label_color(self) -> tuple[int, int, int]:
        target = self.current_target()
        label = self.panel.label.value()
        if target is None or target.layer_name is None:
            return PREDICTION_COLOR
        layer = self.window.overlays.get(target.layer_name)
        if layer is not None and label in layer.colors:
            return tuple(layer.colors[label])
        return label_colors(label)[label]

    def _show_label(self) -> None:
        target = self.current_target()
        label = self.panel.label.value()
        name = "spleen"
        if target is not None and target.layer_name is not None:
            layer = self.window.overlays.get(target.layer_name)
            name = layer.name_of(label) if layer is not None else ""
        r, g, b = self._label_color()
        self.panel.label_name.setText(
            f"<span style='color:rgb({r},{g},{b})'>&#9632;</span> {name}")
        self._update_outline_size()

    # ---------------------------------------------------------------- actions
    def _tool_toggled(self, tool: str, on: bool) -> None:
        if on:
            self.tool = tool
            self.dock.show()
            self.dock.raise_()
        elif self.tool == tool:
            self.tool = None
        self._stroke = None
        cursor = Qt.CrossCursor if self.tool else None
        for viewport, view in self._views_by_viewport.items():
            if cursor is None:
                viewport.unsetCursor()
                self._outlines[view.view].setVisible(False)
            else:
                viewport.setCursor(cursor)
        self._update_outline_size()

    def set_tool(self, tool: str | None) -> None:
        """``"paint"``, ``"erase"`` or None (back to moving the crosshair)."""
        if tool == PAINT:
            self.act_paint.setChecked(True)
        elif tool == ERASE:
            self.act_erase.setChecked(True)
        else:
            self.act_paint.setChecked(False)
            self.act_erase.setChecked(False)

    @property
    def radius_mm(self) -> float:
        return self.panel.radius.value()

    def set_radius(self, radius_mm: float) -> None:
        self.panel.radius.setValue(radius_mm)

    def scale_radius(self, factor: float) -> None:
        self.set_radius(round(self.radius_mm * factor * 2) / 2 or RADIUS_RANGE_MM[0])

    def new_empty_mask(self) -> EditTarget | None:
        """A zero mask on the volume's grid: the session's prediction when there is a
        session (so Save and "Add case" work on it), else an overlay layer."""
        window, session = self.window, self.session
        volume = window.volume
        if volume is None:
            window.show_error("Open an image first, then draw its mask.", "No image")
            return None
        zeros = np.zeros(volume.shape, np.uint8)
        if session is not None:
            guard = getattr(session, "guard", None)
            if session.dirty and guard is not None and not guard():
                return None
            session.set_prediction(zeros, source="manual", name="drawn by hand", dirty=False)
            key = "prediction"
        else:
            window.set_overlay(OverlayLayer(NEW_MASK_LAYER, zeros, colors={1: PREDICTION_COLOR},
                                            label_names={1: "spleen"}))
            key = f"layer:{NEW_MASK_LAYER}"
        self.refresh_targets()
        combo = self.panel.target
        combo.setCurrentIndex(max(combo.findData(key), 0))
        return self.current_target()

    def use_as_prediction(self) -> None:
        """Hand a binary mask opened from a file to the session (Save, review, training set)."""
        target, session = self.current_target(), self.session
        if target is None or target.layer_name is None or session is None:
            return
        guard = getattr(session, "guard", None)
        if session.dirty and guard is not None and not guard():
            return
        edited = self.editor is not None and self.editor.changed > 0
        session.set_prediction(target.labels, source="file", name=target.layer_name,
                               dirty=edited)
        self.window.remove_overlay(target.layer_name)
        combo = self.panel.target
        combo.setCurrentIndex(max(combo.findData("prediction"), 0))

    def undo(self) -> bool:
        if self.editor is None or self._stroke is not None or self.editor.undo() is None:
            return False
        self._after_edit()
        return True

    def redo(self) -> bool:
        if self.editor is None or self._stroke is not None or self.editor.redo() is None:
            return False
        self._after_edit()
        return True

    def fill_holes(self, view_name: str | None = None) -> int:
        """Fill holes of the label on the current slice of ``view_name`` (the active view)."""
        window = self.window
        view = window.views.get(view_name or window.active_view)
        if self.editor is None or view is None or view.state is None:
            return 0
        filled = self.editor.fill_holes_in_slice(SLICE_AXIS[view.view], view.slice_index,
                                                 self.panel.label.value())
        window.statusBar().showMessage(
            f"Filled {filled:,} voxels on {view.view} slice {view.slice_index + 1}", 4000)
        if filled:
            self._after_edit()
        return filled

    def _update_status(self) -> None:
        editor, target, session = self.editor, self.current_target(), self.session
        has = editor is not None
        self.act_undo.setEnabled(has and editor.can_undo)
        self.act_redo.setEnabled(has and editor.can_redo)
        self.act_fill.setEnabled(has)
        self.panel.fill_button.setEnabled(has)
        self.act_new.setEnabled(self.window.volume is not None)
        # nothing open, nothing to paint on: the brushes are off and greyed
        if self.window.volume is None:
            self.set_tool(None)
        for brush in (self.act_paint, self.act_erase):
            brush.setEnabled(self.window.volume is not None)
        self.act_save_file_mask.setEnabled(has and target is not None
                                           and target.layer_name is not None)
        self.panel.new_mask_button.setEnabled(self.window.volume is not None)
        if not has:
            text = "No mask to edit. Segment, open a mask, or make a new empty one."
        else:
            steps = f"{editor.undo_depth} stroke{'s' if editor.undo_depth != 1 else ''} to undo"
            if target.layer_name is None and session is not None:
                saved = "unsaved (File ▸ Save mask)" if session.dirty else "saved"
            else:
                history = self._history_of(editor.labels)
                if history is not None and history.unsaved:
                    saved = "edited, not saved (Edit ▸ Save edited mask file as…)"
                else:
                    saved = "saved" if history is not None and history.saved_top else "unchanged"
            text = f"{steps} · {saved}"
        self.panel.status.setText(text)

    def _volume_changed(self, volume) -> None:
        self._stroke = None
        self._set_editor(None)
        self._histories = []
        if volume is not None:
            from viewer.window_level import looks_like_ct

            is_ct = looks_like_ct(volume)
            low, high = volume.value_range
            for box in (self.panel.low, self.panel.high):
                box.setRange(min(low, -1024.0 if is_ct else low), max(high, 1.0))
                box.setSuffix(" HU" if is_ct else "")
            self.panel.low.setValue(CT_THRESHOLD_HU[0] if is_ct else low)
            self.panel.high.setValue(CT_THRESHOLD_HU[1] if is_ct else high)
        self.refresh_targets()
