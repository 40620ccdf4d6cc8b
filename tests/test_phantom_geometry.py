"""The synthetic phantom, stored in several axis orders and spacings, read back through
``load_volume``: its analytic spleen volume and centre must come out right."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from viewer.io import load_volume
from viewer.io.writers import save_mask
from viewer.phantom import make_phantom

CASES = [
    ("RAS", (1.0, 1.0, 2.0)),
    ("LPS", (0.8, 0.8, 2.5)),
    ("LAS", (1.5, 1.5, 1.5)),
    ("PIL", (1.2, 0.9, 3.0)),
    ("SRA", (2.0, 1.0, 1.0)),
    ("ASR", (1.0, 2.0, 1.25)),
]


@pytest.mark.parametrize("axcodes, spacing", CASES)
def test_phantom_volume_and_centre_survive_a_round_trip(tmp_path, axcodes, spacing):
    phantom = make_phantom(spacing=spacing, axcodes=axcodes)
    image_path, mask_path = tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz"
    nib.save(phantom.image, image_path)
    nib.save(phantom.mask, mask_path)
    volume, mask = load_volume(image_path), load_volume(mask_path)

    assert volume.source_orientation == tuple(axcodes)
    assert volume.orientation == ("R", "A", "S")
    np.testing.assert_allclose(volume.spacing, spacing, atol=1e-6)
    np.testing.assert_allclose(mask.affine, volume.affine)
    spleen = mask.array > 0
    assert volume.mask_volume_ml(spleen) == pytest.approx(phantom.spleen_volume_ml, rel=0.01)

    centre = volume.voxel_to_world(np.argwhere(spleen).mean(axis=0))
    np.testing.assert_allclose(centre, phantom.spleen_center_mm, atol=max(spacing))
    assert centre[0] < 0  # the spleen is on the patient's left: negative x in RAS
    nearest = volume.world_to_nearest_voxel(phantom.spleen_center_mm)
    assert volume.array[tuple(nearest)] == pytest.approx(110.0)  # spleen HU


@pytest.mark.parametrize("axcodes, spacing", CASES[:3])
def test_mask_saved_from_canonical_lands_on_the_phantom_file_grid(tmp_path, axcodes, spacing):
    phantom = make_phantom(spacing=spacing, axcodes=axcodes)
    nib.save(phantom.image, tmp_path / "image.nii.gz")
    volume = load_volume(tmp_path / "image.nii.gz")
    written = nib.load(str(save_mask(volume, phantom.canonical_mask(), tmp_path / "seg.nii.gz")))
    np.testing.assert_allclose(written.affine, phantom.image.affine)
    assert np.array_equal(np.asanyarray(written.dataobj), np.asanyarray(phantom.mask.dataobj))
