"""Correcting a label mask by hand: a round brush in millimetres, hole filling, undo.

What ITK-SNAP's paintbrush and 3D Slicer's Segment Editor give a radiologist, on
the arrays this program already holds. A :class:`MaskEditor` works IN PLACE on one
label array on the volume's canonical grid (the overlay layer's or the mask
session's own array), so whatever draws or measures that array sees every edit.

- The brush is round in physical millimetres, so on a grid with anisotropic
  spacing it covers an ellipse of voxels, and a "10 mm brush" means the same
  thing on a 0.5 mm and a 1 mm grid. It acts on one slice of one view
  (axial / coronal / sagittal), as a paintbrush does in those tools.
- Threshold-limited painting ("only where HU is in [lo, hi]", ITK-SNAP's
  draw-over / Slicer's masking) is a per-stroke option.
- Each stroke (press, drag, release) is one undo step. A step stores only the
  bounding box of the voxels the stroke changed (before and after), so memory
  follows the size of the edit, not of the volume; the oldest steps are dropped
  past ``max_strokes`` or ``max_bytes``.
- ``changed`` counts modifications (strokes, undo, redo), so a UI can tell that
  the mask is no longer what was saved.

Qt-free: numpy and scipy only.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from viewer.grid import slice_axis_of

log = logging.getLogger(__name__)

DEFAULT_MAX_STROKES = 50
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

Box = tuple[slice, slice, slice]


def plane_axes(slice_axis: int) -> tuple[int, int]:
    """The two in-plane voxel axes of a slice, in increasing order (``centre_ij`` order)."""
    return tuple(a for a in range(3) if a != slice_axis)  # type: ignore[return-value]


def brush_footprint(
    centre_ij: Sequence[float], radius_mm: float, spacing_ij: Sequence[float],
    plane_shape: Sequence[int],
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Voxels of a plane whose centres lie within ``radius_mm`` of ``centre_ij``.

    ``centre_ij`` is in continuous voxel indices along the plane's two axes,
    ``spacing_ij`` their spacing in mm. Returns ``(box, inside)`` with ``box`` the
    2D index box and ``inside`` a boolean array of its shape, or None when the
    brush misses the plane. A brush smaller than a voxel still paints the voxel
    under its centre (a click must always do something visible).
    """
    ci, cj = (float(c) for c in centre_ij)
    si, sj = (float(s) for s in spacing_ij)
    radius = max(float(radius_mm), 0.0)
    lo_i = max(int(np.floor(ci - radius / si)), 0)
    hi_i = min(int(np.ceil(ci + radius / si)) + 1, int(plane_shape[0]))
    lo_j = max(int(np.floor(cj - radius / sj)), 0)
    hi_j = min(int(np.ceil(cj + radius / sj)) + 1, int(plane_shape[1]))
    if lo_i >= hi_i or lo_j >= hi_j:
        return None
    di = (np.arange(lo_i, hi_i) - ci) * si
    dj = (np.arange(lo_j, hi_j) - cj) * sj
    # a hair of tolerance so a voxel centre exactly on the circle counts as inside
    inside = di[:, None] ** 2 + dj[None, :] ** 2 <= radius**2 * (1 + 1e-9)
    ni, nj = int(round(ci)), int(round(cj))
    if lo_i <= ni < hi_i and lo_j <= nj < hi_j:
        inside[ni - lo_i, nj - lo_j] = True
    if not inside.any():
        return None
    return (slice(lo_i, hi_i), slice(lo_j, hi_j)), inside


@dataclass
class Stroke:
    """One undo step: the box it touched, with the labels there before and after."""

    name: str
    box: Box | None = None
    before: np.ndarray | None = None
    after: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.before, self.after) if a is not None)


def union_box(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop))  # type: ignore[return-value]
                 for x, y in zip(a, b, strict=True))


def _shrink_to_changes(box: Box, where: np.ndarray, shape) -> tuple[Box, np.ndarray]:
    """The tightest box around the True voxels of ``where`` (a mask over ``box``).

    Undo keeps this box only, so a stroke's memory follows what it changed, not
    the brush's square or a whole slice.
    """
    starts = [s.indices(n)[0] for s, n in zip(box, shape, strict=True)]
    tight, inner = [], []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(where.any(axis=others))
        lo, hi = int(hits[0]), int(hits[-1]) + 1
        tight.append(slice(starts[axis] + lo, starts[axis] + hi))
        inner.append(slice(lo, hi))
    return tuple(tight), where[tuple(inner)]  # type: ignore[return-value]


class MaskEditor:
    """Paint, erase, fill holes and undo on one label array, in place.

    ``labels``: uint8/uint16 array on the volume's canonical grid; it is edited in
    place and never replaced. ``spacing``: voxel size in mm along its three axes.
    ``intensities``: the image on the same grid, needed only for threshold-limited
    painting.
    """

    def __init__(
        self,
        labels: np.ndarray,
        spacing: Sequence[float] = (1.0, 1.0, 1.0),
        intensities: np.ndarray | None = None,
        max_strokes: int = DEFAULT_MAX_STROKES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if labels.ndim != 3:
            raise ValueError(f"a mask to edit must be 3D, got shape {labels.shape}")
        if intensities is not None and intensities.shape != labels.shape:
            raise ValueError(f"image {intensities.shape} and mask {labels.shape} differ in shape")
        self.labels = labels
        self.spacing = tuple(float(s) for s in spacing)
        self.intensities = intensities
        self.max_strokes = int(max_strokes)
        self.max_bytes = int(max_bytes)
        self.changed = 0
        self._undo: deque[Stroke] = deque()
        self._redo: list[Stroke] = []
        self._open: Stroke | None = None
        self._region: Box | None = None

    # ----------------------------------------------------------------- strokes
    def begin_stroke(self, name: str = "edit") -> None:
        """Start one undo step (a press); edits until :meth:`end_stroke` join it."""
        if self._open is not None:
            self.end_stroke()
        self._open = Stroke(name)

    def end_stroke(self) -> Stroke | None:
        """Close the step (a release). Returns it, or None when nothing changed."""
        stroke, self._open = self._open, None
        if stroke is None or stroke.box is None:
            return None
        stroke.after = self.labels[stroke.box].copy()
        self._undo.append(stroke)
        self._redo.clear()
        self._trim_history()
        return stroke

    @property
    def in_stroke(self) -> bool:
        return self._open is not None

    def _trim_history(self) -> None:
        while self._undo and (len(self._undo) > self.max_strokes
                              or self.history_bytes() > self.max_bytes):
            self._undo.popleft()

    def history_bytes(self) -> int:
        """Memory held by the undo and redo steps."""
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_depth(self) -> int:
        return len(self._undo)

    @property
    def top_step(self) -> Stroke | None:
        """The undo step on top of the history (its identity marks a mask state:
        undoing back to the step that was on top at a save means "saved" again)."""
        return self._undo[-1] if self._undo else None

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._open = None

    def _remember(self, box: Box) -> None:
        """Keep the original labels of ``box`` in the open stroke before they change.

        When the stroke's box grows, the new box is read from the array and the
        originals already kept are pasted over their part: outside the old box the
        stroke has changed nothing yet, so the array still holds the originals there.
        """
        stroke = self._open
        assert stroke is not None
        union = union_box(stroke.box, box)
        if union == stroke.box:
            return
        before = self.labels[union].copy()
        if stroke.box is not None:
            inner = tuple(slice(a.start - u.start, a.stop - u.start)
                          for a, u in zip(stroke.box, union, strict=True))
            before[inner] = stroke.before
        stroke.box, stroke.before = union, before

    def _write(self, box: Box, where: np.ndarray, value: int) -> int:
        """Set ``labels[box][where] = value`` as part of the open (or a new) stroke."""
        region = self.labels[box]
        where = where & (region != value)
        count = int(np.count_nonzero(where))
        if not count:
            return 0
        box, where = _shrink_to_changes(box, where, self.labels.shape)
        region = self.labels[box]
        single = self._open is None
        if single:
            self.begin_stroke("edit")
        self._remember(box)
        region[where] = value
        self.changed += 1
        self._region = union_box(self._region, box)
        if single:
            self.end_stroke()
        return count

    def take_changed_region(self) -> Box | None:
        """The box of every voxel changed since the last call (for redrawing), then forget it."""
        region, self._region = self._region, None
        return region

    # ------------------------------------------------------------------- brush
    def _brush(
        self, view_axis: int | str, slice_index: int, centre_ij: Sequence[float],
        radius_mm: float, spacing: Sequence[float] | None,
        threshold: tuple[float, float] | None,
    ) -> tuple[Box, np.ndarray] | None:
        axis = slice_axis_of(view_axis)
        if not 0 <= int(slice_index) < self.labels.shape[axis]:
            return None
        a, b = plane_axes(axis)
        spacing = tuple(float(s) for s in (spacing if spacing is not None else self.spacing))
        found = brush_footprint(centre_ij, radius_mm, (spacing[a], spacing[b]),
                                (self.labels.shape[a], self.labels.shape[b]))
        if found is None:
            return None
        (box_a, box_b), inside = found
        box = [slice(None)] * 3
        box[axis] = slice(int(slice_index), int(slice_index) + 1)
        box[a], box[b] = box_a, box_b
        box = tuple(box)
        where = np.expand_dims(inside, axis)
        if threshold is not None:
            if self.intensities is None:
                raise ValueError("threshold-limited painting needs the image (intensities)")
            lo, hi = sorted(float(t) for t in threshold)
            values = self.intensities[box]
            where = where & (values >= lo) & (values <= hi)
        return box, where

    def paint(
        self, view_axis: int | str, slice_index: int, centre_ij: Sequence[float],
        radius_mm: float, spacing: Sequence[float] | None = None, label: int = 1,
        threshold: tuple[float, float] | None = None,
    ) -> int:
        """Paint ``label`` in a disc of ``radius_mm`` on one slice; returns voxels changed.

        ``view_axis`` is the slice axis (0, 1, 2) or a view name; ``centre_ij`` the
        continuous voxel indices along the slice's two other axes (increasing axis
        order); ``spacing`` the 3 voxel sizes in mm (default: the editor's).
        With ``threshold=(lo, hi)`` only voxels whose image value is in [lo, hi]
        are painted. Labels under the brush are overwritten (ITK-SNAP's default
        "draw over all labels").
        """
        if not 0 < int(label) <= np.iinfo(self.labels.dtype).max:
            raise ValueError(f"label {label} does not fit a {self.labels.dtype} mask")
        found = self._brush(view_axis, slice_index, centre_ij, radius_mm, spacing, threshold)
        return 0 if found is None else self._write(found[0], found[1], int(label))

    def erase(
        self, view_axis: int | str, slice_index: int, centre_ij: Sequence[float],
        radius_mm: float, spacing: Sequence[float] | None = None, label: int | None = None,
        threshold: tuple[float, float] | None = None,
    ) -> int:
        """Set voxels in the disc back to 0: any label, or only ``label`` when given."""
        found = self._brush(view_axis, slice_index, centre_ij, radius_mm, spacing, threshold)
        if found is None:
            return 0
        box, where = found
        if label is not None:
            where = where & (self.labels[box] == int(label))
        return self._write(box, where, 0)

    def paint_line(
        self, view_axis: int | str, slice_index: int, start_ij: Sequence[float],
        end_ij: Sequence[float], radius_mm: float, spacing: Sequence[float] | None = None,
        label: int = 1, erase: bool = False, threshold: tuple[float, float] | None = None,
    ) -> int:
        """Brush dabs from ``start_ij`` (excluded: the previous call painted it) to ``end_ij``.

        Mouse moves arrive tens of pixels apart when the hand is quick; dabs are
        placed every quarter radius (at least every half voxel) in between, which
        keeps the scalloping of the stroke's edge under 1 % of the radius.
        """
        axis = slice_axis_of(view_axis)
        a, b = plane_axes(axis)
        spacing3 = tuple(float(s) for s in (spacing if spacing is not None else self.spacing))
        start = np.asarray(start_ij, float)
        end = np.asarray(end_ij, float)
        length_mm = float(np.hypot((end[0] - start[0]) * spacing3[a],
                                   (end[1] - start[1]) * spacing3[b]))
        step_mm = max(float(radius_mm) / 4.0, 0.5 * min(spacing3[a], spacing3[b]))
        n = max(int(np.ceil(length_mm / step_mm)), 1)
        total = 0
        for t in np.linspace(0.0, 1.0, n + 1)[1:]:
            centre = start + (end - start) * t
            if erase:
                total += self.erase(axis, slice_index, centre, radius_mm, spacing3,
                                    threshold=threshold)
            else:
                total += self.paint(axis, slice_index, centre, radius_mm, spacing3,
                                    label=label, threshold=threshold)
        return total

    # --------------------------------------------------------------- fill holes
    def fill_holes_in_slice(self, view_axis: int | str, slice_index: int, label: int = 1) -> int:
        """Fill background holes enclosed by ``label`` on one slice; returns voxels filled.

        A model's mask often has pinholes and vessel-shaped gaps inside the organ;
        only background (0) voxels are filled, so another label enclosed by this one
        (a lesion drawn as label 2) is kept.
        """
        axis = slice_axis_of(view_axis)
        if not 0 <= int(slice_index) < self.labels.shape[axis]:
            return 0
        box = [slice(None)] * 3
        box[axis] = slice(int(slice_index), int(slice_index) + 1)
        box = tuple(box)
        plane = self.labels[box]
        inside = np.squeeze(plane == int(label), axis=axis)
        if not inside.any():
            return 0
        filled = np.expand_dims(ndimage.binary_fill_holes(inside), axis)
        return self._write(box, filled & (plane == 0), int(label))

    # -------------------------------------------------------------- undo / redo
    def undo(self) -> Box | None:
        """Put back the labels from before the last stroke; returns the box restored."""
        if self._open is not None:
            self.end_stroke()
        if not self._undo:
            return None
        stroke = self._undo.pop()
        self.labels[stroke.box] = stroke.before
        self._redo.append(stroke)
        self.changed += 1
        self._region = union_box(self._region, stroke.box)
        return stroke.box

    def redo(self) -> Box | None:
        """Apply the last undone stroke again; returns the box written."""
        if not self._redo:
            return None
        stroke = self._redo.pop()
        self.labels[stroke.box] = stroke.after
        self._undo.append(stroke)
        self.changed += 1
        self._region = union_box(self._region, stroke.box)
        return stroke.box
