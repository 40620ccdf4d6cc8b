"""File > PACS… in the real window against a real Orthanc: search, expand a study to its
series, retrieve by C-GET, C-MOVE and WADO-RS into the window, a cancelled retrieve
and an unreachable node (one red line, the window keeps its volume), then segment
and Send segmentation to PACS, and find SEG + SR under the same study."""

from __future__ import annotations

import io
import shutil

import pydicom
import pytest
from PyQt5.QtCore import Qt

from tests.app_support import answers, isolated_home, segment, window  # noqa: F401
from tests.pacs_support import (  # noqa: F401
    PASSWORD,
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_UID,
    STUDY_UID,
    free_port,
    orthanc,
    sr_codes,
    sr_numbers,
)
from viewer.pacs.nodes import LocalIdentity, save_local_identity
from viewer.ui.pacs_browser import retrieve_folder

RED = "#c62828"


def _search_and_pick_series(qtbot, browser, node: str):
    browser.node_box.setCurrentText(node)
    browser.patient_id.setText(PATIENT_ID)
    qtbot.mouseClick(browser.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: browser.tree.topLevelItemCount() == 1, timeout=20000)
    study = browser.tree.topLevelItem(0)
    assert study.text(0) == PATIENT_NAME.replace("^", " ")  # names: in the browser only
    study.setExpanded(True)
    qtbot.waitUntil(
        lambda: any(
            study.child(i).data(0, Qt.UserRole) == (STUDY_UID, SERIES_UID)
            for i in range(study.childCount())
        ),
        timeout=20000,
    )
    for i in range(study.childCount()):
        child = study.child(i)
        if child.data(0, Qt.UserRole) == (STUDY_UID, SERIES_UID):
            assert (child.text(4), child.text(5)) == ("CT", "20")
            browser.tree.setCurrentItem(child)
            return child
    raise AssertionError("series not listed")


def _retrieve_into_window(qtbot, window, browser, method: str):  # noqa: F811
    shutil.rmtree(retrieve_folder() / SERIES_UID, ignore_errors=True)
    browser.method_box.setCurrentText(method)
    assert browser.method_box.currentText() == method
    shown = []  # what the progress bar said while the images arrived
    browser.progress.valueChanged.connect(
        lambda value: shown.append((value, browser.progress.maximum())))
    with qtbot.waitSignal(window.volume_changed, timeout=60000):
        qtbot.mouseClick(browser.retrieve_button, Qt.LeftButton)
    assert shown and shown[-1] == (20, 20), shown
    browser.progress.valueChanged.disconnect()
    assert window.volume.array.shape == (512, 512, 20)
    assert str(window.volume.source_path) == str(retrieve_folder() / SERIES_UID)
    assert RED not in browser.status.styleSheet()


def test_browse_retrieve_segment_and_send_from_the_window(qtbot, window, orthanc, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SPLEENSCOPE_PACS_PASSWORD", PASSWORD)
    save_local_identity(LocalIdentity(ae_title="SPLEENSCOPE", listener_port=orthanc.our_port))
    tool = window.tools.pacs_tool
    assert tool is not None and not tool.send_action.isEnabled()
    browser = tool.show_browser()

    _search_and_pick_series(qtbot, browser, orthanc.dimse_node)
    for method in ("get", "move"):
        _retrieve_into_window(qtbot, window, browser, method)

    # cancel: nothing arrives in the open-able place, the open volume stays
    shutil.rmtree(retrieve_folder() / SERIES_UID)
    shown = window.volume
    qtbot.mouseClick(browser.retrieve_button, Qt.LeftButton)
    browser.cancel_retrieve()
    qtbot.waitUntil(lambda: not browser.is_busy(), timeout=30000)
    assert "cancelled" in browser.status.text() and RED in browser.status.styleSheet()
    assert not (retrieve_folder() / SERIES_UID).exists()
    assert not [p for p in retrieve_folder().iterdir() if p.name.startswith(".partial")]
    assert window.volume is shown

    # an unreachable node: one red line, the browser and the window keep working
    browser.node_box.setCurrentText(f"ORTHANCTEST@127.0.0.1:{free_port()}")
    qtbot.mouseClick(browser.test_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "connection refused" in browser.status.text(), timeout=20000)
    assert RED in browser.status.styleSheet() and "\n" not in browser.status.text()

    _search_and_pick_series(qtbot, browser, orthanc.web_url)
    assert [browser.method_box.itemText(i) for i in range(browser.method_box.count())] == ["wado"]
    _retrieve_into_window(qtbot, window, browser, "wado")

    assert segment(qtbot, window, timeout_ms=120000) == "done"
    assert tool.send_action.isEnabled()
    volume_ml = window.tools.mask_session.measurements.volume_ml
    assert 200 < volume_ml < 300
    before = {item["ID"] for item in orthanc.instances_of_study(STUDY_UID)}
    with qtbot.waitSignal(tool.sent, timeout=60000) as sent:
        tool.send_action.trigger()
    assert "Sent the spleen SEG and volume report" in sent.args[0]
    assert PATIENT_NAME not in sent.args[0] and PATIENT_ID not in sent.args[0]

    ct_study = orthanc.get(f"/instances/{sorted(before)[0]}/study").json()["ID"]
    new, files = {}, {}
    for item in orthanc.instances_of_study(STUDY_UID):
        if item["ID"] not in before:
            tags = orthanc.get(f"/instances/{item['ID']}/simplified-tags").json()
            assert orthanc.get(f"/instances/{item['ID']}/study").json()["ID"] == ct_study
            new[tags["Modality"]] = tags
            files[tags["Modality"]] = orthanc.get(f"/instances/{item['ID']}/file").content
    assert sorted(new) == ["SEG", "SR"]
    assert new["SEG"]["ReferencedSeriesSequence"][0]["SeriesInstanceUID"] == SERIES_UID
    evidence = new["SR"]["CurrentRequestedProcedureEvidenceSequence"][0]
    referenced = {s["SeriesInstanceUID"] for s in evidence["ReferencedSeriesSequence"]}
    assert {SERIES_UID, new["SEG"]["SeriesInstanceUID"]} <= referenced
    # the SR holds the window's volume, the model's range and its self-check verdict
    study = window.tools.mask_session.study.summary()
    report = pydicom.dcmread(io.BytesIO(files["SR"]))
    low, high = study["volume_ml_range"]
    assert sr_numbers(report) == [
        (round(low, 3), "Minimum"),
        (round(volume_ml, 3), ""),
        (round(high, 3), "Maximum"),
    ]
    assert study["quality"]["verdict"] in sr_codes(report)


def test_password_is_asked_in_the_window_and_asked_again_after_a_refusal(
    qtbot,
    window,  # noqa: F811
    orthanc,  # noqa: F811
    monkeypatch,
):
    from PyQt5.QtWidgets import QInputDialog

    monkeypatch.delenv("SPLEENSCOPE_PACS_PASSWORD", raising=False)
    typed = iter(["wrong-password", PASSWORD])
    asked = []

    def get_text(_parent, _title, label, *_args, **_kwargs):
        asked.append(label)
        return next(typed), True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    browser = window.tools.pacs_tool.show_browser()
    browser.node_box.setCurrentText(orthanc.web_url)
    qtbot.mouseClick(browser.test_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "HTTP 401" in browser.status.text(), timeout=20000)
    assert RED in browser.status.styleSheet() and "wrong-password" not in browser.status.text()
    qtbot.mouseClick(browser.test_button, Qt.LeftButton)  # asks again, not the refused one
    qtbot.waitUntil(lambda: "answers" in browser.status.text(), timeout=20000)
    assert len(asked) == 2 and "radiologist" in asked[0]


def test_closing_the_window_mid_retrieve_leaves_no_half_series(qtbot, tmp_path, orthanc):  # noqa: F811
    from tests.app_support import make_window
    from viewer.ui.background import wait_for_all

    doomed = make_window(qtbot, tmp_path, register=False)
    browser = doomed.tools.pacs_tool.show_browser()
    _search_and_pick_series(qtbot, browser, orthanc.dimse_node)
    shutil.rmtree(retrieve_folder() / SERIES_UID, ignore_errors=True)
    qtbot.mouseClick(browser.retrieve_button, Qt.LeftButton)
    doomed.close()
    doomed.deleteLater()  # the browser goes with it; its jobs are told to stop
    qtbot.waitUntil(
        lambda: (
            not [p for p in retrieve_folder().iterdir() if p.name.startswith(".partial")]
            and wait_for_all()
        ),
        timeout=30000,
    )
    folder = retrieve_folder() / SERIES_UID
    assert not folder.exists() or len(list(folder.iterdir())) == 20


@pytest.fixture(autouse=True)
def _leave_no_dialogs(qtbot, window):  # noqa: F811
    yield
    tool = window.tools.pacs_tool
    if tool is not None and tool.browser is not None:
        tool.browser.close()
