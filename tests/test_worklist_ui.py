# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""The worklist in the real window: open a batch's results, worst first with thumbnails,
open a study with its mask and reference, N / P, accept / correct / reject, reopen."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PyQt5.QtCore import Qt

from segmentation.measurements import measure_spleen
from tests.app_support import answers, isolated_home, window  # noqa: F401
from tests.batch_support import write_small_cases
from viewer.batch.results import row_of, write_results_csv
from viewer.batch.thumbnail import render_thumbnail, write_thumbnail
from viewer.io import load_volume
from viewer.io.writers import save_mask
from viewer.ui.worklist_model import (
    COLUMNS,
    LOWER_BOUND_COLOUR,
    VERDICT_COLOURS,
    verdict_colour,
)
from viewer.worklist import AUDIT_NAME, WorklistRow, file_hash


@pytest.fixture
def batch_folder(tmp_path):
    """A batch output made of real files: three studies with masks and references,
    thumbnails, and one study the batch failed on. The masks reach the first of the
    crops' three slices: each volume is a minimum, as the batch measures it."""
    images = write_small_cases(tmp_path / "cases", 3, slices=3, size=48, labels=tmp_path / "refs")
    out = tmp_path / "out"
    summaries = []
    for image, verdict, dice in zip(images, ("ok", "check", "failed"), (0.93, 0.71, 0.12),
                                    strict=True):  # fmt: skip
        volume = load_volume(image)
        study = image.name[: -len(".nii.gz")]
        folder = out / "studies" / study
        folder.mkdir(parents=True)
        mask = np.zeros(volume.shape, np.uint8)
        mask[10:30, 12:30, 0:2] = 1
        mask_path = save_mask(volume, mask, folder / "mask.nii.gz")
        thumb = write_thumbnail(
            folder / "thumbnail.png", render_thumbnail(volume.array, mask, volume.spacing)
        )
        measured = measure_spleen(mask, volume.affine)
        summaries.append({
            **measured.as_dict(), "volume_is_lower_bound": measured.is_lower_bound,
            "study": study, "status": "ok", "dice": dice,
            "volume_ml_range": [10.0, 15.0], "model": "m", "device": "CPU", "seconds": 1,
            "quality": {"verdict": verdict, "reasons": [f"{verdict} because"]},
            "output": str(mask_path), "thumbnail": str(thumb), "input": str(image),
            "reference": str(tmp_path / "refs" / image.name),
        })  # fmt: skip
    summaries.append({"study": "broken", "status": "error", "error": "truncated", "input": "x"})
    write_results_csv(out / "results.csv", [row_of(s) for s in summaries])
    return out


def _open_and_wait(qtbot, tool, index):
    tool.open_index(index)
    qtbot.waitUntil(lambda: tool.panel.accept_button.isEnabled(), timeout=30000)


def test_a_failed_or_empty_result_never_looks_fine():
    green = VERDICT_COLOURS["ok"]
    found = {"study": "a", "status": "ok", "verdict": "ok", "volume_ml": "241.7"}
    assert verdict_colour(WorklistRow(found)) == green
    # the run failed, whatever verdict the table carries: red
    failed = WorklistRow({**found, "status": "error", "volume_ml": ""})
    assert verdict_colour(failed) == VERDICT_COLOURS["error"]
    for volume in ("0.0", "", "nan"):  # no spleen found, or no number: not green
        assert verdict_colour(WorklistRow({**found, "volume_ml": volume})) != green


def test_review_a_cohort_in_the_window(qtbot, window, batch_folder, monkeypatch):
    errors = []
    monkeypatch.setattr(window, "show_error", lambda message, title="": errors.append(message))
    tool = window.tools.worklist_tool
    assert tool is not None and tool.open_action.text() == "Open &batch results…"
    assert tool.open_results(batch_folder / "results.csv")
    panel = tool.panel
    studies = [row.study for row in tool.visible]
    assert studies == ["broken", "small_02_p05", "small_01_p02", "small_00_p01"]  # worst first
    assert panel.strip.count() == 4 and not panel.strip.item(1).icon().isNull()
    model = panel.model
    colour = model.data(model.index(1, 1), Qt.ForegroundRole).name()
    assert colour == VERDICT_COLOURS["failed"] != VERDICT_COLOURS["ok"]
    assert model.data(model.index(0, 1), Qt.ForegroundRole).name() == VERDICT_COLOURS["error"]
    # A volume cut by the scan reads "at least", in amber, and its tooltip says why;
    # the study the batch failed on has no volume to show.
    volume_column = COLUMNS.index("volume mL")
    cut = model.index(3, volume_column)
    assert model.data(cut) == f"at least {tool.visible[3].volume_ml:.1f}"
    assert model.data(cut, Qt.ForegroundRole).name() == LOWER_BOUND_COLOUR
    assert "first or last slice" in model.data(cut, Qt.ToolTipRole)
    assert model.data(model.index(0, volume_column)) == ""

    tool.open_index(0)  # the study the batch failed on: nothing to accept, only reject
    assert not panel.accept_button.isEnabled() and panel.reject_button.isEnabled()
    tool.current = tool.visible[3]  # selected but not opened yet: no decision about it
    assert not tool.decide("accept") and "open small_00_p01 first" in errors[-1]

    _open_and_wait(qtbot, tool, 3)  # the "ok" study: image, mask and reference
    session = window.tools.mask_session
    assert window.volume is not None and window.volume.source_path.endswith("small_00_p01.nii.gz")
    assert int(session.prediction.sum()) == 20 * 18 * 2
    qtbot.waitUntil(lambda: session.reference is not None, timeout=30000)
    assert tool.decide("accept")

    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key_P)  # previous: the "check" study
    qtbot.waitUntil(lambda: tool.current.study == "small_01_p02", timeout=5000)
    qtbot.waitUntil(lambda: panel.accept_button.isEnabled(), timeout=30000)
    original = tool.current.path("mask")
    original_hash = file_hash(original)
    session.prediction[10:30, 12:30, 2] = 1  # the reviewer paints the missing slice
    session.prediction_edited()
    panel.comment.setText("added the top slice")
    assert tool.decide("correct")
    corrected = batch_folder / "studies" / "small_01_p02" / "mask_corrected_v1.nii.gz"
    assert np.count_nonzero(np.asarray(nib.load(corrected).dataobj)) == 20 * 18 * 3
    assert file_hash(original) == original_hash and not session.dirty

    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key_P)  # previous again: the failed study
    qtbot.waitUntil(lambda: panel.accept_button.isEnabled(), timeout=30000)
    assert tool.current.study == "small_02_p05"
    assert not tool.decide("reject") and "comment is required" in errors[-1]
    panel.comment.setText("segmented the kidney")
    assert tool.decide("reject")

    audit = [json.loads(line) for line in (batch_folder / AUDIT_NAME).read_text().splitlines()]
    assert [(e["study"], e["action"]) for e in audit] == [
        ("small_00_p01", "accept"), ("small_01_p02", "correct"), ("small_02_p05", "reject"),
    ]  # fmt: skip

    # Reopened (a restart): the decisions are in the table, a corrected study shows its fix.
    assert tool.open_results(batch_folder)
    decisions = {row.study: row.decision for row in tool.visible}
    assert decisions == {"broken": None, "small_02_p05": "reject", "small_01_p02": "correct",
                         "small_00_p01": "accept"}  # fmt: skip
    assert panel.model.data(panel.model.index(2, 5)) == "correct"
    _open_and_wait(qtbot, tool, 2)
    assert int(session.prediction.sum()) == 20 * 18 * 3  # the corrected version is shown
    exported = tool.export(batch_folder / "reviewed.csv")
    assert "segmented the kidney" in exported.read_text()


def test_a_double_click_on_a_study_opens_it_once_with_its_mask(qtbot, window, batch_folder):
    """A double-click on a row sends "clicked" and then "activated": the study must
    open once and keep its mask, not reopen its image over the mask on its way."""
    tool = window.tools.worklist_tool
    assert tool.open_results(batch_folder / "results.csv")
    table = tool.panel.table
    qtbot.waitExposed(table)
    centre = table.visualRect(tool.panel.model.index(3, 0)).center()  # the "ok" study
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=centre)  # a double-click: a click,
    qtbot.mouseDClick(table.viewport(), Qt.LeftButton, pos=centre)  # then the second press
    qtbot.waitUntil(lambda: tool.panel.accept_button.isEnabled(), timeout=30000)
    qtbot.wait(300)  # a second opening, had it started, would land now
    session = window.tools.mask_session
    assert window.volume.source_path.endswith("small_00_p01.nii.gz")
    assert session.prediction is not None and int(session.prediction.sum()) == 20 * 18 * 2
    assert tool.panel.accept_button.isEnabled()
    assert tool.panel.summary.text().startswith("small_00_p01: ok")
