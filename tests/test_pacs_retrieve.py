"""Against a real Orthanc: echo, search at each level, retrieve one series by C-GET,
C-MOVE and WADO-RS, and the failures a user meets (unreachable node, wrong AE title,
wrong password, a vanished study, a cancelled retrieve), each one line, with no
half-written series left behind and no patient name in any message or log."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.pacs_support import (  # noqa: F401 (fixtures)
    OUR_AET,
    PASSWORD,
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_UID,
    STUDY_UID,
    USER,
    TlsFront,
    free_port,
    orthanc,
    pacs_home,
    pacs_ready_series,
)
from viewer.cli import main
from viewer.io import load_volume
from viewer.pacs.client import open_client
from viewer.pacs.errors import (
    PacsAuthenticationError,
    PacsError,
    RetrieveCancelled,
    SeriesNotFoundError,
)
from viewer.pacs.nodes import LocalIdentity, parse_address
from viewer.pacs.records import StudyQuery

METHODS = ("get", "move", "wado")


@pytest.fixture(autouse=True)
def _no_names_in_logs(caplog):
    caplog.set_level(logging.DEBUG)  # every logger: ours, pynetdicom, urllib3, ...
    yield
    assert PATIENT_NAME.split("^")[0] not in caplog.text
    assert PATIENT_ID not in caplog.text


def _client(orthanc, protocol: str):  # noqa: F811
    identity = LocalIdentity(ae_title=OUR_AET, listener_port=orthanc.our_port)
    address = orthanc.dimse_node if protocol == "dimse" else orthanc.web_url
    return open_client(parse_address(address), identity=identity)


def _protocol(method: str) -> str:
    return "dicomweb" if method == "wado" else "dimse"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_echo_and_find_at_patient_study_and_series_level(orthanc, pacs_home, protocol):  # noqa: F811
    with _client(orthanc, protocol) as client:
        client.echo()
        patients = client.find_patients(StudyQuery(patient_id=PATIENT_ID))
        assert [(p.patient_id, p.study_count) for p in patients] == [(PATIENT_ID, 1)]
        studies = client.find_studies(StudyQuery(patient_name="Canary*", modality="CT"))
        assert [s.study_uid for s in studies] == [STUDY_UID]
        assert studies[0].study_date == "20221208" and studies[0].modalities == ("CT",)
        assert PATIENT_NAME not in repr(studies[0]) and "patient" not in studies[0].as_dict()
        assert client.find_studies(StudyQuery(study_date="20230101-")) == []
        assert client.find_studies(StudyQuery(accession_number="ACC11"))[0].study_uid == STUDY_UID
        series = client.find_series(STUDY_UID)
        ct = [s for s in series if s.series_uid == SERIES_UID][0]
        assert (ct.modality, ct.series_description, ct.image_count) == ("CT", "CT Body 3.0", 20)


@pytest.mark.parametrize("method", METHODS)
def test_retrieve_one_series_opens_as_the_sample_ct(orthanc, pacs_home, tmp_path, method):  # noqa: F811
    seen = []
    with _client(orthanc, _protocol(method)) as client:
        folder = client.retrieve_series(
            STUDY_UID,
            SERIES_UID,
            tmp_path,
            method=method,
            progress=lambda n, t: seen.append((n, t)),
        )
    assert folder == tmp_path / SERIES_UID
    assert _leftovers(tmp_path) == [SERIES_UID]  # no hidden partial folder left
    assert len(list(folder.iterdir())) == 20
    assert seen[-1] == (20, 20) and len(seen) == 20
    volume = load_volume(folder)
    original = load_volume(pacs_ready_series(tmp_path / "original"))
    assert volume.array.shape == (512, 512, 20)
    np.testing.assert_allclose(volume.affine, original.affine, atol=1e-4)
    np.testing.assert_array_equal(volume.array, original.array)


@pytest.mark.parametrize("method", METHODS)
def test_cancelled_retrieve_leaves_nothing(orthanc, pacs_home, tmp_path, method):  # noqa: F811
    arrived = []
    with _client(orthanc, _protocol(method)) as client:
        with pytest.raises(RetrieveCancelled, match="nothing was kept"):
            client.retrieve_series(
                STUDY_UID,
                SERIES_UID,
                tmp_path,
                method=method,
                progress=lambda n, t: arrived.append(n),
                cancelled=lambda: len(arrived) >= 5,
            )
        assert 5 <= max(arrived) < 20  # it stopped halfway
        assert _leftovers(tmp_path) == []
        # the client still works after a cancel
        assert client.find_series(STUDY_UID)


@pytest.mark.parametrize("method", METHODS)
def test_vanished_study_is_one_line_and_leaves_nothing(orthanc, pacs_home, tmp_path, method):  # noqa: F811
    study, series = STUDY_UID + ".99", SERIES_UID + ".99"
    orthanc.upload(pacs_ready_series(tmp_path / "gone", study_uid=study, series_uid=series))
    with _client(orthanc, _protocol(method)) as client:
        assert client.find_series(study)  # the user saw it in the list ...
        orthanc.delete_study(study)  # ... then someone deleted it
        with pytest.raises(SeriesNotFoundError) as error:
            client.retrieve_series(study, series, tmp_path / "out", method=method)
    assert "search again" in str(error.value) and "\n" not in str(error.value)
    assert _leftovers(tmp_path / "out") == []


def test_existing_destination_is_refused_before_any_network_work(orthanc, pacs_home, tmp_path):  # noqa: F811
    (tmp_path / SERIES_UID).mkdir()
    (tmp_path / SERIES_UID / "mine.txt").write_text("keep me")
    with _client(orthanc, "dimse") as client:
        with pytest.raises(PacsError, match="already exists"):
            client.retrieve_series(STUDY_UID, SERIES_UID, tmp_path)
    assert (tmp_path / SERIES_UID / "mine.txt").read_text() == "keep me"


def test_move_to_a_destination_the_pacs_does_not_know(orthanc, pacs_home, tmp_path):  # noqa: F811
    identity = LocalIdentity(ae_title="STRANGER", listener_port=free_port())
    client = open_client(parse_address(orthanc.dimse_node), identity=identity)
    with pytest.raises(PacsError, match="know the move destination 'STRANGER'"):
        client.retrieve_series(STUDY_UID, SERIES_UID, tmp_path, method="move")
    assert _leftovers(tmp_path) == []


def test_unreachable_node_and_wrong_ae_title(orthanc, pacs_home):  # noqa: F811
    closed = free_port()
    for address, says in [
        (f"ORTHANCTEST@127.0.0.1:{closed}", "connection refused"),
        (f"NOSUCHPACS@127.0.0.1:{orthanc.dicom_port}", "'NOSUCHPACS'"),
        (f"http://127.0.0.1:{closed}/dicom-web", "cannot connect"),
    ]:
        with pytest.raises(PacsError) as error:
            with open_client(parse_address(address)) as client:
                client.echo()
        assert says in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_registered_users_401_without_and_200_with_credentials(orthanc, pacs_home, monkeypatch):  # noqa: F811
    url = f"{orthanc.rest}/dicom-web/studies"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(USER, PASSWORD), timeout=10).status_code == 200
    with pytest.raises(PacsAuthenticationError, match="HTTP 401"):
        open_client(parse_address(orthanc.web_url.replace(f"{USER}@", ""))).echo()
    monkeypatch.setenv("SPLEENSCOPE_PACS_PASSWORD", "wrong-password")
    with pytest.raises(PacsAuthenticationError) as error:
        open_client(parse_address(orthanc.web_url)).echo()
    assert "HTTP 401" in str(error.value) and "wrong-password" not in str(error.value)


def test_wado_on_a_dimse_node_is_refused_with_the_right_method(orthanc, pacs_home, tmp_path):  # noqa: F811
    with _client(orthanc, "dimse") as client:
        with pytest.raises(PacsError, match="--method get or --method move"):
            client.retrieve_series(STUDY_UID, SERIES_UID, tmp_path, method="wado")
    node = replace(parse_address(orthanc.web_url))
    with open_client(node) as client:
        with pytest.raises(PacsError, match="--method wado"):
            client.retrieve_series(STUDY_UID, SERIES_UID, tmp_path, method="get")


@pytest.fixture
def https_orthanc(orthanc, tmp_path):  # noqa: F811
    """Orthanc behind a real TLS server with a self-signed certificate."""
    front = TlsFront(orthanc, tmp_path)
    try:
        yield front
    finally:
        front.stop()


def test_https_certificate_is_checked_unless_insecure(https_orthanc, pacs_home, capsys):  # noqa: F811
    node = parse_address(https_orthanc.web_url)
    assert node.url.startswith("https://")
    with pytest.raises(PacsError) as error:
        open_client(node).echo()
    assert "certificate is not trusted" in str(error.value) and "--insecure" in str(error.value)
    with open_client(replace(node, insecure=True)) as client:
        client.echo()
        assert [s.study_uid for s in client.find_studies(StudyQuery(patient_id=PATIENT_ID))] == [
            STUDY_UID
        ]
    assert main(["pacs", "echo", https_orthanc.web_url]) == 2
    assert main(["pacs", "echo", https_orthanc.web_url, "--insecure"]) == 0
    assert "answers" in capsys.readouterr().out


def test_dicomweb_search_pages_through_long_lists(orthanc, pacs_home, tmp_path, monkeypatch):  # noqa: F811
    from viewer.pacs import dicomweb

    study, series = STUDY_UID + ".7", SERIES_UID + ".7"
    orthanc.upload(pacs_ready_series(tmp_path / "second", study_uid=study, series_uid=series))
    monkeypatch.setattr(dicomweb, "PAGE_SIZE", 1)  # one study per request
    asked = []
    with _client(orthanc, "dicomweb") as client:
        search = client._web.search_for_studies

        def counting(*args, **kwargs):
            asked.append(kwargs.get("offset"))
            return search(*args, **kwargs)

        monkeypatch.setattr(client._web, "search_for_studies", counting)
        found = {s.study_uid for s in client.iter_studies(StudyQuery(patient_id=PATIENT_ID))}
    orthanc.delete_study(study)
    assert {STUDY_UID, study} <= found
    assert asked[:3] == [0, 1, 2]  # page by page, until a short page


@pytest.mark.parametrize("instance_uid", ["1.2.3.4", "1.2.3.45"])  # even and odd lengths
def test_received_files_get_the_file_meta_pynetdicom_would_write(instance_uid):
    from pynetdicom.dsutils import create_file_meta, encode_file_meta

    from viewer.pacs.listener import file_meta_header

    for storage, syntax in [
        ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"),
        ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.4.90"),
    ]:
        meta = create_file_meta(
            sop_class_uid=storage, sop_instance_uid=instance_uid, transfer_syntax=syntax
        )
        expected = b"\0" * 128 + b"DICM" + encode_file_meta(meta)
        assert file_meta_header(storage, instance_uid, syntax) == expected


def test_associations_send_without_nagle_and_poll_briefly(orthanc, pacs_home):  # noqa: F811
    """Without TCP_NODELAY a C-GET's identifier waits ~40 ms for the PACS's delayed ACK;
    with pynetdicom's default maximum PDU the PACS sends images in 16 KiB pieces."""
    import socket

    from pynetdicom.sop_class import Verification

    from viewer.pacs.transport import POLL_S

    with _client(orthanc, "dimse") as client:
        ae = client._new_ae()
        ae.add_requested_context(Verification)
        with client._association(ae) as assoc:
            raw = assoc.dul.socket.socket
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert assoc.dul._run_loop_delay == POLL_S
            # no limit announced (pynetdicom's default, 16 KiB, made the PACS send 8x more PDUs)
            assert assoc.requestor.maximum_length == 0
            assert assoc.send_c_echo().Status == 0


@pytest.mark.parametrize("method", ["get", "move"])
def test_open_after_retrieve_uses_what_arrived(orthanc, pacs_home, tmp_path, monkeypatch, method):  # noqa: F811
    """Opening right after a retrieve uses the headers walked and the pixels received
    while it ran; the volume is the one reading the folder gives, and a folder changed
    since is read from disk."""
    from viewer.io import dicom_files, dicom_pixels

    study, series = STUDY_UID + ".8", SERIES_UID + ".8"
    orthanc.upload(
        pacs_ready_series(tmp_path / "plain", study_uid=study, series_uid=series, decompress=True)
    )
    headers_read, pixels = [], []
    scan_header, read_native = dicom_files._scan_header, dicom_pixels._read_native
    monkeypatch.setattr(
        dicom_files, "_scan_header", lambda path: headers_read.append(path) or scan_header(path)
    )
    monkeypatch.setattr(
        dicom_pixels,
        "_read_native",
        lambda record, source=None: (
            pixels.append(source is not None) or read_native(record, source)
        ),
    )
    try:
        with _client(orthanc, "dimse") as client:
            folder = client.retrieve_series(study, series, tmp_path / "a", method=method)
            received = load_volume(folder)
            assert headers_read == [] and pixels == [True] * 20  # nothing read again
            from_disk = load_volume(folder)  # the received series was let go: from disk
            assert len(headers_read) == 20 and pixels[20:] == [False] * 20
            np.testing.assert_array_equal(received.array, from_disk.array)
            np.testing.assert_array_equal(received.affine, from_disk.affine)
            assert received.array.dtype == from_disk.array.dtype
            assert received.warnings == from_disk.warnings
            assert received.source_path == from_disk.source_path

            again = client.retrieve_series(study, series, tmp_path / "b", method=method)
            changed = sorted(again.iterdir())[3]
            changed.write_bytes(changed.read_bytes())  # same bytes, a new modification time
            headers_read.clear()
            reopened = load_volume(again)
            assert len(headers_read) == 20  # not the files as received: read from disk
            np.testing.assert_array_equal(reopened.array, from_disk.array)
    finally:
        orthanc.delete_study(study)
