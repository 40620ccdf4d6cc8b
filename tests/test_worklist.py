"""The QA worklist: open a batch's table worst first, filter, accept / correct / reject,
reopen with the decisions kept, one audit line per action, export."""

from __future__ import annotations

import csv
import json
import time

import nibabel as nib
import numpy as np
import pytest

from tests.batch_support import write_small_cases
from viewer.batch.results import row_of, write_results_csv
from viewer.errors import SpleenScopeError
from viewer.io import load_volume
from viewer.io.writers import save_mask
from viewer.worklist import AUDIT_NAME, Worklist, WorklistFilter, file_hash


def _summary(study, verdict=None, dice=None, volume=200.0, low=None, high=None, mask=None):
    summary = {"study": study, "status": "ok", "volume_ml": volume, "dice": dice,
               "model": "m", "device": "CPU", "output": mask, "input": f"/data/{study}.nii.gz",
               "seconds": 1.0}  # fmt: skip
    if verdict is not None:
        summary["quality"] = {"verdict": verdict, "reasons": [f"{verdict} reason"]}
    if low is not None:
        summary["volume_ml_range"] = [low, high]
    return summary


@pytest.fixture
def batch_folder(tmp_path):
    """A batch output with real masks for two studies and six rows of mixed quality."""
    image = write_small_cases(tmp_path / "cases", 1, slices=3, size=48)[0]
    volume = load_volume(image)
    masks = {}
    for study in ("needs_check", "good"):
        mask = np.zeros(volume.shape, np.uint8)
        mask[10:30, 10:30, 1] = 1
        path = tmp_path / "out" / "studies" / study / "mask.nii.gz"
        path.parent.mkdir(parents=True)
        masks[study] = save_mask(volume, mask, path)
    summaries = [
        _summary("good", "ok", dice=0.95, mask=str(masks["good"])),
        _summary("sure_check", "check", dice=0.85, low=190, high=210),
        _summary(
            "needs_check", "check", dice=0.70, low=100, high=300, mask=str(masks["needs_check"])
        ),
        _summary("never_checked", None, dice=0.90),
        _summary("bad", "failed", dice=0.10),
        {"study": "broken", "status": "error", "error": "truncated file", "input": "/data/b"},
    ]
    write_results_csv(tmp_path / "out" / "results.csv", [row_of(s) for s in summaries])
    return tmp_path / "out", volume


def test_open_sorts_worst_first_and_filters(batch_folder):
    folder, _ = batch_folder
    worklist = Worklist.open(folder)
    assert [row.study for row in worklist.rows] == [
        "broken", "bad", "needs_check", "sure_check", "never_checked", "good",
    ]  # fmt: skip
    checks = worklist.visible(WorklistFilter(verdicts={"check"}))
    assert [row.study for row in checks] == ["needs_check", "sure_check"]
    low_dice = worklist.visible(WorklistFilter(max_dice=0.8))
    assert [row.study for row in low_dice] == ["bad", "needs_check"]
    assert [r.study for r in worklist.visible(WorklistFilter(text="CHECK"))] == [
        "needs_check", "sure_check", "never_checked",
    ]  # fmt: skip


def test_decisions_survive_reopening_and_each_is_one_audit_line(batch_folder, tmp_path):
    folder, volume = batch_folder
    worklist = Worklist.open(folder)
    original = worklist.row("needs_check").path("mask")
    original_hash = file_hash(original)

    worklist.accept("good", user="ana")
    canonical = np.zeros(volume.shape, np.uint8)  # the reviewer widened it and added a slice
    canonical[10:30, 10:40, 1:3] = 1
    corrected = worklist.correct("needs_check", volume, canonical, "added the tip", user="ana")
    with pytest.raises(SpleenScopeError, match="comment is required"):
        worklist.reject("bad", "  ", user="ben")
    worklist.reject("bad", "liver segmented instead", user="ben")

    # The original mask is untouched; the correction is a new file beside it.
    assert file_hash(original) == original_hash
    assert (
        corrected.name == "mask_corrected_v1.nii.gz"
        and corrected.parent == folder / "studies/needs_check"
    )
    assert np.count_nonzero(np.asarray(nib.load(corrected).dataobj)) == 20 * 30 * 2

    lines = [json.loads(line) for line in (folder / AUDIT_NAME).read_text().splitlines()]
    assert [(e["study"], e["action"], e["user"]) for e in lines] == [
        ("good", "accept", "ana"), ("needs_check", "correct", "ana"), ("bad", "reject", "ben"),
    ]  # fmt: skip
    for entry in lines:
        assert set(entry) >= {
            "time",
            "user",
            "study",
            "model",
            "verdict",
            "action",
            "comment",
            "files",
        }
    assert lines[1]["files"] == {"mask": original_hash, "corrected": file_hash(corrected)}
    assert lines[2]["verdict"] == "failed" and lines[2]["comment"] == "liver segmented instead"

    reopened = Worklist.open(folder / "results.csv")  # after a restart
    assert reopened.row("good").decision == "accept"
    assert reopened.row("needs_check").decision == "correct"
    assert reopened.row("needs_check").corrected_mask == str(corrected)
    assert reopened.row("bad").comment == "liver segmented instead"
    assert reopened.row("sure_check").decision is None
    undecided = reopened.visible(WorklistFilter(decisions={"undecided"}))
    assert [r.study for r in undecided] == ["broken", "sure_check", "never_checked"]

    # A second correction is version 2; the first stays.
    second = reopened.correct("needs_check", volume, canonical, "", user="ana")
    assert second.name == "mask_corrected_v2.nii.gz" and corrected.is_file()
    assert len((folder / AUDIT_NAME).read_text().splitlines()) == 4

    exported = reopened.export(tmp_path / "reviewed.csv")
    rows = {r["study"]: r for r in csv.DictReader(open(exported, encoding="utf-8"))}
    assert rows["bad"]["decision"] == "reject" and rows["bad"]["reviewer"] == "ben"
    assert rows["needs_check"]["corrected_mask"] == str(second)
    assert rows["sure_check"]["decision"] == ""
    with pytest.raises(SpleenScopeError, match="own table"):
        reopened.export(folder / "results.csv")


def test_a_volume_cut_by_the_scan_is_marked_in_the_table_and_stays_a_number(tmp_path):
    from segmentation.measurements import measure_spleen

    volume = load_volume(write_small_cases(tmp_path / "cases", 1, slices=3, size=48)[0])
    measured, summaries = {}, []
    for study, slices in (("cut", slice(0, 2)), ("inside", slice(1, 2))):
        mask = np.zeros(volume.shape, np.uint8)
        mask[10:30, 10:30, slices] = 1  # "cut" reaches the first slice, "inside" does not
        measured[study] = measure_spleen(mask, volume.affine)
        summaries.append({**_summary(study, "ok"), **measured[study].as_dict(),
                          "volume_is_lower_bound": measured[study].is_lower_bound})  # fmt: skip
    # a study summary written before the flag was recorded: the same measurements decide
    earlier = {k: v for k, v in summaries[0].items() if k != "volume_is_lower_bound"}
    summaries.append({**earlier, "study": "cut_before_the_flag"})
    summaries.append({"study": "broken", "status": "error", "error": "truncated", "input": "x"})
    write_results_csv(tmp_path / "results.csv", [row_of(s) for s in summaries])

    rows = {r["study"]: r for r in csv.DictReader(open(tmp_path / "results.csv", encoding="utf-8"))}
    flags = {study: row["volume_is_lower_bound"] for study, row in rows.items()}
    assert flags == {"cut": "true", "inside": "false", "cut_before_the_flag": "true", "broken": ""}
    assert float(rows["cut"]["volume_ml"]) == pytest.approx(measured["cut"].volume_ml)
    worklist = Worklist.open(tmp_path)
    assert worklist.row("cut").volume_is_lower_bound
    assert not worklist.row("inside").volume_is_lower_bound
    assert not worklist.row("broken").volume_is_lower_bound and worklist.row("broken").failed


def test_opening_a_1000_row_table_takes_under_a_second(tmp_path):
    summaries = [
        _summary(f"case_{i:04d}", ("ok", "check", "failed")[i % 3], dice=(i % 97) / 100,
                 low=100 + i % 50, high=200 + i % 70)
        for i in range(1000)
    ]  # fmt: skip
    write_results_csv(tmp_path / "results.csv", [row_of(s) for s in summaries])
    started = time.perf_counter()
    worklist = Worklist.open(tmp_path)
    seconds = time.perf_counter() - started
    assert len(worklist.rows) == 1000 and worklist.rows[0].verdict == "failed"
    assert seconds < 1.0, seconds


def test_a_folder_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(SpleenScopeError, match="no results.csv"):
        Worklist.open(tmp_path)
