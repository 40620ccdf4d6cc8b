# ruff: noqa: F811 (pytest fixtures imported from tests.pacs_support)
"""A manifest row that names a study on a real PACS (Orthanc): the batch retrieves its CT
series once, segments it like a local study, and no patient value reaches its outputs."""

from __future__ import annotations

import json
import logging

import pytest

from segmentation.registry import bundled_model_path
from tests.pacs_support import PATIENT_ID, PATIENT_NAME, SERIES_UID, STUDY_UID, orthanc, pacs_home  # noqa: F401
from viewer.batch.results import read_results_csv
from viewer.cli import main

pytestmark = pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model")


def test_a_pacs_study_in_the_manifest_is_retrieved_once_and_segmented(
    orthanc, pacs_home, tmp_path, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(f"pacs,study_uid,id\n{orthanc.dimse_node},{STUDY_UID},pacs_ct\n")
    out = tmp_path / "out"
    args = ["batch", str(manifest), "-o", str(out), "--workers", "1", "--device", "cpu",
            "--threads", "2", "--json"]  # fmt: skip
    assert main(args) == 0
    (row,) = read_results_csv(out / "results.csv")
    assert row["study"] == "pacs_ct" and row["status"] == "ok", row["error"]
    retrieved = out / "retrieved" / SERIES_UID
    assert row["input"] == str(retrieved) and len(list(retrieved.iterdir())) == 20
    assert row["mask"].endswith("mask.dcm")  # DICOM from the PACS: a DICOM SEG
    assert 200 < float(row["volume_ml"]) < 300  # the sample CT's spleen is 249 mL
    assert row["volume_is_lower_bound"] == "true"  # ... at least: it reaches the scan's ends
    summary = json.loads((out / "studies" / "pacs_ct" / "summary.json").read_text())
    assert summary["pacs"] == {"node": orthanc.dimse_node, "study_uid": STUDY_UID}

    written = (out / "results.csv").read_text() + json.dumps(summary)
    written += capsys.readouterr().err + caplog.text
    for value in (PATIENT_NAME, PATIENT_NAME.replace("^", " "), PATIENT_ID):
        assert value not in written

    # A rerun skips the finished study and never asks the PACS again.
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["skipped_finished"] == 1


def test_a_pacs_row_needs_a_study_uid(tmp_path, capsys):
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("pacs,study_uid\nORTHANC@127.0.0.1:4242,\n")
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out")]) == 2
    assert "give both pacs and study_uid" in capsys.readouterr().err
