# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""Saving in the window: masks on the input's grid, never over the input,
DICOM SEG for DICOM input, reports without identifying values, the unsaved-mask
prompt, and recovery copies after a crash.

NIfTI input is an LPS phantom (a non-canonical grid: saving must undo the RAS+
reorientation); DICOM input is the sample CT series. Files are only ever written
under tmp_path: the sample data folder is read-only to these tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PyQt5.QtWidgets import QMessageBox

from segmentation.metrics import evaluate_masks
from tests.app_support import (  # noqa: F401
    answers,
    ct_reference,
    ct_volume,
    isolated_home,
    make_window,
    window,
    with_volume,
)
from tests.conftest import sample_path
from viewer import recovery
from viewer.overlays import load_mask_for_volume
from viewer.phantom import make_phantom
from viewer.ui.review_panel import MASK_FILTER


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def lps_input(tmp_path):
    """An LPS phantom as NIfTI in tmp_path, and the phantom itself."""
    phantom = make_phantom(spacing=(2.0, 2.5, 4.0), field_of_view_mm=(200.0, 180.0, 120.0),
                           axcodes="LPS")
    path = tmp_path / "phantom_lps.nii.gz"
    nib.save(phantom.image, path)
    return path, phantom


def _open(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.volume_changed, timeout=20000,
                          check_params_cb=lambda volume: volume is not None):
        assert window.open_path(str(path))


def test_save_nifti_input_keeps_its_grid_and_never_overwrites_it(qtbot, window, answers,
                                                                 lps_input, isolated_home):
    path, phantom = lps_input
    _open(qtbot, window, path)
    session, saving = window.tools.mask_session, window.tools.saving_tool
    assert "".join(window.volume.source_orientation) == "LPS"
    assert not saving.act_save_seg.isEnabled()  # NIfTI input: no DICOM SEG
    mask = phantom.canonical_mask()
    session.set_prediction(mask, source="model", name="test model")
    assert session.dirty and window.windowTitle().endswith(" *")
    before = _digest(path)

    assert saving.save()  # the dialog suggests <input>_seg.nii.gz beside the input
    suggested = Path(answers.save_dialogs[-1][1])
    assert suggested == path.with_name("phantom_lps_seg.nii.gz")
    written = nib.load(str(suggested))
    assert written.shape == phantom.image.shape
    np.testing.assert_allclose(written.affine, phantom.image.affine, atol=1e-5)
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(written.dataobj),
                                  (np.asarray(phantom.mask.dataobj) > 0).astype(np.uint8))
    labels, notice = load_mask_for_volume(suggested, window.volume)
    assert notice == "" and np.array_equal(labels > 0, mask > 0)
    assert not session.dirty and not window.windowTitle().endswith("*")
    assert _digest(path) == before
    assert not list(path.parent.glob(".*tmp*"))  # atomic: no temp file left behind

    # the input itself is refused, even when chosen in the dialog
    answers.save_path = str(path)
    assert not saving.save(ask=True)
    assert "refusing" in window.last_error
    assert _digest(path) == before
    # a second Ctrl+S of a model's mask goes to the same file without asking
    asked = len(answers.save_dialogs)
    session.set_prediction(mask, source="model", name="test model")
    session.mark_saved(str(suggested))
    assert saving.save(suggested)
    assert len(answers.save_dialogs) == asked


def test_save_dicom_input_as_nifti_and_as_dicom_seg(qtbot, window, answers, ct_volume,
                                                    ct_reference, tmp_path):
    with_volume(qtbot, window, ct_volume)
    session, saving = window.tools.mask_session, window.tools.saving_tool
    session.set_prediction(ct_reference, source="model", name="test model")
    assert saving.act_save_seg.isEnabled()

    nifti = tmp_path / "ct_seg.nii.gz"
    assert saving.save(nifti)
    assert nib.load(str(nifti)).shape == (512, 512, 20)  # the series' own grid
    labels, notice = load_mask_for_volume(nifti, ct_volume)
    assert notice == "" and np.array_equal(labels > 0, ct_reference > 0)

    session.set_prediction(ct_reference, source="model", name="test model")
    answers.save_path = str(tmp_path / "ct_seg")  # no suffix typed: .dcm is added
    assert saving.save_dicom_seg()
    assert Path(answers.save_dialogs[-1][1]).name == "ct_spleen_dicom_seg.dcm"
    seg_path = tmp_path / "ct_seg.dcm"
    assert pydicom.dcmread(seg_path).Modality == "SEG"
    labels, _notice = load_mask_for_volume(seg_path, ct_volume)
    np.testing.assert_array_equal(labels > 0, ct_reference > 0)
    assert not session.dirty
    # Ctrl+S after a DICOM SEG asks for a NIfTI name instead of writing NIfTI into the .dcm
    session.set_prediction(ct_reference, source="model", name="test model")
    session.mark_saved(str(seg_path))
    answers.save_path = str(tmp_path / "after_seg.nii.gz")
    assert saving.save()
    assert (tmp_path / "after_seg.nii.gz").is_file()
    assert pydicom.dcmread(seg_path).Modality == "SEG"
    # the review tool opens it as a reference (its file filter offers *.dcm)
    assert "*.dcm" in MASK_FILTER
    with qtbot.waitSignal(session.reference_changed, timeout=20000):
        window.tools.review_tool.load_reference(seg_path)
    np.testing.assert_array_equal(session.reference, ct_reference)


def test_unsaved_prompt_on_close(qtbot, window, answers, ct_volume, ct_reference, tmp_path):
    with_volume(qtbot, window, ct_volume)
    session = window.tools.mask_session
    session.set_prediction(ct_reference, source="model", name="m")

    answers.question = QMessageBox.Cancel
    assert not window.close()
    assert window.isVisible() and session.dirty
    assert answers.questions[-1][0] == "Unsaved spleen mask"

    answers.question = QMessageBox.Save
    answers.save_path = str(tmp_path / "on_close.nii.gz")
    assert window.close()
    assert (tmp_path / "on_close.nii.gz").is_file() and not session.dirty

    window.show()
    session.set_prediction(ct_reference, source="model", name="m")
    answers.question = QMessageBox.Discard
    asked = len(answers.questions)
    assert window.close()
    assert len(answers.questions) == asked + 1 and not session.dirty
    assert sorted(p.name for p in tmp_path.glob("*.nii.gz")) == ["on_close.nii.gz"]


def test_unsaved_prompt_on_open_another_and_on_rerun(qtbot, window, answers, ct_volume,
                                                     ct_reference, lps_input):
    path, _phantom = lps_input
    with_volume(qtbot, window, ct_volume)
    session, tool = window.tools.mask_session, window.tools.segmentation_tool
    session.set_prediction(ct_reference, source="model", name="m")

    answers.question = QMessageBox.Cancel
    assert not tool.start()  # re-run: Cancel keeps the mask, nothing runs
    assert not tool.is_running() and session.dirty
    assert window.open_path(str(path))  # open another: asked once it has loaded
    qtbot.waitUntil(lambda: not window.is_loading() and len(answers.questions) == 2, timeout=60000)
    assert window.volume is ct_volume  # Cancel keeps everything
    np.testing.assert_array_equal(session.prediction, ct_reference)
    assert [title for title, _ in answers.questions] == ["Unsaved spleen mask"] * 2

    answers.question = QMessageBox.Discard
    _open(qtbot, window, path)
    assert session.prediction is None and not session.dirty


def test_recovery_copy_while_unsaved_and_offered_at_next_start(qtbot, window, answers,
                                                               lps_input, tmp_path,
                                                               isolated_home):
    path, phantom = lps_input
    _open(qtbot, window, path)
    session = window.tools.mask_session
    mask = phantom.canonical_mask()
    session.set_prediction(mask, source="model", name="test model")
    session.wait_for_recovery()
    folder = isolated_home / "recovery"
    sidecars = list(folder.glob("*.json"))
    assert len(sidecars) == 1
    kept = nib.load(str(sidecars[0].with_name(sidecars[0].name[:-5] + recovery.MASK_SUFFIX)))
    np.testing.assert_array_equal(np.asarray(kept.dataobj), mask)

    # "crash": this process's copy stays on disk; pretend another process left it
    meta = json.loads(sidecars[0].read_text())
    meta["pid"] = -1
    sidecars[0].write_text(json.dumps(meta))
    answers.question = QMessageBox.Open
    (tmp_path / "second").mkdir()
    second = make_window(qtbot, tmp_path / "second")
    qtbot.waitUntil(lambda: second.tools.mask_session.prediction is not None, timeout=20000)
    assert answers.questions[-1][0] == "Recover unsaved mask"
    assert second.volume.source_path == str(path)
    np.testing.assert_array_equal(second.tools.mask_session.prediction, mask)
    assert second.tools.mask_session.source == "recovery" and second.tools.mask_session.dirty
    # saving the recovered mask removes every recovery copy
    second.tools.mask_session.wait_for_recovery()
    assert second.tools.saving_tool.save(tmp_path / "recovered_seg.nii.gz")
    second.tools.mask_session.wait_for_recovery()
    session.discard()
    session.wait_for_recovery()
    assert not list(folder.glob("*"))


def test_report_has_the_numbers_and_no_identifying_values(qtbot, window, ct_volume,
                                                          ct_reference, tmp_path):
    with_volume(qtbot, window, ct_volume)
    session = window.tools.mask_session
    prediction = np.zeros_like(ct_reference)
    prediction[6:] = ct_reference[:-6]
    with qtbot.waitSignal(session.review_ready, timeout=30000,
                          check_params_cb=lambda pair: pair is not None):
        session.set_prediction(prediction, source="model", name="spleen_unet2d",
                               model={"name": "spleen_unet2d", "path": str(tmp_path / "m.pt")},
                               device="CPU, 1 thread")
        session.set_reference(ct_reference, name="ct_spleen_dicom_label.nii.gz")
    saving = window.tools.saving_tool
    json_path = saving.export_report(tmp_path / "report.json")
    csv_path = saving.export_report(tmp_path / "report.csv")

    report = json.loads(json_path.read_text())
    expected = evaluate_masks(prediction, ct_reference, ct_volume.affine)
    assert report["evaluation"] == json.loads(json.dumps(expected.as_dict()))
    assert report["evaluation"]["dice"] == pytest.approx(expected.dice, abs=1e-6)
    assert report["measurements"] == json.loads(json.dumps(session.measurements.as_dict()))
    assert report["volume"]["shape"] == [512, 512, 20]
    csv_text = csv_path.read_text()
    assert f"measurements.volume_ml,{report['measurements']['volume_ml']}" in csv_text
    assert "evaluation.dice," in csv_text and "model.name,spleen_unet2d" in csv_text

    header = pydicom.dcmread(next(p for p in sample_path("ct_spleen_dicom").iterdir()
                                  if p.is_file()), stop_before_pixels=True)
    identifying = [str(header.get(key, "")) for key in (
        "PatientName", "PatientID", "PatientBirthDate", "StudyDate", "SeriesDate",
        "AccessionNumber", "InstitutionName", "ReferringPhysicianName", "StudyDescription",
        "SeriesDescription", "StudyInstanceUID", "SeriesInstanceUID")]
    identifying += ["ct_spleen_dicom", str(tmp_path), "m.pt"]
    for text in (json_path.read_text(), csv_text):
        for value in identifying:
            if value.strip() and len(value.strip()) > 2:
                assert value not in text, value


def test_an_edit_marks_the_mask_unsaved_and_updates_the_recovery_copy(qtbot, window,
                                                                      lps_input,
                                                                      isolated_home):
    path, phantom = lps_input
    _open(qtbot, window, path)
    session = window.tools.mask_session
    mask = phantom.canonical_mask().astype(np.uint8)
    session.set_prediction(mask, source="file", name="mask.nii.gz", dirty=False)
    assert not list((isolated_home / "recovery").glob("*.json"))
    session.prediction[:3] = 1  # what the brush does: in place
    with qtbot.waitSignal(session.prediction_changed, timeout=10000):
        session.prediction_edited()  # measurements follow in the background
    assert session.dirty and window.windowTitle().endswith(" *")
    assert session.measurements.voxels == int(session.prediction.sum())
    session.wait_for_recovery()  # the debounced copy is written now
    (entry,) = recovery.find_recoveries()
    np.testing.assert_array_equal(entry.load_mask()[0], session.prediction)
