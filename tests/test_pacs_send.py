"""The whole loop from the command line against a real Orthanc: find the sample study,
retrieve one series, segment it with a SEG and an SR volume report, send both back,
and find them under the same study referencing the right series. Both objects pass
``dciodvfy``; DCMTK's own tools receive what we send and send to our listener."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom

from tests.pacs_support import (  # noqa: F401 (fixtures)
    OUR_AET,
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_UID,
    STUDY_UID,
    free_port,
    orthanc,
    pacs_home,
    pacs_ready_series,
    require_tool,
    sr_codes,
    sr_numbers,
    sr_texts,
)
from viewer.cli import main
from viewer.io import load_volume
from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg
from viewer.io.dicom_sr_writer import VolumeReport, save_volume_report_sr
from viewer.pacs.client import open_client
from viewer.pacs.listener import StorageListener
from viewer.pacs.nodes import LocalIdentity, parse_address
from viewer.pacs.sending import send


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert PATIENT_NAME.split("^")[0] not in out + err and PATIENT_ID not in out + err
    return code, out, err


def _dciodvfy_errors(path: Path) -> list[str]:
    tool = require_tool("dciodvfy")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def _study_instances(orthanc) -> dict[str, dict]:  # noqa: F811
    """SOP Instance UID -> (Orthanc study id, main tags) for every instance under STUDY_UID."""
    found = {}
    for item in orthanc.instances_of_study(STUDY_UID):
        tags = orthanc.get(f"/instances/{item['ID']}/simplified-tags").json()
        study = orthanc.get(f"/instances/{item['ID']}/study").json()["ID"]
        found[tags["SOPInstanceUID"]] = {"study": study, "tags": tags}
    return found


def test_cli_find_get_segment_send_and_find_back(orthanc, pacs_home, tmp_path, capsys):  # noqa: F811
    node = orthanc.dimse_node
    code, out, _ = _run(capsys, "pacs", "echo", node)
    assert code == 0 and "answers" in out
    code, out, _ = _run(capsys, "pacs", "find", node, "--patient-id", PATIENT_ID, "--json")
    studies = [json.loads(line) for line in out.splitlines()]
    assert [s["study_uid"] for s in studies] == [STUDY_UID]
    code, out, _ = _run(capsys, "pacs", "find", node, "--study", STUDY_UID, "--json")
    series = {s["series_uid"]: s for s in map(json.loads, out.splitlines())}
    assert series[SERIES_UID]["image_count"] == 20 and series[SERIES_UID]["modality"] == "CT"

    code, out, _ = _run(
        capsys, "pacs", "get", node, "--study", STUDY_UID, "--series", SERIES_UID,
        "-o", str(tmp_path / "in"), "--method", "get",
    )  # fmt: skip
    assert code == 0
    folder = tmp_path / "in" / SERIES_UID
    seg, sr = tmp_path / "spleen_seg.dcm", tmp_path / "spleen_sr.dcm"
    code, out, _ = _run(
        capsys, "segment", str(folder), "-o", str(seg), "--report", str(sr), "--json",
        "--threads", "2",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert 200 < summary["volume_ml"] < 300  # the sample spleen is 249 mL
    assert _dciodvfy_errors(seg) == [] and _dciodvfy_errors(sr) == []
    report = pydicom.dcmread(sr)
    low, high = summary["volume_ml_range"]
    assert sr_numbers(report) == [
        (round(low, 3), "Minimum"),
        (round(summary["volume_ml"], 3), ""),
        (round(high, 3), "Maximum"),
    ]
    assert summary["quality"]["verdict"] in sr_codes(report)
    assert summary["model"][:64] in sr_texts(report)  # the algorithm name
    # The 20 slices cut the spleen: the report must not pass its volume off as whole.
    assert summary["volume_is_lower_bound"] is True
    assert "Lower bound: spleen runs past the scan" in sr_codes(report)
    for written in (seg, sr):  # files on disk stay de-identified
        header = pydicom.dcmread(written, stop_before_pixels=True)
        assert str(header.PatientName) == "ANONYMOUS^" and header.PatientID != PATIENT_ID

    code, out, err = _run(capsys, "pacs", "send", node, str(seg), str(sr))
    assert code == 0 and "sent 2 object(s)" in out and err == ""
    instances = _study_instances(orthanc)
    ct_study = {v["study"] for v in instances.values() if v["tags"]["Modality"] == "CT"}
    seg_uid = pydicom.dcmread(seg, stop_before_pixels=True).SOPInstanceUID
    sent_seg, sent_sr = instances[seg_uid], instances[report.SOPInstanceUID]
    assert {sent_seg["study"], sent_sr["study"]} == ct_study  # one study, not a new patient
    assert sent_seg["tags"]["PatientID"] == PATIENT_ID
    assert sent_seg["tags"]["ReferencedSeriesSequence"][0]["SeriesInstanceUID"] == SERIES_UID
    evidence = sent_sr["tags"]["CurrentRequestedProcedureEvidenceSequence"][0]
    referenced_series = {s["SeriesInstanceUID"] for s in evidence["ReferencedSeriesSequence"]}
    assert SERIES_UID in referenced_series and sent_seg["tags"]["SeriesInstanceUID"] in (
        referenced_series
    )
    # and a search shows them as series of the same study
    code, out, _ = _run(capsys, "pacs", "find", node, "--study", STUDY_UID, "--json")
    modalities = sorted(json.loads(line)["modality"] for line in out.splitlines())
    assert {"CT", "SEG", "SR"} <= set(modalities)


def test_send_over_dicomweb_with_range_and_verdict(orthanc, pacs_home, tmp_path):  # noqa: F811
    series = pacs_ready_series(tmp_path / "ct")
    volume = load_volume(series)
    mask = np.zeros(volume.array.shape, np.uint8)
    mask[200:260, 220:300, 4:16] = 1
    seg, sr = tmp_path / "seg.dcm", tmp_path / "sr.dcm"
    save_mask_as_dicom_seg(volume, mask, series, seg, {1: "Spleen"}, algorithm="test-model")
    save_volume_report_sr(VolumeReport(250.5, "test-model", (231.0, 270.25), "review"), seg, sr)
    assert _dciodvfy_errors(sr) == []
    assert "test-model" in sr_texts(pydicom.dcmread(sr))
    assert "review" in sr_codes(pydicom.dcmread(sr))
    assert "Lower bound: spleen runs past the scan" not in sr_codes(pydicom.dcmread(sr))
    assert sr_numbers(pydicom.dcmread(sr)) == [
        (231.0, "Minimum"),
        (250.5, ""),
        (270.25, "Maximum"),
    ]
    with open_client(parse_address(orthanc.web_url)) as client:
        sent, notices = send(client, [seg, sr])
        assert (sent, notices) == (2, [])
        modalities = [s.modality for s in client.find_series(STUDY_UID)]
    assert "SEG" in modalities and "SR" in modalities
    stored = _study_instances(orthanc)[pydicom.dcmread(sr).SOPInstanceUID]
    assert stored["tags"]["PatientID"] == PATIENT_ID
    # a second, independent implementation finds the SEG series in the study
    seg_series = pydicom.dcmread(seg, stop_before_pixels=True).SeriesInstanceUID
    done = subprocess.run(
        [
            require_tool("findscu"), "-S", "-aet", OUR_AET, "-aec", "ORTHANCTEST", "127.0.0.1",
            str(orthanc.dicom_port), "-k", "QueryRetrieveLevel=SERIES",
            "-k", f"StudyInstanceUID={STUDY_UID}", "-k", f"SeriesInstanceUID={seg_series}",
            "-k", "Modality",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    answer = done.stdout + done.stderr
    assert done.returncode == 0 and seg_series in answer and "CS [SEG " in answer  # padded


def test_send_refuses_a_file_that_is_not_dicom(orthanc, pacs_home, tmp_path, capsys):  # noqa: F811
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    code, _, err = _run(capsys, "pacs", "send", orthanc.dimse_node, str(text))
    assert code == 2 and "not a DICOM file" in err and err.count("\n") == 1


def test_dcmtk_storescp_receives_what_we_send(pacs_home, tmp_path):  # noqa: F811
    storescp = require_tool("storescp")
    port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    series = pacs_ready_series(tmp_path / "ct", decompress=True)
    server = subprocess.Popen(
        [storescp, "-aet", "DCMTKSCP", "-od", str(received), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = open_client(parse_address(f"DCMTKSCP@127.0.0.1:{port}"))
        for _ in range(50):  # storescp needs a moment to listen
            try:
                client.echo()
                break
            except Exception:
                import time

                time.sleep(0.1)
        assert client.store(sorted(series.iterdir())) == 20
    finally:
        server.terminate()
        server.wait(timeout=10)
    arrived = load_volume(received)
    assert arrived.array.shape == (512, 512, 20)
    np.testing.assert_array_equal(arrived.array, load_volume(series).array)


def test_dcmtk_storescu_sends_to_our_listener(pacs_home, tmp_path):  # noqa: F811
    storescu = require_tool("storescu")
    series = pacs_ready_series(tmp_path / "ct", decompress=True)
    identity = LocalIdentity(ae_title=OUR_AET, listener_port=free_port(), listener_host="127.0.0.1")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with StorageListener(identity, inbox) as listener:
        done = subprocess.run(
            [storescu, "-aec", OUR_AET, "127.0.0.1", str(identity.listener_port)]
            + [str(p) for p in sorted(series.iterdir())],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-500:]
        assert listener.count == 20
    np.testing.assert_array_equal(load_volume(inbox).array, load_volume(series).array)
