"""Metrics agree with values worked out by hand on synthetic shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segmentation.metrics import (
    dice_iou,
    difference_map,
    evaluate_masks,
    per_slice_dice,
    surface_distances,
)


def box(shape, lo, hi):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=False))] = True
    return mask


def sphere(shape, centre_mm, radius_mm, spacing):
    grids = np.meshgrid(
        *(np.arange(n) * s for n, s in zip(shape, spacing, strict=False)),
        indexing="ij",
        sparse=True,
    )
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm, strict=False)) <= radius_mm**2


def test_dice_and_iou_of_overlapping_boxes_are_exact():
    a = box((20, 20, 20), (0, 0, 0), (10, 10, 10))  # 1000 voxels
    b = box((20, 20, 20), (5, 0, 0), (15, 10, 10))  # 1000 voxels, 500 shared
    dice, iou = dice_iou(a, b)
    assert dice == pytest.approx(2 * 500 / 2000)
    assert iou == pytest.approx(500 / 1500)
    assert dice_iou(np.zeros((3, 3, 3)), np.zeros((3, 3, 3))) == (1.0, 1.0)


def test_volumes_use_the_affine_determinant():
    affine = np.diag([0.5, 0.8, 2.5, 1.0])  # 1 mm^3 voxels
    a = box((20, 20, 20), (0, 0, 0), (10, 10, 10))
    b = box((20, 20, 20), (0, 0, 0), (10, 10, 8))
    result = evaluate_masks(a, b, affine)
    assert result.volume_pred_ml == pytest.approx(1.0)
    assert result.volume_ref_ml == pytest.approx(0.8)
    assert result.volume_diff_ml == pytest.approx(0.2)
    assert result.volume_diff_pct == pytest.approx(25.0)


def test_concentric_spheres_are_exactly_the_radius_difference_apart():
    spacing = (1.0, 1.0, 1.0)
    inner = sphere((64, 64, 64), (32, 32, 32), 10.0, spacing)
    outer = sphere((64, 64, 64), (32, 32, 32), 16.0, spacing)
    hd95, assd = surface_distances(inner, outer, spacing)
    assert hd95 == pytest.approx(6.0, abs=1.0)
    assert assd == pytest.approx(6.0, abs=1.0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.0)])
def test_two_spheres_apart_match_the_analytic_surface_distances(spacing):
    """Sphere B is sphere A moved by d: distances from A's surface to B's are analytic.

    A point of A's surface at polar angle theta from the displacement is
    |sqrt(r^2 + d^2 - 2 r d cos theta) - r| from B's surface, and cos theta is uniform
    on [-1, 1] over a sphere (Archimedes), so the percentile and mean follow exactly.
    """
    r, d = 15.0, 8.0
    extent = 80.0
    shape = tuple(int(extent / s) for s in spacing)
    a = sphere(shape, (35.0, 40.0, 40.0), r, spacing)
    b = sphere(shape, (35.0 + d, 40.0, 40.0), r, spacing)
    t = np.linspace(-1, 1, 200001)
    distances = np.abs(np.sqrt(r**2 + d**2 - 2 * r * d * t) - r)
    hd95_true = float(np.percentile(distances, 95))
    assd_true = float(distances.mean())
    hd95, assd = surface_distances(a, b, spacing)
    voxel = max(spacing)
    assert hd95 == pytest.approx(hd95_true, abs=voxel)
    assert assd == pytest.approx(assd_true, abs=voxel)
    evaluation = evaluate_masks(a, b, np.diag([*spacing, 1.0]))
    assert evaluation.hd95_mm == pytest.approx(hd95)


def test_empty_prediction_gives_nan_distances_and_zero_dice():
    ref = box((10, 10, 10), (2, 2, 2), (5, 5, 5))
    result = evaluate_masks(np.zeros_like(ref), ref, np.eye(4))
    assert result.dice == 0.0
    assert math.isnan(result.hd95_mm)
    assert result.as_dict()["hd95_mm"] is None


def test_per_slice_dice_is_nan_where_both_are_empty():
    a = box((10, 10, 4), (0, 0, 1), (4, 4, 3))
    b = box((10, 10, 4), (0, 0, 2), (4, 2, 4))
    dice = per_slice_dice(a, b, axis=2)
    assert math.isnan(dice[0])
    assert dice[1] == 0.0
    assert dice[2] == pytest.approx(2 * 8 / (16 + 8))
    assert dice[3] == 0.0


def test_difference_map_codes():
    pred = np.array([[[1, 1, 0, 0]]])
    ref = np.array([[[1, 0, 1, 0]]])
    assert difference_map(pred, ref).ravel().tolist() == [1, 2, 3, 0]
