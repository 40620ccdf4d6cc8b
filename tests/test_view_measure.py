"""Distance ruler core: lengths in patient mm through the view geometry and affine."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.measure import Ruler, format_length, voxel_distance_mm
from viewer.phantom import make_phantom
from viewer.view_state import ViewState


@pytest.fixture(scope="module")
def volume():
    # anisotropic voxels: 0.8 x 0.8 x 5 mm, as thick-slice abdominal CT
    return make_phantom(spacing=(0.8, 0.8, 5.0), field_of_view_mm=(240.0, 200.0, 150.0)).volume()


def test_voxel_distance_uses_spacing():
    affine = np.diag([0.8, 0.8, 5.0, 1.0])
    assert voxel_distance_mm(affine, (0, 0, 0), (0, 0, 10)) == pytest.approx(50.0)
    assert voxel_distance_mm(affine, (0, 0, 0), (30, 40, 0)) == pytest.approx(40.0)  # 3-4-5


def test_voxel_distance_in_an_oblique_sheared_grid():
    rotation = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    linear = rotation @ np.diag([0.7, 0.9, 3.0])
    linear[0, 2] = 0.5  # shear: slices step sideways
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = (-100, 20, 7)
    a, b = np.array([3.0, 4.0, 5.0]), np.array([10.0, -2.0, 9.0])
    expected = np.linalg.norm((affine @ np.r_[b, 1])[:3] - (affine @ np.r_[a, 1])[:3])
    assert voxel_distance_mm(affine, a, b) == pytest.approx(expected)


@pytest.mark.parametrize("view", ["axial", "coronal", "sagittal"])
def test_ruler_along_the_slice_direction_of_another_view(volume, view):
    state = ViewState(volume.affine, volume.shape)
    geometry = state.geometry(view)
    index = geometry.n_slices // 2
    # a line between two voxel centres, drawn in view mm, measures what the affine says
    ijk_a = np.array([10.0, 20.0, 5.0])
    ijk_b = np.array([50.0, 60.0, 25.0])
    ijk_a[geometry.slice_axis] = ijk_b[geometry.slice_axis] = index
    ruler = Ruler(view, index, geometry.voxel_to_view_point(ijk_a), geometry.voxel_to_view_point(ijk_b))
    expected = np.linalg.norm(volume.voxel_to_world(ijk_b) - volume.voxel_to_world(ijk_a))
    assert ruler.length_mm(geometry, volume.affine) == pytest.approx(expected, rel=1e-9)
    start, end = ruler.world_points(geometry, volume.affine)
    assert start == pytest.approx(volume.voxel_to_world(ijk_a))
    assert end == pytest.approx(volume.voxel_to_world(ijk_b))


def test_format_length():
    assert format_length(12.34) == "12.3 mm"
    assert format_length(142.0) == "14.2 cm"
