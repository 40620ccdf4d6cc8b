"""Bad input gives exit code 2 and one line on stderr that says what to do, no traceback.

Most cases run the CLI in-process (fast); a few run ``python main.py info`` in a
subprocess to check what a user really sees, logging and warnings included.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tests.conftest import REPO_ROOT
from viewer.cli import main
from viewer.errors import GeometryError, UnreadableFileError, VolumeTooLargeError
from viewer.io import load_volume


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("spleenscope: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------- builders
@pytest.fixture
def truncated_nifti(sample_data, tmp_path) -> Path:
    data = (sample_data / "mr_abdomen.nii.gz").read_bytes()
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def absurd_nifti(tmp_path) -> Path:
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((30_000, 30_000, 30_000))
    path = tmp_path / "absurd.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 1024)
    return path


@pytest.fixture
def mr4_copy(sample_data, tmp_path) -> Path:
    folder = tmp_path / "mr4"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", folder)
    return folder


# ---------------------------------------------------------------- cases
def test_truncated_nii_gz(capsys, truncated_nifti):
    with pytest.raises(UnreadableFileError, match="truncated"):
        load_volume(truncated_nifti)
    assert_one_line_error(*run_cli(capsys, "info", str(truncated_nifti))[::2], "truncated.nii.gz")


def test_gz_that_is_not_gzip(capsys, tmp_path):
    path = tmp_path / "fake.nii.gz"
    path.write_text("this is a text file, not gzip\n" * 20)
    assert_one_line_error(*run_cli(capsys, "info", str(path))[::2], "fake.nii.gz", "not gzip")


def test_file_that_is_neither_nifti_nor_dicom(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("patient notes, not an image\n" * 20)
    assert_one_line_error(*run_cli(capsys, "info", str(path))[::2], "neither NIfTI nor DICOM")


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(*run_cli(capsys, "info", str(tmp_path / "empty"))[::2], "empty")


def test_folder_of_nifti_files_points_at_them(capsys, sample_data, tmp_path):
    folder = tmp_path / "niftis"
    folder.mkdir()
    shutil.copy(sample_data / "mr_abdomen.nii.gz", folder)
    assert_one_line_error(*run_cli(capsys, "info", str(folder))[::2], "mr_abdomen.nii.gz")


def test_missing_path(capsys, tmp_path):
    assert_one_line_error(*run_cli(capsys, "info", str(tmp_path / "nope"))[::2], "no such file")


def test_dicom_without_pixel_data(capsys, mr4_copy):
    for path in mr4_copy.iterdir():
        ds = pydicom.dcmread(path)
        del ds.PixelData
        ds.save_as(path)
    assert_one_line_error(*run_cli(capsys, "info", str(mr4_copy))[::2], "without pixel data")


def test_all_slices_at_one_position(capsys, sample_data):
    code, _, err = run_cli(capsys, "info", str(sample_data / "dicom_edge/notavolume"))
    assert_one_line_error(code, err, "same position")


def test_missing_slice(capsys, mr4_copy):
    sorted(mr4_copy.iterdir())[1].unlink()
    code, _, err = run_cli(capsys, "convert", str(mr4_copy), str(mr4_copy.parent / "out.nii.gz"))
    assert_one_line_error(code, err, "slices 2 and 3", "2 mm apart where the rest are 1 mm")
    assert not (mr4_copy.parent / "out.nii.gz").exists()


def test_mixed_orientations_and_sizes_are_refused_without_a_choice(capsys, sample_data, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", folder / "sagittal")
    shutil.copytree(sample_data / "dicom_edge/mr_non_isotropic_oblique", folder / "oblique")
    code, out, err = run_cli(capsys, "convert", str(folder), str(tmp_path / "out.nii.gz"))
    assert_one_line_error(code, err, "holds 2 series", "--series")
    code, out, err = run_cli(capsys, "info", str(folder))
    assert code == 0 and "2 series found; choose one with --series N" in out


def test_mixed_orientations_within_one_series_uid_are_split(sample_data, tmp_path):
    folder = tmp_path / "scout"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", folder)
    path = sorted(folder.iterdir())[0]
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]  # same UID, now axial
    ds.save_as(path)
    with pytest.raises(Exception, match="holds 2 series"):
        load_volume(folder)


def test_absurd_nifti_size_is_refused_before_allocating(capsys, absurd_nifti):
    with pytest.raises(VolumeTooLargeError):
        load_volume(absurd_nifti)
    assert_one_line_error(*run_cli(capsys, "info", str(absurd_nifti))[::2], "impossible size")


def test_absurd_dicom_size_is_refused_before_allocating(mr4_copy):
    for path in mr4_copy.iterdir():
        ds = pydicom.dcmread(path)
        ds.Rows = ds.Columns = 60_000
        ds.save_as(path)
    with pytest.raises(VolumeTooLargeError, match="60000 x 60000 x 4"):
        load_volume(mr4_copy)


def test_nan_and_inf_load_and_say_so(capsys, tmp_path):
    data = np.ones((5, 5, 5), np.float32)
    data[2, 2, 2], data[1, 1, 1] = np.nan, -np.inf
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    code, out, _ = run_cli(capsys, "info", str(path))
    assert code == 0
    assert "warning: 2 voxels are NaN or infinite" in out


def test_stray_non_dicom_files_do_not_stop_loading(capsys, sample_data):
    code, out, err = run_cli(capsys, "info", str(sample_data / "dicom_edge/sliceorientation"))
    assert code == 0, err
    assert "slices:             2" in out


def test_geometry_error_messages_are_single_lines(sample_data, tmp_path):
    files = sorted((sample_data / "ct_spleen_dicom").iterdir())
    folder = tmp_path / "gaps"
    folder.mkdir()
    for path in files[::3] + files[1:2]:
        shutil.copy(path, folder)
    with pytest.raises(GeometryError) as caught:
        load_volume(folder)
    assert "\n" not in str(caught.value)
    assert "(and " in str(caught.value) or "apart" in str(caught.value)


@pytest.mark.parametrize("case", ["truncated", "not_gzip", "notavolume"])
def test_subprocess_shows_one_line_and_exit_code_2(case, sample_data, tmp_path, truncated_nifti):
    paths = {
        "truncated": truncated_nifti,
        "not_gzip": tmp_path / "plain.nii.gz",
        "notavolume": sample_data / "dicom_edge/notavolume",
    }
    (tmp_path / "plain.nii.gz").write_bytes(gzip.compress(b"x")[2:] + b"not gzip at all")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), "info", str(paths[case])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert_one_line_error(result.returncode, result.stderr)
    assert result.stdout == ""


def test_a_folder_with_too_many_files_is_refused_quickly(tmp_path, monkeypatch):
    import viewer.io.dicom_files as dicom_files

    monkeypatch.setattr(dicom_files, "MAX_FILES", 5)
    for index in range(8):
        (tmp_path / f"file{index}").write_bytes(b"x")
    with pytest.raises(UnreadableFileError, match="more than 5 files"):
        load_volume(tmp_path)
