"""The pyqtgraph ViewBox of one slice view: turns mouse gestures into intentions.

Left click/drag moves the cursor (in ruler mode a left drag draws a distance line), Shift+left drag changes window/level, right drag
zooms around the press point, middle drag (or Space + left drag) pans, the wheel
steps slices and Ctrl+wheel zooms around the mouse. The box only emits signals; the
slice view and the main window decide what they mean.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt5.QtCore import QPointF, Qt, pyqtSignal

#: Zoom factor per wheel notch (120 delta units) and per pixel of right drag.
WHEEL_ZOOM_PER_NOTCH = 1.15
DRAG_ZOOM_PER_PIXEL = 1.01


class SliceViewBox(pg.ViewBox):
    cursor_requested = pyqtSignal(float, float)  # view mm
    window_dragged = pyqtSignal(float, float)  # screen pixels dx, dy
    slice_step_requested = pyqtSignal(int)
    zoomed = pyqtSignal(float)  # scale factor applied (for linked zoom)
    hovered = pyqtSignal(object)  # (u, v) view mm, or None when the mouse left
    double_clicked = pyqtSignal()
    #: Ruler mode: left drag draws a distance line (start, current point in view mm, done).
    measure_dragged = pyqtSignal(object, object, bool)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, enableMenu=False, invertY=False)
        self.space_held = False
        self.measure_mode = False
        self.setMouseEnabled(x=True, y=True)

    # ------------------------------------------------------------ helpers
    def zoom_about(self, factor: float, center: QPointF) -> None:
        """Zoom by ``factor`` (>1 magnifies) keeping ``center`` (view mm) fixed."""
        self.scaleBy((1.0 / factor, 1.0 / factor), center=center)
        self.zoomed.emit(factor)

    # ------------------------------------------------------------- events
    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.LeftButton:
            ev.accept()
            if ev.double():
                self.double_clicked.emit()
                return
            point = self.mapSceneToView(ev.scenePos())
            self.cursor_requested.emit(point.x(), point.y())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None) -> None:
        button = ev.button()
        modifiers = ev.modifiers()
        ev.accept()
        if button == Qt.MiddleButton or (button == Qt.LeftButton and self.space_held):
            here = self.mapSceneToView(ev.scenePos())
            before = self.mapSceneToView(ev.lastScenePos())
            self.translateBy(x=before.x() - here.x(), y=before.y() - here.y())
        elif button == Qt.LeftButton and self.measure_mode and not modifiers & Qt.ShiftModifier:
            start = self.mapSceneToView(ev.buttonDownScenePos())
            here = self.mapSceneToView(ev.scenePos())
            self.measure_dragged.emit((start.x(), start.y()), (here.x(), here.y()),
                                      bool(ev.isFinish()))
        elif button == Qt.LeftButton and modifiers & Qt.ShiftModifier:
            delta = ev.scenePos() - ev.lastScenePos()
            self.window_dragged.emit(delta.x(), delta.y())
        elif button == Qt.LeftButton:
            point = self.mapSceneToView(ev.scenePos())
            self.cursor_requested.emit(point.x(), point.y())
        elif button == Qt.RightButton:
            dy = (ev.scenePos() - ev.lastScenePos()).y()
            center = self.mapSceneToView(ev.buttonDownScenePos())
            self.zoom_about(DRAG_ZOOM_PER_PIXEL ** (-dy), center)
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None) -> None:
        delta = ev.delta()
        if delta == 0:
            ev.ignore()
            return
        ev.accept()
        if ev.modifiers() & Qt.ControlModifier:
            center = self.mapSceneToView(ev.scenePos())
            self.zoom_about(WHEEL_ZOOM_PER_NOTCH ** (delta / 120.0), center)
        else:
            self.slice_step_requested.emit(int(math.copysign(1, delta)))

    def hoverEvent(self, ev) -> None:
        if ev.isExit():
            self.hovered.emit(None)
            return
        point = self.mapSceneToView(ev.scenePos())
        self.hovered.emit((point.x(), point.y()))
