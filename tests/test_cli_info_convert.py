"""``spleenscope info`` and ``convert`` on the shared cases, and privacy of their output."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from viewer.cli import main
from viewer.io import load_volume

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName")
PLANTED = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-XYZ",
    "PatientBirthDate": "19450817",
    "AccessionNumber": "ACC99887766",
    "InstitutionName": "Saint Example Hospital",
}


def info_json(capsys, *argv: str) -> dict:
    assert main(["info", "--json", *argv]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


@pytest.mark.parametrize(
    "case, shape, orientation, modality",
    [
        ("ct_spleen_dicom", [512, 512, 20], "LPS", "CT"),
        ("ct_spleen_dicom_label.nii.gz", [512, 512, 20], "LAS", ""),
        ("dicom_edge/mr4_compressed_rle", [4, 256, 256], "PIR", "MR"),
        ("orientation/nifti_space_PIL.nii.gz", [64, 79, 67], "PIL", ""),
    ],
)
def test_info_json_has_the_promised_keys(capsys, sample_data, case, shape, orientation, modality):
    summary = info_json(capsys, str(sample_data / case))
    for key in ("shape", "spacing", "orientation", "affine", "modality", "series", "warnings"):
        assert key in summary
    assert summary["shape"] == shape
    assert summary["orientation"] == "RAS"
    assert summary["source_orientation"] == orientation
    assert summary["modality"] == modality
    volume = load_volume(sample_data / case)
    np.testing.assert_allclose(summary["affine"], volume.affine, atol=1e-5)
    assert summary["slices"] == volume.source_shape[2]
    assert len(summary["series"]) == (1 if modality else 0)


def test_info_text_for_the_ct(capsys, sample_data):
    assert main(["info", str(sample_data / "ct_spleen_dicom")]) == 0
    out = capsys.readouterr().out
    assert "spacing (mm):       0.9766 x 0.9766 x 2" in out
    assert "orientation:        RAS (source LPS" in out
    assert "value range:        -1024 .. " in out
    assert "[0] CT 'CT Body 3.0' 20 slices 512 x 512 LPS" in out


def test_info_lists_series_of_a_folder_and_series_picks_one(capsys, sample_data):
    folder = sample_data / "dicom_edge"
    summary = info_json(capsys, str(folder))
    assert summary["shape"] is None
    assert len(summary["series"]) >= 5
    assert any("--series" in w for w in summary["warnings"])
    oblique = next(s["index"] for s in summary["series"] if s["rows"] == 28)
    chosen = info_json(capsys, str(folder), "--series", str(oblique))
    assert chosen["shape"] == [64, 28, 4]
    assert chosen["selected_series"] == oblique


@pytest.mark.parametrize(
    "case",
    [
        "ct_spleen_dicom",
        "dicom_edge/gantrytilting",
        "orientation/nifti_space_ASR.nii.gz",
        "mr_abdomen.nii.gz",
    ],
)
def test_convert_writes_a_nifti_that_reloads_identically(capsys, sample_data, tmp_path, case):
    out = tmp_path / "converted.nii.gz"
    assert main(["convert", str(sample_data / case), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    original, converted = load_volume(sample_data / case), load_volume(out)
    assert converted.shape == original.shape
    np.testing.assert_allclose(converted.affine, original.affine, atol=1e-4)
    assert converted.array.dtype == original.array.dtype
    assert np.array_equal(converted.array, original.array)
    assert nib.aff2axcodes(nib.load(str(out)).affine) == ("R", "A", "S")
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


def test_convert_never_overwrites_its_input_or_an_existing_file(capsys, sample_data, tmp_path):
    source = tmp_path / "case.nii.gz"
    shutil.copy(sample_data / "mr_abdomen.nii.gz", source)
    before = source.read_bytes()
    assert main(["convert", str(source), str(source), "--overwrite"]) == 2
    assert "input" in capsys.readouterr().err
    assert source.read_bytes() == before

    folder = tmp_path / "dicom"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", folder)
    assert main(["convert", str(folder), str(folder / "inside.nii.gz")]) == 2
    assert not (folder / "inside.nii.gz").exists()
    capsys.readouterr()

    existing = tmp_path / "existing.nii.gz"
    existing.write_bytes(b"keep me")
    assert main(["convert", str(source), str(existing)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert main(["convert", str(source), str(existing), "--overwrite"]) == 0
    assert load_volume(existing).shape == load_volume(source).shape


def test_convert_of_a_folder_with_several_series_needs_a_choice(capsys, sample_data, tmp_path):
    code = main(["convert", str(sample_data / "dicom_edge"), str(tmp_path / "x.nii.gz")])
    assert code == 2
    assert "--series" in capsys.readouterr().err
    assert not (tmp_path / "x.nii.gz").exists()


def _sample_identifiers(sample_data: Path) -> set[str]:
    values = set(PLANTED.values())
    for path in sample_data.rglob("*"):
        if path.is_file() and path.suffix in ("", ".dcm") and path.stat().st_size > 132:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - stray non-DICOM files
                continue
            values.update(str(ds.get(k, "") or "") for k in IDENTIFYING)
    return {v for v in values if len(v) >= 4}


def test_no_identifying_values_in_info_or_written_headers(capsys, sample_data, tmp_path):
    planted = tmp_path / "planted"
    shutil.copytree(sample_data / "dicom_edge/mr4_anatomical", planted)
    for path in planted.iterdir():
        ds = pydicom.dcmread(path)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    identifiers = _sample_identifiers(sample_data)
    assert "Doe^Jane" in identifiers and "dicom2nifti" in identifiers
    for case in (planted, sample_data / "dicom_seg", sample_data / "dicom_edge/gantrytilting"):
        assert main(["info", "--json", str(case)]) == 0
        assert main(["info", str(case)]) == 0
        out = tmp_path / f"{case.name}.nii.gz"
        assert main(["convert", str(case), str(out)]) == 0
        captured = capsys.readouterr()
        header_bytes = gzip.decompress(out.read_bytes())[:1024]
        for value in identifiers:
            assert value not in captured.out and value not in captured.err, value
            assert value.encode() not in header_bytes, value
