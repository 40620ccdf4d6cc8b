"""What the three views show: one cursor in world space and the display options.

The model half of the viewer (napari-style): widgets read it and write user input
back through its methods; listeners registered with :meth:`ViewState.subscribe`
are told which aspect changed (``"cursor"``, ``"orientation"``, ``"crosshair"``,
``"zoom_link"``). Qt-free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from viewer.slicing import VIEW_NAMES, ViewGeometry, view_geometry

log = logging.getLogger(__name__)

Listener = Callable[[str], None]


class ViewState:
    """Cursor (continuous canonical voxel position) and view options for one volume."""

    def __init__(self, affine: np.ndarray, shape: tuple[int, int, int]) -> None:
        self.affine = np.asarray(affine, dtype=float)
        self.shape = tuple(int(s) for s in shape)
        self._inverse = np.linalg.inv(self.affine)
        # start on the voxel nearest the centre, so every view shows a whole slice
        self._cursor_voxel = ((np.asarray(self.shape) - 1) // 2).astype(float)
        self.radiological = True
        self.crosshair_visible = True
        self.zoom_linked = False
        self._listeners: list[Listener] = []
        self._geometries: dict[str, ViewGeometry] = {}
        self._rebuild_geometries()

    # ----------------------------------------------------------------- events
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    # --------------------------------------------------------------- geometry
    def _rebuild_geometries(self) -> None:
        self._geometries = {
            name: view_geometry(self.affine, self.shape, name, self.radiological)
            for name in VIEW_NAMES
        }

    def geometry(self, view: str) -> ViewGeometry:
        return self._geometries[view]

    def set_radiological(self, radiological: bool) -> None:
        """Radiological (patient left on screen right) or neurological convention."""
        if bool(radiological) == self.radiological:
            return
        self.radiological = bool(radiological)
        self._rebuild_geometries()
        self._emit("orientation")

    def set_crosshair_visible(self, visible: bool) -> None:
        self.crosshair_visible = bool(visible)
        self._emit("crosshair")

    def set_zoom_linked(self, linked: bool) -> None:
        self.zoom_linked = bool(linked)
        self._emit("zoom_link")

    # ----------------------------------------------------------------- cursor
    @property
    def cursor_voxel(self) -> np.ndarray:
        """Continuous canonical voxel position of the cursor (a copy)."""
        return self._cursor_voxel.copy()

    @property
    def cursor_world(self) -> np.ndarray:
        """Cursor in RAS+ mm."""
        return self.affine[:3, :3] @ self._cursor_voxel + self.affine[:3, 3]

    def cursor_index(self) -> tuple[int, int, int]:
        """The voxel the cursor is in (nearest voxel centre)."""
        return tuple(int(v) for v in np.rint(self._cursor_voxel))  # type: ignore[return-value]

    def set_cursor_voxel(self, ijk) -> None:
        """Move the cursor; it is kept inside the volume."""
        ijk = np.clip(np.asarray(ijk, dtype=float), 0.0, np.asarray(self.shape, float) - 1.0)
        if np.allclose(ijk, self._cursor_voxel):
            return
        self._cursor_voxel = ijk
        self._emit("cursor")

    def set_cursor_world(self, xyz) -> None:
        xyz = np.asarray(xyz, dtype=float)
        self.set_cursor_voxel(self._inverse[:3, :3] @ xyz + self._inverse[:3, 3])

    def slice_index(self, view: str) -> int:
        """Index of the slice the cursor lies in, for ``view``."""
        return self.cursor_index()[self.geometry(view).slice_axis]

    def set_slice(self, view: str, index: int) -> None:
        """Go to slice ``index`` of ``view``; the cursor moves along that axis only."""
        axis = self.geometry(view).slice_axis
        ijk = self.cursor_voxel
        ijk[axis] = int(np.clip(index, 0, self.shape[axis] - 1))
        self.set_cursor_voxel(ijk)

    def step_slice(self, view: str, delta: int) -> None:
        self.set_slice(view, self.slice_index(view) + int(delta))
