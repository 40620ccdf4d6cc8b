"""One slice view: image, overlays, crosshair, edge letters, slice slider.

The view draws what the shared :class:`viewer.view_state.ViewState` says and turns
user input into calls on it. Pixels live in view-box millimetres (see
:mod:`viewer.slicing`), so the image item's rect carries the physical aspect ratio
and the view box (``lockAspect``) keeps it square on screen.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QEvent, QRectF, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QFrame,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from viewer.grid import POSITION_AXIS_NAME
from viewer.measure import Ruler, format_length
from viewer.overlay_render import LayerRenderer
from viewer.overlays import OverlayLayer
from viewer.slicing import VIEW_NAMES, ViewGeometry, gather_slice, slice_position_mm
from viewer.ui.slice_view_box import SliceViewBox
from viewer.view_state import ViewState

log = logging.getLogger(__name__)

#: One accent colour per plane (as 3D Slicer: axial red, coronal green, sagittal yellow).
VIEW_COLORS = {"axial": "#e8615d", "coronal": "#6cc46c", "sagittal": "#f2c94c"}
PAGE_STEP = 10

_LABEL_STYLE = (
    "color: #f0f0f0; background: rgba(0, 0, 0, 110); padding: 1px 4px; "
    "border-radius: 3px; font-size: 12px;"
)
_LETTER_STYLE = (
    "color: #ffd75e; background: rgba(0, 0, 0, 90); padding: 0px 3px; "
    "border-radius: 3px; font-size: 15px; font-weight: bold;"
)


class _Canvas(pg.GraphicsView):
    """The graphics view: positions the corner labels and handles slice keys."""

    def __init__(self, owner: SliceView) -> None:
        super().__init__(background="k")
        self.owner = owner
        self.setFocusPolicy(Qt.StrongFocus)
        # Repaint the whole viewport on every change: with pyqtgraph's minimal
        # updates a moved crosshair line was not erased outside the image, and a real
        # screen (not an offscreen grab) kept a fan of old lines. The image fills
        # most of the viewport and is repainted on a slice change anyway.
        self.setViewportUpdateMode(QGraphicsView.FullViewportUpdate)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        owner = getattr(self, "owner", None)  # resizeEvent runs inside super().__init__
        if owner is not None and hasattr(owner, "letter_labels"):
            owner.place_labels()

    def enterEvent(self, ev) -> None:
        self.setFocus(Qt.MouseFocusReason)
        super().enterEvent(ev)

    def keyPressEvent(self, ev) -> None:
        key = ev.key()
        steps = {Qt.Key_Up: 1, Qt.Key_Down: -1, Qt.Key_Right: 1, Qt.Key_Left: -1,
                 Qt.Key_PageUp: PAGE_STEP, Qt.Key_PageDown: -PAGE_STEP}
        if key in steps:
            self.owner.step_slice(steps[key])
            ev.accept()
        elif key == Qt.Key_Home:
            self.owner.go_to_slice(0)
        elif key == Qt.Key_End:
            self.owner.go_to_slice(10**9)
        elif key == Qt.Key_Space and not ev.isAutoRepeat():
            self.owner.box.space_held = True
            self.setCursor(Qt.OpenHandCursor)
        else:
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev) -> None:
        if ev.key() == Qt.Key_Space and not ev.isAutoRepeat():
            self.owner.box.space_held = False
            self.unsetCursor()
        super().keyReleaseEvent(ev)


class SliceView(QFrame):
    """Axial, coronal or sagittal view of the current volume."""

    activated = pyqtSignal(str)
    maximize_requested = pyqtSignal(str)
    hovered_voxel = pyqtSignal(str, object)  # view name, continuous ijk or None
    window_dragged = pyqtSignal(float, float)
    zoomed = pyqtSignal(str, float)

    def __init__(self, view: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if view not in VIEW_NAMES:
            raise ValueError(f"unknown view {view!r}")
        self.view = view
        self.setObjectName(f"slice_view_{view}")
        self.setFrameShape(QFrame.NoFrame)
        self.state: ViewState | None = None
        self.array: np.ndarray | None = None
        self.affine = np.eye(4)
        self._levels = (0.0, 1.0)
        self._lut: np.ndarray | None = None
        self._index = -1
        self._rect_pending = True
        self._overlay_items: dict[str, pg.ImageItem] = {}
        self._renderers: list[tuple[OverlayLayer, LayerRenderer]] = []
        #: Distance rulers: (ruler, its line ROI, its length label); see viewer.measure.
        self.rulers: list[tuple[Ruler, pg.LineSegmentROI, pg.TextItem]] = []
        self._drawing: tuple[Ruler, pg.LineSegmentROI, pg.TextItem] | None = None
        #: view-mm point under the mouse, None when the mouse is elsewhere
        self._hover_point: tuple[float, float] | None = None

        self.canvas = _Canvas(self)
        self.box = SliceViewBox()
        self.canvas.setCentralItem(self.box)
        self.image_item = pg.ImageItem(axisOrder="col-major")
        self.box.addItem(self.image_item)
        color = VIEW_COLORS[view]
        self.vline = pg.InfiniteLine(angle=90, movable=False)
        self.hline = pg.InfiniteLine(angle=0, movable=False)
        for line in (self.vline, self.hline):
            line.setZValue(100)
            line.setVisible(False)  # no crosshair over an empty view
            self.box.addItem(line, ignoreBounds=True)

        self.title_label = self._make_label(_LABEL_STYLE)
        self.window_label = self._make_label(_LABEL_STYLE)
        self.pixel_label = self._make_label(_LABEL_STYLE)
        self.letter_labels = {edge: self._make_label(_LETTER_STYLE) for edge in
                              ("left", "right", "top", "bottom")}
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName(f"slider_{view}")
        self.slider.setFocusPolicy(Qt.NoFocus)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slice_caption = QLabel("")
        self.slice_caption.setMinimumWidth(70)
        self.slice_caption.setAlignment(Qt.AlignRight | Qt.AlignVCenter)

        accent = QFrame()
        accent.setFixedHeight(3)
        accent.setStyleSheet(f"background: {color};")
        bottom = QHBoxLayout()
        bottom.setContentsMargins(4, 0, 4, 2)
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.slice_caption)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addWidget(accent)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bottom)

        self.box.cursor_requested.connect(self._cursor_requested)
        self.box.slice_step_requested.connect(self.step_slice)
        self.box.window_dragged.connect(self.window_dragged)
        self.box.zoomed.connect(lambda f: self.zoomed.emit(self.view, f))
        self.box.hovered.connect(self._hovered)
        self.box.double_clicked.connect(lambda: self.maximize_requested.emit(self.view))
        self.box.measure_dragged.connect(self._measure_dragged)
        self.canvas.installEventFilter(self)

    def _make_label(self, style: str) -> QLabel:
        label = QLabel(self.canvas)
        label.setStyleSheet(style)
        label.setAttribute(Qt.WA_TransparentForMouseEvents)
        label.setTextFormat(Qt.RichText)
        return label

    def eventFilter(self, obj, ev) -> bool:
        if obj is self.canvas and ev.type() == QEvent.FocusIn:
            self.activated.emit(self.view)
        return False

    # ------------------------------------------------------------- geometry
    @property
    def geometry_(self) -> ViewGeometry:
        assert self.state is not None
        return self.state.geometry(self.view)

    @property
    def slice_index(self) -> int:
        return self._index

    def set_volume(self, array: np.ndarray | None, affine: np.ndarray, state: ViewState | None) -> None:
        """Show a new volume (``None`` clears the view)."""
        self.array = array
        self.affine = np.asarray(affine, float)
        self.state = state
        self._index = -1
        self.clear_rulers()
        if array is None or state is None:
            self.set_crosshair_visible(False)
            self.image_item.clear()
            for item in self._overlay_items.values():
                item.clear()
            for label in (self.title_label, self.window_label, self.pixel_label,
                          *self.letter_labels.values()):
                label.setText("")
            self.slice_caption.setText("")
            return
        self.apply_orientation()
        self.reset_zoom()
        self.refresh(force=True)

    def apply_orientation(self) -> None:
        """Flip the view box and set the edge letters from the current geometry."""
        geometry = self.geometry_
        self.box.invertX(geometry.flip_horizontal)
        self.box.invertY(geometry.flip_vertical)
        rect = QRectF(*geometry.image_rect())
        self.image_item.setRect(rect)
        self._rect_pending = True  # overlay items get theirs at every render
        for edge, label in self.letter_labels.items():
            label.setText(geometry.letters[edge])
            label.adjustSize()
        sx, sy = geometry.pixel_size_mm
        self.pixel_label.setText(
            f"{geometry.image_size[0]}×{geometry.image_size[1]} · {sx:.3g}×{sy:.3g} mm"
        )
        self.pixel_label.adjustSize()
        by_axis = {self.state.geometry(v).slice_axis: v for v in VIEW_NAMES}
        self.vline.setPen(pg.mkPen(VIEW_COLORS[by_axis[geometry.horizontal_axis]], width=1))
        self.hline.setPen(pg.mkPen(VIEW_COLORS[by_axis[geometry.vertical_axis]], width=1))
        self.slider.blockSignals(True)
        self.slider.setRange(0, geometry.n_slices - 1)
        self.slider.blockSignals(False)
        self.place_labels()

    def reset_zoom(self) -> None:
        if self.state is None:
            return
        self.box.setRange(QRectF(*self.geometry_.image_rect()), padding=0.02)

    def place_labels(self) -> None:
        width, height = self.canvas.width(), self.canvas.height()
        margin = 6
        for label in (self.title_label, self.window_label, self.pixel_label,
                      *self.letter_labels.values()):
            label.adjustSize()
        self.title_label.move(margin, margin)
        self.window_label.move(margin, height - self.window_label.height() - margin)
        self.pixel_label.move(width - self.pixel_label.width() - margin,
                              height - self.pixel_label.height() - margin)
        letters = self.letter_labels
        letters["left"].move(margin, (height - letters["left"].height()) // 2)
        letters["right"].move(width - letters["right"].width() - margin,
                              (height - letters["right"].height()) // 2)
        top_x = (width - letters["top"].width()) // 2
        top_y = margin
        if self.title_label.x() + self.title_label.width() + 4 > top_x:
            top_y = margin + self.title_label.height() + 2  # a narrow view: below the title
        letters["top"].move(top_x, top_y)
        bottom_x = (width - letters["bottom"].width()) // 2
        bottom_y = height - letters["bottom"].height() - margin
        corners = (self.window_label.x() + self.window_label.width(), self.pixel_label.x())
        if corners[0] + 4 > bottom_x or corners[1] - 4 < bottom_x + letters["bottom"].width():
            bottom_y -= self.pixel_label.height() + 2  # above the corner captions
        letters["bottom"].move(bottom_x, bottom_y)

    # ---------------------------------------------------------------- display
    def set_levels(self, levels: tuple[float, float], center_width: tuple[float, float]) -> None:
        self._levels = (float(levels[0]), float(levels[1]))
        if self.array is not None:
            self.image_item.setLevels(self._levels)
        center, width = center_width
        self.window_label.setText(f"W {width:.0f}  L {center:.0f}")
        self.place_labels()

    def set_lookup_table(self, lut: np.ndarray | None) -> None:
        self._lut = lut
        self.image_item.setLookupTable(lut)

    def set_crosshair_visible(self, visible: bool) -> None:
        self.vline.setVisible(visible)
        self.hline.setVisible(visible)

    def set_overlays(self, renderers: list[tuple[OverlayLayer, LayerRenderer]]) -> None:
        """Which overlay layers to draw (in order); creates or drops their image items."""
        self._renderers = list(renderers)
        names = [layer.name for layer, _ in renderers]
        for name in list(self._overlay_items):
            if name not in names:
                self.box.removeItem(self._overlay_items.pop(name))
        for order, name in enumerate(names):
            item = self._overlay_items.get(name)
            if item is None:
                item = pg.ImageItem(axisOrder="col-major")
                self._overlay_items[name] = item
                self.box.addItem(item)
            item.setZValue(10 + order)
        self.render_overlays()

    def render_overlays(self) -> None:
        if self.array is None or self._index < 0:
            return
        geometry = self.geometry_
        sx, sy = geometry.pixel_size_mm
        for layer, renderer in self._renderers:
            item = self._overlay_items[layer.name]
            if not layer.visible or layer.labels.shape != self.array.shape:
                item.setVisible(False)
                continue
            # only the part of the plane that holds labels (nothing when none does)
            rgba, (h0, v0) = renderer.render_plane(geometry, self._index)
            if rgba is None:
                item.setVisible(False)
                continue
            item.setImage(rgba, autoLevels=False)
            # an image item's rect only sticks once it has an image: set it each time,
            # the part drawn moves and changes size with the slice
            item.setRect(QRectF((h0 - 0.5) * sx, (v0 - 0.5) * sy,
                                rgba.shape[0] * sx, rgba.shape[1] * sy))
            item.setVisible(True)

    def refresh(self, force: bool = False) -> None:
        """Bring the picture in line with the state: slice, overlays, crosshair."""
        if self.array is None or self.state is None:
            return
        index = self.state.slice_index(self.view)
        if force or index != self._index:
            self._index = index
            geometry = self.geometry_
            plane = gather_slice(self.array, geometry, index)
            self.image_item.setImage(plane, autoLevels=False, levels=self._levels)
            if self._rect_pending:  # an image item's rect only sticks once it has an image
                self.image_item.setRect(QRectF(*geometry.image_rect()))
                self._rect_pending = False
            self.render_overlays()
            self._update_slice_texts()
            self._show_rulers_of_slice()
            if self._hover_point is not None:
                # the mouse did not move but the slice under it changed (wheel,
                # keys): the readout must name the new slice's voxel and value now
                self._hovered(self._hover_point)
        u, v = self.geometry_.voxel_to_view_point(self.state.cursor_voxel)
        self.vline.setPos(u)
        self.hline.setPos(v)

    def _update_slice_texts(self) -> None:
        geometry = self.geometry_
        position = slice_position_mm(self.affine, geometry, self._index)
        axis = POSITION_AXIS_NAME[self.view]
        color = VIEW_COLORS[self.view]
        self.title_label.setText(
            f"<span style='color:{color}; font-weight:bold'>{self.view.capitalize()}</span>"
            f"&nbsp; {self._index + 1} / {geometry.n_slices}"
            f"&nbsp; {axis} = {position:.1f} mm"
        )
        self.slice_caption.setText(f"{self._index + 1} / {geometry.n_slices}")
        self.slider.blockSignals(True)
        self.slider.setValue(self._index)
        self.slider.blockSignals(False)
        self.place_labels()

    # ------------------------------------------------------------------ input
    def step_slice(self, delta: int) -> None:
        if self.state is not None:
            self.state.step_slice(self.view, delta)

    def go_to_slice(self, index: int) -> None:
        if self.state is not None:
            self.state.set_slice(self.view, index)

    def _slider_moved(self, value: int) -> None:
        self.go_to_slice(value)

    def _cursor_requested(self, u: float, v: float) -> None:
        if self.state is None:
            return
        self.activated.emit(self.view)
        ijk = self.geometry_.view_point_to_voxel(u, v, self._index)
        self.state.set_cursor_voxel(ijk)

    def _hovered(self, point) -> None:
        self._hover_point = point
        if self.state is None or point is None:
            self.hovered_voxel.emit(self.view, None)
            return
        ijk = self.geometry_.view_point_to_voxel(point[0], point[1], self._index)
        self.hovered_voxel.emit(self.view, ijk)

    # ----------------------------------------------------------------- rulers
    def _measure_dragged(self, start, here, finished: bool) -> None:
        if self.state is None or self._index < 0:
            return
        if self._drawing is None:
            ruler = Ruler(self.view, self._index, tuple(start), tuple(here))
            self._drawing = self._add_ruler_items(ruler)
        ruler, roi, _text = self._drawing
        roi.movePoint(roi.getHandles()[1], pg.Point(*here), finish=False)
        if finished:
            self._drawing = None
            if ruler.length_mm(self.geometry_, self.affine) < 0.5:  # a click, not a line
                self.remove_ruler(ruler)
            else:
                log.info("ruler in %s: %s", self.view, format_length(
                    ruler.length_mm(self.geometry_, self.affine)))

    def add_ruler(self, start, end) -> Ruler:
        """A ruler on the current slice between two view-mm points (also for tests)."""
        ruler = Ruler(self.view, self._index, tuple(start), tuple(end))
        self._add_ruler_items(ruler)
        return ruler

    def _add_ruler_items(self, ruler: Ruler):
        roi = pg.LineSegmentROI([ruler.start, ruler.end], pen=pg.mkPen("#ffd75e", width=2),
                                hoverPen=pg.mkPen("#fff2b0", width=2))
        roi.setZValue(200)
        text = pg.TextItem("", color="#ffd75e", anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 140))
        text.setZValue(201)
        self.box.addItem(roi, ignoreBounds=True)
        self.box.addItem(text, ignoreBounds=True)
        entry = (ruler, roi, text)
        self.rulers.append(entry)
        roi.sigRegionChanged.connect(lambda _roi, e=entry: self._ruler_moved(e))
        self._ruler_moved(entry)
        return entry

    def _ruler_moved(self, entry) -> None:
        ruler, roi, text = entry
        a, b = (roi.mapToParent(handle.pos()) for handle in roi.getHandles()[:2])
        ruler.start, ruler.end = (a.x(), a.y()), (b.x(), b.y())
        if self.state is None:
            return
        text.setText(format_length(ruler.length_mm(self.geometry_, self.affine)))
        text.setPos(b.x(), b.y())

    def remove_ruler(self, ruler: Ruler) -> None:
        for entry in [e for e in self.rulers if e[0] is ruler]:
            self.rulers.remove(entry)
            self.box.removeItem(entry[1])
            self.box.removeItem(entry[2])

    def clear_rulers(self) -> None:
        self._drawing = None
        for ruler, _roi, _text in list(self.rulers):
            self.remove_ruler(ruler)

    def _show_rulers_of_slice(self) -> None:
        for ruler, roi, text in self.rulers:
            roi.setVisible(ruler.index == self._index)
            text.setVisible(ruler.index == self._index)

    def view_point_of_voxel(self, ijk) -> tuple[float, float]:
        """View-box mm of a voxel (for tests and tools that click on a voxel)."""
        return self.geometry_.voxel_to_view_point(np.asarray(ijk, float))

    def widget_pos_of_voxel(self, ijk):
        """Position in ``self.canvas`` widget pixels of a voxel centre."""
        u, v = self.view_point_of_voxel(ijk)
        scene = self.box.mapViewToScene(pg.Point(u, v))
        return self.canvas.mapFromScene(scene)
