"""``spleenscope evaluate``: one pair, and folders with a per-case CSV and volume outliers."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from segmentation.evaluation import volume_outliers
from viewer.cli import main

AFFINE = np.diag([2.0, 2.0, 2.5, 1.0])  # 10 mm^3 voxels


def write_box(path, lo, hi, shape=(60, 60, 40)):
    array = np.zeros(shape, np.uint8)
    array[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = 1
    nib.save(nib.Nifti1Image(array, AFFINE), path)
    return path


def test_pair_json_has_hand_computed_values(tmp_path, capsys):
    pred = write_box(tmp_path / "pred.nii.gz", (0, 0, 0), (10, 10, 10))
    ref = write_box(tmp_path / "ref.nii.gz", (5, 0, 0), (15, 10, 10))
    assert main(["evaluate", str(pred), str(ref), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["dice"] == pytest.approx(0.5)
    assert row["iou"] == pytest.approx(1 / 3)
    assert row["volume_pred_ml"] == pytest.approx(10.0)  # 1000 voxels x 10 mm^3
    assert row["volume_diff_ml"] == pytest.approx(0.0)
    assert len(row["per_slice_dice"]) == 40
    assert row["per_slice_dice"][0] == pytest.approx(0.5) and row["per_slice_dice"][20] is None


def test_pair_on_different_grids_is_a_one_line_error(tmp_path, capsys):
    pred = write_box(tmp_path / "pred.nii.gz", (0, 0, 0), (10, 10, 10))
    ref = write_box(tmp_path / "ref.nii.gz", (0, 0, 0), (10, 10, 10), shape=(60, 60, 41))
    assert main(["evaluate", str(pred), str(ref)]) == 2
    assert "different voxel grids" in capsys.readouterr().err


def test_folder_mode_writes_csv_and_flags_volume_outliers(tmp_path, capsys):
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    sizes = {"a": 20, "b": 21, "c": 22, "d": 20, "huge": 38}  # huge: 38^2*30 voxels = 433 mL
    for name, size in sizes.items():
        write_box(preds / f"{name}_seg.nii.gz", (0, 0, 0), (size, size, 30))
        write_box(refs / f"{name}.nii.gz", (0, 0, 0), (20, 20, 30))
    table = tmp_path / "cases.csv"
    assert main(["evaluate", str(preds), str(refs), "--csv", str(table), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["case"] for row in report["cases"]] == sorted(sizes)
    assert list(report["outliers"]) == ["huge"] and "IQR" in report["outliers"]["huge"]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 5
    by_case = {row["case"]: row for row in rows}
    assert float(by_case["a"]["dice"]) == pytest.approx(1.0)
    assert by_case["huge"]["volume_outlier"] == "True"
    assert report["summary"]["dice"]["min"] == pytest.approx(2 * 400 / (400 + 38 * 38), abs=1e-4)


def test_absolute_limit_catches_the_prototype_case():
    """The prototype's outlier: one case above 500,000 mm^3 = 500 mL."""
    reasons = volume_outliers({"ok": 220.0, "leak": 512.3})
    assert list(reasons) == ["leak"] and "500 mL" in reasons["leak"]


def test_single_folder_reports_volumes_only(tmp_path, capsys):
    preds = tmp_path / "pred"
    preds.mkdir()
    write_box(preds / "x.nii.gz", (0, 0, 0), (10, 10, 10))
    assert main(["evaluate", str(preds), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cases"][0]["volume_pred_ml"] == pytest.approx(10.0)


def test_pair_csv_has_one_row(tmp_path, capsys):
    pred = write_box(tmp_path / "pred.nii.gz", (0, 0, 0), (10, 10, 10))
    ref = write_box(tmp_path / "ref.nii.gz", (5, 0, 0), (15, 10, 10))
    table = tmp_path / "table.csv"
    assert main(["evaluate", str(pred), str(ref), "--csv", str(table)]) == 0
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 1 and rows[0]["case"] == "pred.nii.gz"
    assert float(rows[0]["dice"]) == pytest.approx(0.5)
    assert main(["evaluate", str(pred), str(ref), "--csv", str(tmp_path / "no" / "t.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write the table" in err
