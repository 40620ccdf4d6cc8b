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

The editing itself is Qt-free: :class:`viewer.editing.MaskEditor`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QEvent, QObject, QPoint, QRectF, Qt, QTimer
from PyQt5.QtGui import QColor, QPen
from PyQt5.QtWidgets import (
    QAction,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGraphicsEllipseItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.editing import MaskEditor, plane_axes
from viewer.errors import SpleenScopeError
from viewer.io.file_names import NIFTI, edited_mask_path, with_default_suffix
from viewer.overlays import OverlayLayer, label_colors, present_labels
from viewer.review import (
    PREDICTION_COLOR,
    REVIEW_LAYERS,
)
from viewer.slicing import SLICE_AXIS

log = logging.getLogger(__name__)

PAINT, ERASE = "paint", "erase"
DEFAULT_RADIUS_MM = 5.0
RADIUS_RANGE_MM = (0.5, 100.0)
#: ``]`` / ``[`` grow / shrink the brush by this factor (ITK-SNAP steps by a voxel;
#: a factor feels the same at 1 mm and at 40 mm).
RADIUS_STEP = 1.25
#: Default "paint only where" window for CT: soft tissue and contrast-enhanced
#: organ, excluding fat (about -100 HU), air and bone.
CT_THRESHOLD_HU = (-50.0, 250.0)
NEW_MASK_LAYER = "edited mask"
ERASE_COLOR = (235, 235, 235)
#: At most one live redraw per this many ms while dragging (about 60 per second).
LIVE_REDRAW_MS = 16


@dataclass
class EditTarget:
    """One mask the user may edit: its array (edited in place) and where it lives."""

    key: str
    title: str
    labels: np.ndarray
    layer_name: str | None  # None: the session's prediction


@dataclass
class _History:
    """One edited array's editor and the undo step that was on top when it last
    matched a file (None: as opened), so undoing back to it counts as saved."""

    editor: MaskEditor
    saved_top: object | None = None

    @property
    def unsaved(self) -> bool:
        return _top_step(self.editor) is not self.saved_top

    def mark_saved(self) -> None:
        self.saved_top = _top_step(self.editor)


def _top_step(editor: MaskEditor) -> object | None:
    """The undo step on top of ``editor``'s history (identity marks a mask state).

    """
    return editor.top_step


@dataclass
class _Stroke:
    view: object  # SliceView
    last_ij: tuple[float, float]


class EditPanel(QWidget):
    """Which mask, brush radius in mm, label, threshold range, and the edit buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("edit_panel")
        self.target = QComboBox()
        self.target.setObjectName("edit_target")
        self.target.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.new_mask_button = QPushButton("New empty mask")
        self.new_mask_button.setObjectName("edit_new_mask")
        self.promote_button = QPushButton("Use as prediction")
        self.promote_button.setObjectName("edit_promote")
        self.promote_button.setToolTip("Hand this mask to Save, review and the training set")
        self.paint_button = QToolButton()
        self.erase_button = QToolButton()
        for button in (self.paint_button, self.erase_button):
            button.setToolButtonStyle(Qt.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.radius = QDoubleSpinBox()
        self.radius.setObjectName("edit_radius")
        self.radius.setRange(*RADIUS_RANGE_MM)
        self.radius.setDecimals(1)
        self.radius.setSingleStep(0.5)
        self.radius.setSuffix(" mm")
        self.radius.setValue(DEFAULT_RADIUS_MM)
        self.radius.setToolTip("Brush radius in millimetres ( [ smaller, ] larger )")
        self.label = QSpinBox()
        self.label.setObjectName("edit_label")
        self.label.setRange(1, 255)
        self.label_name = QLabel("")
        self.label_name.setObjectName("edit_label_name")
        self.threshold = QGroupBox("Paint only where value is in")
        self.threshold.setObjectName("edit_threshold")
        self.threshold.setCheckable(True)
        self.threshold.setChecked(False)
        self.low = QDoubleSpinBox()
        self.high = QDoubleSpinBox()
        for box, name in ((self.low, "edit_threshold_low"), (self.high, "edit_threshold_high")):
            box.setObjectName(name)
            box.setDecimals(0)
            box.setRange(-1e6, 1e6)
        range_row = QHBoxLayout(self.threshold)
        range_row.setContentsMargins(6, 4, 6, 4)
        range_row.addWidget(self.low, 1)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.high, 1)
        self.fill_button = QPushButton("Fill holes")
        self.fill_button.setObjectName("edit_fill_holes")
        self.undo_button = QToolButton()
        self.redo_button = QToolButton()
        self.status = QLabel("")
        self.status.setObjectName("edit_status")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #8a939e; font-size: 11px;")

        target_row = QHBoxLayout()
        target_row.addWidget(self.new_mask_button)
        target_row.addWidget(self.promote_button)
        tools = QHBoxLayout()
        tools.addWidget(self.paint_button)
        tools.addWidget(self.erase_button)
        label_row = QHBoxLayout()
        label_row.addWidget(self.label)
        label_row.addWidget(self.label_name, 1)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Mask", self.target)
        form.addRow("", target_row)
        form.addRow("Tool", tools)
        form.addRow("Radius", self.radius)
        form.addRow("Label", label_row)
        history = QHBoxLayout()
        history.addWidget(self.fill_button, 1)
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.threshold)
        layout.addLayout(history)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def threshold_range(self) -> tuple[float, float] | None:
        if not self.threshold.isChecked():
            return None
        return (self.low.value(), self.high.value())


class MaskEditTool(QObject):
    """The Edit menu, the brush in the slice views, and the undo history of one window."""

    def __init__(self, window, session=None) -> None:
        super().__init__(window)
        self.window = window
        #: the segmentation session (its prediction is the first edit target), or None
        self.session = session
        self.tool: str | None = None
        self.editor: MaskEditor | None = None
        #: every array edited since the volume was shown (switching masks keeps history)
        self._histories: list[_History] = []
        self._editor_key: str | None = None
        self._stroke: _Stroke | None = None
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
                history = _History(MaskEditor(target.labels, volume.spacing, volume.array))
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

    def _history_of(self, labels: np.ndarray) -> _History | None:
        return next((h for h in self._histories if h.editor.labels is labels), None)

    # ------------------------------------------------------- file mask saving
    def unsaved_file_masks(self) -> list[str]:
        """Names of the overlay layers (masks opened from files, or a new layer) that
        hold strokes not yet written to a file. The session's prediction is not
        listed: its own Save and prompt cover it."""
        names = []
        for target in self._targets:
            if target.layer_name is None:
                continue
            layer = self.window.overlays.get(target.layer_name)
            history = self._history_of(target.labels)
            if layer is not None and layer.labels is target.labels and history is not None \
                    and history.unsaved:
                names.append(target.layer_name)
        return names

    def confirm_discard_file_edits(self) -> bool:
        """Close guard: True when nothing is unsaved, or the user saved or discarded."""
        names = self.unsaved_file_masks()
        if not names or self.window.headless:
            return True
        listed = ", ".join(f"“{name}”" for name in names)
        answer = QMessageBox.question(
            self.window, "Unsaved mask edits",
            f"The mask {listed} has edits that are not saved. Save them to a new file "
            "(the file it was opened from stays as it is)?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return all(self.save_file_mask(name) is not None for name in names)
        return answer == QMessageBox.Discard

    def save_file_mask(self, layer_name: str | None = None,
                       path: str | Path | None = None) -> Path | None:
        """Write the overlay layer ``layer_name`` (default: the mask being edited) to a
        new NIfTI file on the input's grid; ask where (pre-filled with
        :func:`edited_mask_path`) unless ``path`` is given. Never over the mask it was
        opened from nor over the input. Returns the file, or None (cancelled, error)."""
        window, volume = self.window, self.window.volume
        if layer_name is None:
            target = self.current_target()
            layer_name = target.layer_name if target is not None else None
        layer = window.overlays.get(layer_name) if layer_name else None
        if volume is None or layer is None:
            window.show_error("Choose a mask opened from a file in the Edit panel first.",
                              "Nothing to save")
            return None
        if layer.labels.size and int(layer.labels.max()) > 255:
            window.show_error(f"“{layer_name}” has labels above 255, which a uint8 NIfTI "
                              "cannot hold; it was not saved.", "Could not save the mask")
            return None
        from viewer.io.writers import default_mask_path, save_mask

        source = window.mask_sources.get(layer_name)
        suggested = edited_mask_path(source) if source is not None else default_mask_path(volume)
        overwrite = False
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                window, f"Save edited mask “{layer_name}”", str(suggested),
                NIFTI.dialog_filter())
            if not chosen:
                return None
            path, overwrite = Path(chosen), True  # the dialog asked about replacing
        path = Path(path)
        path = with_default_suffix(path, NIFTI)
        if source is not None and path.resolve() == Path(source).resolve():
            window.show_error(f"{path.name} is the mask that was opened; save the edits "
                              "under another name.", "Could not save the mask")
            return None
        try:
            written = save_mask(volume, layer.labels, path, overwrite=overwrite)
        except (SpleenScopeError, OSError) as error:
            window.show_error(str(error), "Could not save the mask")
            return None
        history = self._history_of(layer.labels)
        if history is not None:
            history.mark_saved()
        window.statusBar().showMessage(f"Saved the edited mask to {written}", 6000)
        self._update_status()
        return written

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

    # ------------------------------------------------------------------ mouse
    def eventFilter(self, obj, ev) -> bool:
        view = self._views_by_viewport.get(obj)
        if view is None:
            return False
        kind = ev.type()
        if kind == QEvent.Leave:
            self._outlines[view.view].setVisible(False)
            return False
        if self.tool is None:
            return False
        if kind in (QEvent.MouseButtonPress, QEvent.MouseButtonDblClick):
            plain = not ev.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier | Qt.AltModifier)
            if ev.button() != Qt.LeftButton or not plain or view.box.space_held:
                return False
            return self._press(view, ev.pos())
        if kind == QEvent.MouseMove:
            self._show_outline(view, ev.pos())
            if self._stroke is not None and self._stroke.view is view:
                if ev.buttons() & Qt.LeftButton:
                    self._drag(view, ev.pos())
                return True
            return False
        if kind == QEvent.MouseButtonRelease and self._stroke is not None:
            if ev.button() == Qt.LeftButton:
                self._drag(view, ev.pos())
                self._release()
            return True
        return False

    def _plane_point(self, view, pos: QPoint) -> tuple[float, float]:
        """Continuous in-plane voxel indices (slice axes in increasing order) under ``pos``."""
        scene = view.canvas.mapToScene(pos)
        point = view.box.mapSceneToView(scene)
        ijk = view.geometry_.view_point_to_voxel(point.x(), point.y(), view.slice_index)
        a, b = plane_axes(SLICE_AXIS[view.view])
        return float(ijk[a]), float(ijk[b])

    def _press(self, view, pos: QPoint) -> bool:
        window = self.window
        if window.volume is None or view.state is None:
            return False
        if self.editor is None:
            window.statusBar().showMessage(
                "No mask to edit: Edit ▸ New empty mask, segment, or open a mask", 5000)
            return True
        target = self.current_target()
        self._make_edits_visible(target)
        layer = self.window.overlays.get(target.layer_name) if target.layer_name else None
        if layer is not None and self.tool == PAINT:
            label = self.panel.label.value()  # a label new to the layer needs a colour
            layer.colors.setdefault(label, label_colors(label)[label])
        ij = self._plane_point(view, pos)
        self.editor.begin_stroke(self.tool or PAINT)
        self._stroke = _Stroke(view, ij)
        self._dab(view, ij, ij)
        return True

    def _make_edits_visible(self, target: EditTarget) -> None:
        """Painting on a hidden mask would show nothing: bring the mask into view."""
        window, session = self.window, self.session
        if target.layer_name is None and session is not None and session.mode == "reference":
            session.set_mode("prediction")
        layers = list(window.overlays)
        if layers and not any(layer.visible for layer in layers):
            window.set_overlays_visible(True)
            window.statusBar().showMessage("Masks shown again to edit them (M hides them)", 4000)

    def _drag(self, view, pos: QPoint) -> None:
        stroke = self._stroke
        if stroke is None:
            return
        ij = self._plane_point(view, pos)
        if ij != stroke.last_ij:
            self._dab(view, stroke.last_ij, ij)
            stroke.last_ij = ij

    def _dab(self, view, start, end) -> None:
        editor = self.editor
        axis = SLICE_AXIS[view.view]
        threshold = self.panel.threshold_range()
        if start == end:
            if self.tool == ERASE:
                editor.erase(axis, view.slice_index, end, self.radius_mm, threshold=threshold)
            else:
                editor.paint(axis, view.slice_index, end, self.radius_mm,
                             label=self.panel.label.value(), threshold=threshold)
        else:
            editor.paint_line(axis, view.slice_index, start, end, self.radius_mm,
                              label=self.panel.label.value(), erase=self.tool == ERASE,
                              threshold=threshold)
        self._schedule_redraw()

    def _schedule_redraw(self) -> None:
        """Redraw now, or once the frame interval has passed: mouse moves can come
        faster than a large volume's overlays render, and queued redraws would lag."""
        wait_ms = LIVE_REDRAW_MS - (time.monotonic() - self._last_redraw) * 1000.0
        if wait_ms <= 0:
            self._redraw_live()
        elif not self._redraw_timer.isActive():
            self._redraw_timer.start(int(wait_ms) + 1)

    def _release(self) -> None:
        self._stroke = None
        if self.editor is not None and self.editor.end_stroke() is not None:
            self._after_edit()

    # ---------------------------------------------------------------- drawing
    def _redraw_live(self) -> None:
        """Show the changed voxels now: announce the edited region to the document
        (the views whose slice crosses it re-render their overlay images only);
        an edit of the prediction goes through the session, whose review layers
        (shown prediction, difference map) follow the edit in that region."""
        self._redraw_timer.stop()
        self._last_redraw = time.monotonic()
        editor, target = self.editor, self.current_target()
        region = editor.take_changed_region() if editor is not None else None
        if region is None or target is None:
            return
        if target.layer_name is None:
            self.session.prediction_region_edited(region)
        else:
            self.window.document.edit_labels([target.layer_name], region)

    def _after_edit(self) -> None:
        """A stroke, undo, redo or fill ended: tell the session, redraw, update the panel.

        The views already show the edit (:meth:`_redraw_live`); a full overlay refresh
        (which scans every layer) runs only when the set of labels shown may have
        changed: any edit of a multi-label file mask, or a prediction that became
        empty or stopped being empty.
        """
        self._redraw_live()
        target, session = self.current_target(), self.session
        if target is not None and target.layer_name is None and session is not None:
            had_voxels = self._prediction_had_voxels
            self._prediction_had_voxels = bool(session.prediction.any())
            session.prediction_edited()
            if had_voxels != self._prediction_had_voxels and session.reference is None:
                self.window.refresh_overlays()
        else:
            self.window.refresh_overlays()
        self._update_status()

    def _show_outline(self, view, pos: QPoint) -> None:
        outline = self._outlines[view.view]
        if view.state is None:
            outline.setVisible(False)
            return
        point = view.box.mapSceneToView(view.canvas.mapToScene(pos))
        r = self.radius_mm
        outline.setRect(QRectF(point.x() - r, point.y() - r, 2 * r, 2 * r))
        outline.setVisible(True)

    def _update_outline_size(self) -> None:
        r = self.radius_mm
        color = QColor(*(ERASE_COLOR if self.tool == ERASE else self._label_color()))
        pen = QPen(color, 1.5, Qt.DashLine if self.tool == ERASE else Qt.SolidLine)
        pen.setCosmetic(True)
        for outline in self._outlines.values():
            centre = outline.rect().center()
            outline.setRect(QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r))
            outline.setPen(pen)

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


