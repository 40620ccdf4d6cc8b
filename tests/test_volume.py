"""The Volume's geometry helpers, checked against analytic phantoms in every axis order."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.phantom import make_phantom

AXIS_ORDERS = ["RAS", "LPS", "LAS", "PIL", "ASR", "SRA"]


@pytest.mark.parametrize("axcodes", AXIS_ORDERS)
def test_mask_round_trips_to_the_files_own_grid(axcodes):
    phantom = make_phantom(spacing=(3.0, 2.5, 4.0), axcodes=axcodes)
    volume = phantom.volume()
    stored_mask = np.asarray(phantom.mask.dataobj)

    on_source = volume.to_source_grid(phantom.canonical_mask())

    assert on_source.shape == stored_mask.shape
    np.testing.assert_array_equal(on_source, stored_mask)
    np.testing.assert_array_equal(volume.from_source_grid(stored_mask), phantom.canonical_mask())


@pytest.mark.parametrize("axcodes", AXIS_ORDERS)
def test_canonical_grid_runs_toward_right_anterior_superior(axcodes):
    volume = make_phantom(spacing=(3.0, 2.5, 4.0), axcodes=axcodes).volume()
    assert volume.orientation == ("R", "A", "S")
    assert volume.source_orientation == tuple(axcodes)
    np.testing.assert_allclose(volume.spacing, (3.0, 2.5, 4.0))


def test_world_and_voxel_conversions_are_inverse():
    volume = make_phantom(spacing=(1.5, 1.5, 3.0), axcodes="LPS").volume()
    ijk = np.array([[0, 0, 0], [10, 20, 5], [99, 80, 30]], dtype=float)
    np.testing.assert_allclose(volume.world_to_voxel(volume.voxel_to_world(ijk)), ijk, atol=1e-9)


def test_spleen_centre_is_on_the_patients_left():
    phantom = make_phantom(spacing=(2.0, 2.0, 2.0), axcodes="LPS")
    volume = phantom.volume()
    centre = volume.world_to_nearest_voxel(phantom.spleen_center_mm)
    assert phantom.canonical_mask()[tuple(centre)] == 1
    # RAS+: x grows toward the patient's right, so the left-sided spleen has x < 0.
    assert volume.voxel_to_world(centre)[0] < 0
    assert volume.mask_volume_ml(phantom.canonical_mask()) == pytest.approx(
        phantom.spleen_volume_ml, rel=0.01
    )
