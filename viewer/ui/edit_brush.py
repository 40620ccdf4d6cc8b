"""The brush under the mouse: presses, drags and releases in the slice views become
strokes of :class:`viewer.editing.MaskEditor` on the view's current slice.

The mouse is taken with an event filter on each view's viewport, installed after
pyqtgraph's own: only the presses, drags and releases of a stroke are consumed,
hover moves pass (the readout keeps working). During a drag the edited region is
announced to the document at most every :data:`LIVE_REDRAW_MS`, so the views
re-render only the overlay images their slice needs. A mixin of
:class:`viewer.ui.edit_tools.MaskEditTool`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from PyQt5.QtCore import QEvent, QPoint, QRectF, Qt
from PyQt5.QtGui import QColor, QPen

from viewer.editing import plane_axes
from viewer.overlays import label_colors
from viewer.slicing import SLICE_AXIS
from viewer.ui.edit_file_masks import EditTarget

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
class Stroke:
    view: object  # SliceView
    last_ij: tuple[float, float]


class BrushInput:
    """Mouse strokes of the paint and erase brushes."""

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
        self._stroke = Stroke(view, ij)
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
