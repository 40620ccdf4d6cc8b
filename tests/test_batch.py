"""``spleenscope batch``: right rows, an error row for a bad file, masks identical to
``segment``'s, the JSON keys of ``segment --json``, and an interrupted run that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest

from segmentation.registry import bundled_model_path
from tests.batch_support import write_small_cases
from tests.conftest import REPO_ROOT, sample_path
from viewer.batch.results import read_results_csv, summary_lines
from viewer.batch.studies import collect_studies
from viewer.cli import main
from viewer.errors import SpleenScopeError
from viewer.io import load_volume
from viewer.overlays import load_mask_for_volume
from viewer.worklist import Worklist

pytestmark = pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model")


def _broken_nifti(folder):
    """A real NIfTI cut short, as a failed copy leaves it."""
    whole = sample_path("mr_abdomen.nii.gz").read_bytes()
    path = folder / "broken.nii.gz"
    path.write_bytes(whole[:5000])
    return path


def test_batch_rows_error_row_and_masks_identical_to_segment(tmp_path, capsys):
    cases = tmp_path / "cases"
    labels = tmp_path / "labels"
    small = write_small_cases(cases, 2, labels=labels)
    _broken_nifti(cases)
    ct_series = sample_path("dicom_seg/ct-3slice")  # 3 real CT slices: a quick DICOM study
    out = tmp_path / "out"
    code = main(
        ["batch", str(cases), str(ct_series), "-o", str(out), "--references", str(labels),
         "--workers", "1", "--device", "cpu", "--threads", "2", "--modality", "ct", "--uncertainty", "--json"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["studies"] == 4 and summary["processed"] == 4
    assert summary["verdicts"].get("error") == 1
    assert [f["study"] for f in summary["failures"]] == ["broken"]

    rows = {row["study"]: row for row in read_results_csv(out / "results.csv")}
    assert sorted(rows) == ["broken", "ct-3slice", "small_00_p01", "small_01_p02"]
    broken = rows["broken"]
    assert broken["status"] == "error" and broken["verdict"] == "error"
    assert "truncated" in broken["error"] and broken["volume_ml"] == "" and broken["mask"] == ""
    assert broken["volume_is_lower_bound"] == ""  # no volume, nothing to qualify
    # A result has a verdict from the self-check, or says it was not checked.
    assert {rows[s]["verdict"] for s in rows if s != "broken"} <= {
        "ok",
        "check",
        "failed",
        "unchecked",
    }

    ct = rows["ct-3slice"]
    assert ct["status"] == "ok" and ct["mask"].endswith("mask.dcm")  # DICOM in, DICOM SEG out
    assert ct["dice"] == ""  # no reference given for it
    ct_json = json.loads((out / "studies" / "ct-3slice" / "summary.json").read_text())
    seg, _notice = load_mask_for_volume(ct["mask"], load_volume(ct_series))
    assert int(np.count_nonzero(seg)) == ct_json["voxels"]  # the SEG holds the result
    assert ct_json["voxels"] > 0 and ct_json["volume_is_lower_bound"] is True  # the 3-slice series cuts it
    assert ct["volume_is_lower_bound"] == "true"

    for path in small:
        study = path.name[: -len(".nii.gz")]
        row = rows[study]
        assert row["status"] == "ok" and row["dice"] != ""
        # The same study through `segment`: the same mask, voxel for voxel, the same keys.
        single = tmp_path / f"{study}_segment.nii.gz"
        assert main(["segment", str(path), "-o", str(single), "--device", "cpu",
                     "--threads", "2", "--modality", "ct", "--json"]) == 0  # fmt: skip
        segment_json = json.loads(capsys.readouterr().out)
        batch_json = json.loads((out / "studies" / study / "summary.json").read_text())
        assert set(segment_json) <= set(batch_json)
        assert batch_json["voxels"] == segment_json["voxels"]
        # a 4-slice crop through the spleen: any spleen found there runs past the crop, so
        # its volume is a minimum (an empty mask is no lower bound of anything)
        assert batch_json["volume_is_lower_bound"] is (batch_json["voxels"] > 0)
        assert row["volume_is_lower_bound"] == str(batch_json["voxels"] > 0).lower()
        assert float(row["volume_ml"]) == segment_json["volume_ml"]
        assert batch_json["quality"] == segment_json["quality"]
        assert row["verdict"] == segment_json["quality"]["verdict"]
        low, high = segment_json["volume_ml_range"]
        assert (float(row["volume_ml_low"]), float(row["volume_ml_high"])) == (low, high)
        uncertainty = nib.load(row["uncertainty"])  # asked for: on the input's own grid
        assert uncertainty.shape == nib.load(path).shape
        assert np.array_equal(uncertainty.affine, nib.load(path).affine)
        assert (out / "studies" / study / "thumbnail.png").is_file()
        ours, theirs = nib.load(row["mask"]), nib.load(single)
        assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
        assert np.array_equal(ours.affine, theirs.affine) and ours.shape == nib.load(path).shape
        # Dice in the row is the mask's Dice against the reference given for it.
        reference = np.asarray(nib.load(labels / path.name).dataobj) > 0
        mask = np.asarray(ours.dataobj) > 0
        expected = 2 * (mask & reference).sum() / (mask.sum() + reference.sum())
        assert float(row["dice"]) == pytest.approx(expected, abs=1e-4)


def test_the_sample_ct_cut_by_the_scan_is_a_lower_bound_in_the_table(tmp_path, capsys):
    from viewer.ui.worklist_model import COLUMNS, cell_text

    out = tmp_path / "out"
    args = ["batch", str(sample_path("ct_spleen_dicom")), "-o", str(out), "--workers", "1",
            "--device", "cpu", "--threads", "2", "--json"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["volume_lower_bounds"] == 1
    assert "1 of them at least" in "\n".join(summary_lines(summary))
    (row,) = read_results_csv(out / "results.csv")
    # The sample CT's spleen reaches the first and last slices: its volume is a minimum,
    # said in its own column; the volume stays a plain number for spreadsheets.
    assert row["status"] == "ok" and row["volume_is_lower_bound"] == "true"
    volume_ml = float(row["volume_ml"])
    assert 200 < volume_ml < 300
    study = json.loads((out / "studies" / row["study"] / "summary.json").read_text())
    assert study["volume_is_lower_bound"] is True and study["touches_scan_edge"] is True
    # The worklist made from this table says "at least" before the volume.
    (listed,) = Worklist.open(out).rows
    assert listed.volume_is_lower_bound
    assert cell_text(listed, COLUMNS.index("volume mL")) == f"at least {volume_ml:.1f}"


def test_interrupted_batch_resumes_without_half_written_studies(tmp_path):
    cases = tmp_path / "cases"
    write_small_cases(cases, 6, slices=3)
    out = tmp_path / "out"
    command = [sys.executable, str(REPO_ROOT / "main.py"), "batch", str(cases), "-o", str(out),
               "--workers", "1", "--device", "cpu", "--threads", "1", "--modality", "ct"]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    studies = out / "studies"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list(studies.glob("*/summary.json")) if studies.is_dir() else []
        if done or child.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # no chance to tidy up: the worst interruption
    child.wait()
    finished_before = {p.parent.name: p.stat().st_mtime_ns for p in studies.glob("*/summary.json")}
    assert 1 <= len(finished_before) < 6, "the run was not interrupted part way"
    # Every study folder under its real name is complete; anything else is hidden.
    for folder in studies.iterdir():
        if not folder.name.startswith("."):
            assert (folder / "summary.json").is_file() and (folder / "mask.nii.gz").is_file()

    code = main(["batch", str(cases), "-o", str(out), "--workers", "1", "--device", "cpu",
                 "--threads", "1", "--modality", "ct", "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_finished"] == len(finished_before)
    assert summary["processed"] == 6 - len(finished_before)
    for study, mtime in finished_before.items():  # skipped, not redone
        assert (studies / study / "summary.json").stat().st_mtime_ns == mtime
    assert not [p for p in studies.iterdir() if p.name.startswith(".")]
    rows = read_results_csv(out / "results.csv")
    assert len(rows) == 6 and all(row["status"] == "ok" for row in rows)


def test_rerun_retries_failed_and_refuses_other_settings(tmp_path, capsys):
    cases = tmp_path / "cases"
    write_small_cases(cases, 1, slices=2)
    broken = _broken_nifti(cases)
    out = tmp_path / "out"
    args = ["batch", str(cases), "-o", str(out), "--workers", "1", "--device", "cpu",
            "--modality", "ct"]  # fmt: skip
    assert main(args) == 0
    assert json.loads((out / "studies/broken/summary.json").read_text())["status"] == "error"
    # The user replaces the bad file; the rerun tries it again and skips the good one.
    broken.write_bytes(sample_path("mr_abdomen.nii.gz").read_bytes())
    assert main(args + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["skipped_finished"] == 1 and summary["processed"] == 1
    assert summary["failures"] == []
    # Resuming with another slicing axis would mix two kinds of result in one table.
    assert main(args + ["--axis", "coronal"]) == 2
    assert "other settings (axis)" in capsys.readouterr().err


def test_manifest_csv_with_references_and_unique_ids(tmp_path):
    cases = write_small_cases(tmp_path / "cases", 2, slices=2, labels=tmp_path / "labels")
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(
        "path,reference,id\n"
        f"cases/{cases[0].name},labels/{cases[0].name},first case\n"
        f"{cases[1]},,\n"
        f"{cases[1].parent}/../cases/{cases[0].name},,first case\n"
    )
    studies = collect_studies([manifest])
    assert [s.study_id for s in studies] == ["first_case", "small_01_p02"]  # duplicate dropped
    assert studies[0].reference == str((tmp_path / "labels" / cases[0].name).resolve())
    with pytest.raises(SpleenScopeError, match="no such file"):
        collect_studies([tmp_path / "missing"])
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(SpleenScopeError, match="manifest is empty"):
        collect_studies([empty])


def test_worker_plan_is_one_worker_per_gpu_else_shares_the_cores(monkeypatch):
    import torch

    from viewer.batch import local_engine
    from viewer.batch.study_task import BatchOptions

    options = BatchOptions(outdir="unused")
    monkeypatch.setattr(local_engine, "available_cores", lambda: 16)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    cpu = local_engine.plan_workers(options, None)
    assert cpu.devices == ("auto",) * 8 and cpu.threads == 2  # 16 cores: 8 workers x 2
    # No GPU can be lent to this test; the plan for a 4-GPU node is what the code decides.
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    gpu = local_engine.plan_workers(options, None)
    assert gpu.devices == ("cuda:0", "cuda:1", "cuda:2", "cuda:3") and gpu.threads == 4
    assert local_engine.plan_workers(options, 6).devices[4:] == ("cuda:0", "cuda:1")
    forced_cpu = local_engine.plan_workers(BatchOptions(outdir="unused", device="cpu"), None)
    assert forced_cpu.devices == ("cpu",) * 8
