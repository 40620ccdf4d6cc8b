"""Overlay slices as RGBA images, fast enough for every mouse move.

A layer's colours and opacity become one (n_labels, 4) uint8 lookup table, so a
slice is one fancy-index (``lut[labels]``), no per-label loop. Outlines (label
boundaries) are computed per slice once and cached, keyed by (view, index).
Qt-free.
"""

from __future__ import annotations

import numpy as np

from viewer.overlays import OverlayLayer


def color_lut(layer: OverlayLayer) -> np.ndarray:
    """(max_label + 1, 4) uint8 RGBA table; label 0 is transparent."""
    top = max(max(layer.colors, default=0), int(layer.labels.max()) if layer.labels.size else 0)
    size = 256 if layer.labels.dtype == np.uint8 else top + 1
    lut = np.zeros((max(size, top + 1), 4), dtype=np.uint8)
    alpha = int(round(np.clip(layer.opacity, 0.0, 1.0) * 255))
    for label, (r, g, b) in layer.colors.items():
        if 0 < label < lut.shape[0]:
            lut[label] = (r, g, b, alpha)
    return lut


def apply_lut(lut: np.ndarray, labels2d: np.ndarray) -> np.ndarray:
    """``lut[labels2d]`` as (h, v, 4) uint8, about 10x faster than fancy indexing.

    Each RGBA row is viewed as one uint32, so ``np.take`` moves one word per pixel
    instead of four bytes; the labels are made contiguous first (a strided gather
    from a large volume is the slow part otherwise).
    """
    words = np.ascontiguousarray(lut).view(np.uint32).reshape(-1)
    if not (labels2d.flags.c_contiguous or labels2d.flags.f_contiguous):
        labels2d = labels2d.copy(order="K")
    if labels2d.flags.c_contiguous:
        return np.take(words, labels2d, mode="clip").view(np.uint8).reshape(labels2d.shape + (4,))
    # F-ordered plane: work on its C-ordered transpose and hand back a transposed view
    rgba_t = np.take(words, labels2d.T, mode="clip").view(np.uint8)
    return rgba_t.reshape(labels2d.T.shape + (4,)).transpose(1, 0, 2)


def outline_mask(labels2d: np.ndarray) -> np.ndarray:
    """Pixels of a label whose 4-neighbour differs (inner boundary), as a label image."""
    edge = np.zeros(labels2d.shape, dtype=bool)
    a = labels2d
    diff_x = a[1:, :] != a[:-1, :]
    diff_y = a[:, 1:] != a[:, :-1]
    edge[1:, :] |= diff_x
    edge[:-1, :] |= diff_x
    edge[:, 1:] |= diff_y
    edge[:, :-1] |= diff_y
    edge &= a != 0
    out = np.zeros_like(a)
    out[edge] = a[edge]
    return out


class LayerRenderer:
    """Cached RGBA rendering of one layer's slices.

    Call :meth:`invalidate` when the labels change; colour or opacity changes only
    rebuild the small lookup table.
    """

    def __init__(self, layer: OverlayLayer) -> None:
        self.layer = layer
        self._lut_key: tuple | None = None
        self._lut = np.zeros((1, 4), np.uint8)
        self._outline_cache: dict[tuple[str, int], np.ndarray] = {}

    def invalidate(self) -> None:
        self._outline_cache.clear()
        self._lut_key = None

    def lut(self) -> np.ndarray:
        key = (tuple(sorted(self.layer.colors.items())), round(self.layer.opacity, 4))
        if key != self._lut_key:
            self._lut = color_lut(self.layer)
            self._lut_key = key
        return self._lut

    def render(self, view: str, index: int, labels2d: np.ndarray) -> np.ndarray:
        """RGBA (h, v, 4) uint8 for one slice, in the same layout as ``labels2d``."""
        lut = self.lut()
        if self.layer.mode == "outline":
            key = (view, int(index))
            cached = self._outline_cache.get(key)
            if cached is None:
                cached = outline_mask(labels2d)
                self._outline_cache[key] = cached
            labels2d = cached
            lut = lut.copy()
            lut[1:, 3] = np.where(lut[1:, 3] > 0, 255, 0)  # outlines are drawn opaque
        return apply_lut(lut, labels2d)
