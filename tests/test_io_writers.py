"""Masks are written on the grid of the file the user opened, atomically, never over input."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest

from viewer.errors import SpleenScopeError
from viewer.io import load_volume
from viewer.io.writers import default_mask_path, save_mask, save_volume


@pytest.mark.parametrize(
    "case",
    [
        "ct_spleen_dicom_label.nii.gz",
        "orientation/nifti_space_PIL.nii.gz",
        "orientation/big_endian_las.nii",
    ],
)
def test_mask_of_a_nifti_has_the_input_shape_and_affine(sample_data, tmp_path, case):
    source = nib.load(str(sample_data / case))
    volume = load_volume(sample_data / case)
    mask = volume.array > np.median(volume.array)
    path = save_mask(volume, mask, tmp_path / "mask.nii.gz")
    written = nib.load(str(path))
    assert written.shape == source.shape[:3]
    np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)
    assert written.get_data_dtype() == np.uint8
    stored = np.asanyarray(source.dataobj)
    assert np.array_equal(
        np.asanyarray(written.dataobj), (stored > np.median(stored)).astype(np.uint8)
    )


def test_label_mask_round_trips_on_the_dicom_source_grid(sample_data, tmp_path):
    ct = load_volume(sample_data / "ct_spleen_dicom")
    label = load_volume(sample_data / "ct_spleen_dicom_label.nii.gz")
    path = save_mask(ct, label.array == 1, tmp_path / "spleen.nii.gz")
    written = nib.load(str(path))
    assert nib.aff2axcodes(written.affine) == ("L", "P", "S")  # the DICOM's own axes
    np.testing.assert_allclose(written.affine, ct.source_affine)
    again = load_volume(path)
    np.testing.assert_allclose(again.affine, ct.affine, atol=1e-5)
    assert ct.mask_volume_ml(again.array) == pytest.approx(249.2, abs=0.05)
    assert written.header["descrip"].tobytes().rstrip(b"\0") == b"SpleenScope"


def test_default_mask_path_sits_beside_the_input(sample_data):
    nifti = load_volume(sample_data / "mr_abdomen.nii.gz")
    assert default_mask_path(nifti) == sample_data / "mr_abdomen_seg.nii.gz"
    dicom = load_volume(sample_data / "dicom_edge/mr4_anatomical")
    assert default_mask_path(dicom) == sample_data / "dicom_edge/mr4_anatomical_seg.nii.gz"
    big_endian = load_volume(sample_data / "orientation/big_endian_las.nii")
    assert default_mask_path(big_endian).name == "big_endian_las_seg.nii"


def test_writers_refuse_the_input_files_inside_a_dicom_folder_and_existing_files(
    sample_data, tmp_path
):
    nifti_copy = tmp_path / "case.nii.gz"
    shutil.copy(sample_data / "mr_abdomen.nii.gz", nifti_copy)
    volume = load_volume(nifti_copy)
    mask = np.zeros(volume.shape, np.uint8)
    with pytest.raises(SpleenScopeError, match="input"):
        save_mask(volume, mask, nifti_copy, overwrite=True)
    folder = tmp_path / "series"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", folder)
    dicom = load_volume(folder)
    with pytest.raises(SpleenScopeError, match="input"):
        save_mask(dicom, np.zeros(dicom.shape, np.uint8), folder / "sub" / "m.nii.gz")
    target = save_mask(volume, mask, tmp_path / "m.nii.gz")
    with pytest.raises(SpleenScopeError, match="already exists"):
        save_volume(volume, target)
    assert save_volume(volume, target, overwrite=True) == target
    with pytest.raises(SpleenScopeError, match=r"\.nii"):
        save_volume(volume, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.nii.gz", "m.nii.gz", "series"]


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    volume = load_volume_phantom()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError):
        save_volume(volume, tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


def load_volume_phantom():
    from viewer.phantom import make_phantom

    return make_phantom(spacing=(4.0, 4.0, 4.0)).volume()
