"""Preprocessing maps slices to the model grid and back without shifting anything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segmentation.config import ModelConfig
from segmentation.metrics import dice_iou
from segmentation.preprocessing import (
    from_model_grid,
    slice_geometry,
    slice_stack,
    to_model_grid,
    window_to_unit,
)
from viewer.phantom import make_phantom


def centroid_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    ijk = np.argwhere(mask).mean(axis=0)
    return affine[:3, :3] @ ijk + affine[:3, 3]


def test_window_maps_hu_to_unit_range():
    values = np.array([-1000.0, -175.0, 37.5, 250.0, 3000.0])
    assert np.allclose(window_to_unit(values, (-175, 250)), [0, 0, 0.5, 1, 1])
    assert torch.allclose(
        window_to_unit(torch.tensor(values), (-175, 250)),
        torch.tensor([0, 0, 0.5, 1, 1], dtype=torch.float32),
    )


def test_geometry_pads_to_stride_and_reports_true_spacing():
    geometry = slice_geometry(
        (511, 333, 7), (0.83, 1.37, 2.9), axis=2, target_spacing_mm=2.0, pad_multiple=16
    )
    assert geometry.source_shape == (511, 333)
    assert geometry.resampled_shape == (212, 228)
    assert geometry.padded_shape == (224, 240)
    assert np.allclose(geometry.model_spacing_mm, (511 * 0.83 / 212, 333 * 1.37 / 228))


def test_slice_stack_takes_neighbours_with_clamped_edges():
    array = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    stack = slice_stack(array, axis=2, indices=[0, 4], context_slices=1)
    assert stack.shape == (2, 3, 4, 3)
    assert np.array_equal(stack[0, 0], array[:, :, 0])  # clamped below
    assert np.array_equal(stack[0, 2], array[:, :, 1])
    assert np.array_equal(stack[1, 2], array[:, :, 4])  # clamped above
    coronal = slice_stack(array, axis=1, indices=[2])
    assert np.array_equal(coronal[0, 0], array[:, 2, :])


def test_identity_spacing_round_trip_is_exact():
    rng = np.random.default_rng(1)
    slices = torch.from_numpy(rng.random((3, 1, 37, 53), dtype=np.float32))
    geometry = slice_geometry((37, 53, 3), (2.0, 2.0, 5.0), 2, 2.0, 16)
    model = to_model_grid(slices, geometry)
    assert model.shape[-2:] == (48, 64)
    assert torch.equal(from_model_grid(model, geometry), slices)


@pytest.mark.parametrize("axcodes", ["RAS", "LPS"])
def test_oracle_mask_round_trips_onto_source_voxels(axcodes):
    """A perfect mask sent to a 2 mm model grid and back lands on the same voxels."""
    phantom = make_phantom(
        spacing=(0.83, 1.37, 2.9), field_of_view_mm=(251, 223, 139), axcodes=axcodes
    )
    volume = phantom.volume()
    mask = phantom.canonical_mask().astype(bool)
    config = ModelConfig(target_spacing_mm=2.0)
    geometry = slice_geometry(
        volume.shape, volume.spacing, 2, config.target_spacing_mm, config.pad_multiple
    )
    stack = torch.from_numpy(slice_stack(mask.astype(np.float32), 2, range(mask.shape[2])))
    back = from_model_grid(to_model_grid(stack, geometry), geometry)[:, 0].numpy()
    restored = np.moveaxis(back, 0, 2) > 0.5
    dice, _ = dice_iou(restored, mask)
    assert dice > 0.985
    # No half-pixel shift: the centroid stays put to a small fraction of a voxel.
    shift = centroid_mm(restored, volume.affine) - centroid_mm(mask, volume.affine)
    assert np.all(np.abs(shift) < 0.1), shift


def test_analytic_probabilities_on_model_grid_map_back_to_the_true_ellipsoid():
    """Evaluate the spleen ellipsoid at model-pixel centres; the inverse must rebuild the mask."""
    phantom = make_phantom(spacing=(0.77, 0.91, 3.0), field_of_view_mm=(301, 257, 150))
    volume = phantom.volume()
    mask = phantom.canonical_mask().astype(bool)
    geometry = slice_geometry(volume.shape, volume.spacing, 2, 2.0, 16)
    (rows, cols), (pad_r, pad_c) = geometry.resampled_shape, geometry.padded_shape
    # Model pixel i covers source index (i + 0.5) * n / m - 0.5 (align_corners=False).
    i = (np.arange(pad_r) + 0.5) * geometry.source_shape[0] / rows - 0.5
    j = (np.arange(pad_c) + 0.5) * geometry.source_shape[1] / cols - 0.5
    k = np.arange(volume.shape[2], dtype=float)
    grid_i, grid_j, grid_k = np.meshgrid(i, j, k, indexing="ij")
    world = np.stack([grid_i, grid_j, grid_k], -1) @ volume.affine[:3, :3].T + volume.affine[:3, 3]
    a, b, c = 35.0, 55.0, 50.0
    cx, cy, cz = phantom.spleen_center_mm
    radius = np.sqrt(
        ((world[..., 0] - cx) / a) ** 2
        + ((world[..., 1] - cy) / b) ** 2
        + ((world[..., 2] - cz) / c) ** 2
    )
    probability = 1.0 / (1.0 + np.exp((radius - 1.0) * 40.0))
    model_output = torch.from_numpy(np.moveaxis(probability, 2, 0)[:, None].astype(np.float32))
    back = from_model_grid(model_output, geometry)[:, 0].numpy()
    restored = np.moveaxis(back, 0, 2) > 0.5
    dice, _ = dice_iou(restored, mask)
    assert dice > 0.98
    shift = centroid_mm(restored, volume.affine) - centroid_mm(mask, volume.affine)
    assert np.all(np.abs(shift) < 0.15), shift
