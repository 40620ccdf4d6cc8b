"""NIfTI reading against the orientation and header cases in the sample data."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from viewer.io import load_volume
from viewer.io.writers import canonical_to_source_grid

SPACES = ("RAS", "LAS", "LPS", "PIL", "ASR", "SRA")


def _nibabel_canonical(path):
    """What nibabel itself makes of the file: the reference for every affine here."""
    image = nib.as_closest_canonical(nib.load(str(path)))
    data = np.asanyarray(image.dataobj)
    if data.ndim > 3:
        data = data[..., 0]
    return data, image.affine


def test_six_axis_orders_give_identical_canonical_arrays_and_affines(sample_data):
    volumes = [load_volume(sample_data / f"orientation/nifti_space_{s}.nii.gz") for s in SPACES]
    reference = volumes[0]
    assert reference.orientation == ("R", "A", "S")
    for space, volume in zip(SPACES, volumes, strict=True):
        assert volume.source_orientation == tuple(space), space
        assert volume.shape == reference.shape
        np.testing.assert_allclose(volume.affine, reference.affine, atol=1e-4, err_msg=space)
        assert np.array_equal(volume.array, reference.array), space
        assert volume.warnings == ()


@pytest.mark.parametrize(
    "name",
    [
        "orientation/sform_only.nii.gz",
        "orientation/qform_only_label.nii.gz",
        "orientation/nifti2.nii.gz",
        "orientation/big_endian_las.nii",
        "mr_abdomen.nii.gz",
    ],
)
def test_affine_and_voxels_match_nibabel_closest_canonical(sample_data, name):
    volume = load_volume(sample_data / name)
    data, affine = _nibabel_canonical(sample_data / name)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)
    assert volume.shape == data.shape
    assert np.array_equal(volume.array, data)
    assert volume.array.dtype.byteorder in ("=", "|")  # big-endian input comes out native


def test_big_endian_las_keeps_its_source_grid(sample_data):
    path = sample_data / "orientation/big_endian_las.nii"
    volume = load_volume(path)
    image = nib.load(str(path))
    assert image.header.endianness == ">"
    assert volume.source_orientation == ("L", "A", "S")
    np.testing.assert_allclose(volume.source_affine, image.affine)
    assert volume.source_shape == image.shape
    assert np.array_equal(
        canonical_to_source_grid(volume, volume.array), np.asanyarray(image.dataobj)
    )


def test_sheared_sform_is_used_and_the_disagreement_is_reported(sample_data):
    path = sample_data / "orientation/shear_sform_vs_qform.nii.gz"
    volume = load_volume(path)
    header = nib.load(str(path)).header
    sform = header.get_sform()
    np.testing.assert_allclose(volume.source_affine, sform, atol=1e-5)
    assert not np.allclose(sform, header.get_qform(), atol=1e-3)
    assert any("sform and qform disagree" in w for w in volume.warnings)
    assert volume.array.dtype == np.float32  # float64 on disk, narrowed


def test_4d_input_takes_the_first_volume_and_says_so(sample_data):
    path = sample_data / "orientation/oblique_4d.nii.gz"
    volume = load_volume(path)
    data, affine = _nibabel_canonical(path)
    assert nib.load(str(path)).ndim == 4
    assert any("first one" in w for w in volume.warnings)
    assert np.array_equal(volume.array, data)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)


def test_nan_and_inf_voxels_load_with_a_warning(tmp_path):
    data = np.zeros((4, 5, 6), np.float32)
    data[1, 2, 3], data[0, 0, 0] = np.nan, np.inf
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    volume = load_volume(path)
    assert any("2 voxels are NaN or infinite" in w for w in volume.warnings)
    assert volume.value_range == (0.0, 0.0)


def test_scaled_integers_come_out_as_float32_values(tmp_path):
    stored = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    image = nib.Nifti1Image(stored, np.diag([2.0, 2.0, 3.0, 1.0]))
    image.header.set_slope_inter(0.5, -10.0)
    path = tmp_path / "scaled.nii"
    nib.save(image, path)
    volume = load_volume(path)
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array, stored * 0.5 - 10.0)


def test_file_without_nifti_suffix_is_recognised_by_its_header(tmp_path):
    path = tmp_path / "volume.img"
    nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.int16), np.eye(4)), tmp_path / "x.nii")
    path.write_bytes((tmp_path / "x.nii").read_bytes())
    assert load_volume(path).shape == (3, 3, 3)
    gz = tmp_path / "volume_gz"
    gz.write_bytes(gzip.compress((tmp_path / "x.nii").read_bytes()))
    assert load_volume(gz).shape == (3, 3, 3)


def test_big_endian_nifti2_4d_with_scaling_matches_nibabel(tmp_path):
    rng = np.random.default_rng(3)
    stored = rng.integers(-500, 500, size=(6, 7, 5, 3)).astype(">i2")
    affine = np.array([[0, 0, -2.5, 30], [1.5, 0, 0, -20], [0, -1.2, 0, 10], [0, 0, 0, 1]])
    image = nib.Nifti2Image(stored, affine)
    image.header.set_slope_inter(0.25, 7.0)
    path = tmp_path / "scaled_be.nii.gz"
    nib.save(image, path)
    volume = load_volume(path)
    expected, expected_affine = _nibabel_canonical(path)
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array, expected, rtol=1e-6)
    np.testing.assert_allclose(volume.affine, expected_affine, atol=1e-6)
    assert any("3 volumes" in w for w in volume.warnings)
    assert volume.array.flags.writeable


def test_colour_nifti_is_refused_clearly(tmp_path):
    from viewer.errors import UnreadableFileError

    rgb = np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    path = tmp_path / "rgb.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), path)
    with pytest.raises(UnreadableFileError, match="colour or complex"):
        load_volume(path)
