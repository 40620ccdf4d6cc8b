"""Overlays drawn from the part of a plane that holds labels look exactly like the
whole plane drawn, and label counts made without a full int64 copy are exact.

The views draw only the box of a layer's labels (nothing for a plane that misses
it); these compare that, pixel for pixel, with the whole plane rendered as before,
in every view, both drawing modes and both memory orders, and after an edit that
grows the box.
"""

from __future__ import annotations

import numpy as np
import pytest

from viewer.overlay_render import LayerRenderer, label_box
from viewer.overlays import OverlayLayer, label_volumes_ml, present_labels
from viewer.slicing import extract_slice, view_geometry

AFFINE = np.diag([0.7, 0.8, 2.5, 1.0])


def _whole_plane(renderer: LayerRenderer, geometry, index: int) -> np.ndarray:
    labels = renderer.layer.labels
    return renderer.render(geometry.view, index,
                           np.ascontiguousarray(extract_slice(labels, geometry, index)))


def _from_part(renderer: LayerRenderer, geometry, index: int, like: np.ndarray) -> np.ndarray:
    part, (h0, v0) = renderer.render_plane(geometry, index)
    canvas = np.zeros_like(like)
    if part is not None:
        canvas[h0:h0 + part.shape[0], v0:v0 + part.shape[1]] = part
    return canvas


def _labels(order: str, low, high, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((40, 50, 30), np.uint8, order=order)
    inside = labels[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
    inside[...] = rng.integers(0, 3, inside.shape)
    return labels


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("mode", ["fill", "outline"])
@pytest.mark.parametrize("low, high", [((5, 7, 3), (20, 30, 12)),  # inside
                                       ((0, 0, 0), (40, 50, 30)),  # touching every edge
                                       ((0, 10, 29), (3, 50, 30))])  # at the far corners
def test_drawing_the_labelled_part_equals_drawing_the_whole_plane(order, mode, low, high):
    labels = _labels(order, low, high, seed=len(low) + high[0])
    whole = LayerRenderer(OverlayLayer("mask", labels, mode=mode))
    parts = LayerRenderer(OverlayLayer("mask", labels, mode=mode))
    skipped = 0
    for view in ("axial", "coronal", "sagittal"):
        geometry = view_geometry(AFFINE, labels.shape, view)
        for index in range(geometry.n_slices):
            expected = _whole_plane(whole, geometry, index)
            np.testing.assert_array_equal(_from_part(parts, geometry, index, expected),
                                          expected, err_msg=f"{view} {index}")
            skipped += parts.render_plane(geometry, index)[0] is None
    # planes outside the labels are not read at all (here: wherever the box ends early)
    assert skipped == sum(n - (h - lo) for n, lo, h in zip(labels.shape, low, high,
                                                           strict=True))


def test_an_edit_outside_the_box_is_drawn_after_the_region_is_announced():
    labels = _labels("F", (10, 10, 10), (20, 20, 20), seed=3)
    layer = OverlayLayer("mask", labels, mode="outline")
    renderer = LayerRenderer(layer)
    axial = view_geometry(AFFINE, labels.shape, "axial")
    assert renderer.render_plane(axial, 2)[0] is None  # nothing there yet
    labels[30:35, 40:45, 2] = 1  # a brush stroke far from the mask
    renderer.invalidate((slice(30, 35), slice(40, 45), slice(2, 3)))
    expected = _whole_plane(LayerRenderer(layer), axial, 2)
    assert expected.any()
    np.testing.assert_array_equal(_from_part(renderer, axial, 2, expected), expected)
    labels[...] = 0
    renderer.invalidate()  # labels changed anywhere: the box is found again
    assert label_box(labels) is None and renderer.render_plane(axial, 15)[0] is None


@pytest.mark.parametrize("top, dtype", [(2, np.uint8), (7, np.uint8), (117, np.uint8),
                                        (300, np.uint16)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_label_counts_match_a_full_bincount(top, dtype, order):
    rng = np.random.default_rng(top)
    labels = np.zeros((64, 70, 33), dtype, order=order)
    chosen = rng.random(labels.shape) < 0.3
    labels[chosen] = rng.integers(1, top + 1, int(chosen.sum()))
    for array in (labels, labels[::2, 5:, :]):  # contiguous and a strided view
        counts = np.bincount(array.reshape(-1).astype(np.int64))
        assert present_labels(array) == [int(v) for v in np.nonzero(counts)[0] if v]
        assert label_volumes_ml(array, 2.0) == {
            int(v): int(counts[v]) * 2.0 / 1000.0 for v in np.nonzero(counts)[0] if v}
