"""A real PACS for the tests: Orthanc on free loopback ports, plus the sample CT made PACS-ready.

``orthanc`` (session scope) starts Debian's ``Orthanc`` with its own configuration
(fresh storage, loopback only, DICOMweb plugin, one registered HTTP user, our AE
title declared as a C-MOVE destination, called-AE checking on), loads the sample CT
series and stops the server by its process id. Tests that need it skip with a
message saying what to install when Orthanc is missing.

The sample CT export has empty Study/Series/SOP Class UIDs and no Patient ID, which
no PACS accepts; :func:`pacs_ready_series` writes a copy with fixed UIDs and a made-up
patient (the name is a canary: tests check it never reaches logs or errors).
"""

from __future__ import annotations

import copy as copy_module
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.uid import ExplicitVRLittleEndian

from tests.conftest import sample_data_dir

ORTHANC_AET = "ORTHANCTEST"
OUR_AET = "SPLEENSCOPE"
USER, PASSWORD = "radiologist", "correct-horse-battery"
# A made-up patient; a canary for "names never reach logs or errors".
PATIENT_NAME = "Canary^Zebulon"
PATIENT_ID = "PACSTEST-0001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.11.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.11.1.1"
DICOMWEB_PLUGIN_PATHS = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pacs_ready_series(
    destination: Path,
    *,
    slices: int | None = None,
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    decompress: bool = False,
) -> Path:
    """Copy the sample CT into ``destination`` with the UIDs and patient a PACS needs.

    ``slices`` larger than the sample repeats its slices at new positions (same step)
    with new SOP Instance UIDs, for a long series. ``decompress`` stores the pixels
    uncompressed (explicit VR little endian), as most CT archives hold them.
    """
    source = sample_data_dir() / "ct_spleen_dicom"
    if not source.is_dir():
        pytest.skip(f"sample data not found: {source}")
    files = sorted(p for p in source.iterdir() if p.is_file())
    headers = [pydicom.dcmread(p) for p in files]
    headers.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    if decompress:
        for dataset in headers:
            dataset.decompress()
            dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    step = float(headers[1].ImagePositionPatient[2]) - float(headers[0].ImagePositionPatient[2])
    count = slices or len(headers)
    destination.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        copy = copy_module.deepcopy(headers[index % len(headers)])
        sop_uid = f"{series_uid}.{index + 1}"
        copy.SOPClassUID = pydicom.uid.CTImageStorage
        copy.SOPInstanceUID = sop_uid
        copy.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
        copy.file_meta.MediaStorageSOPInstanceUID = sop_uid
        copy.StudyInstanceUID = study_uid
        copy.SeriesInstanceUID = series_uid
        copy.PatientID = PATIENT_ID
        copy.PatientName = PATIENT_NAME
        copy.AccessionNumber = "ACC11"
        copy.StudyID = "1"
        copy.SeriesNumber = 3
        copy.InstanceNumber = index + 1
        position = [float(v) for v in headers[0].ImagePositionPatient]
        position[2] += step * index
        copy.ImagePositionPatient = position
        copy.SliceLocation = position[2]
        copy.save_as(destination / f"{index + 1:04d}.dcm", enforce_file_format=True)
    return destination


@dataclass
class Orthanc:
    """A running Orthanc: where to reach it and how to load or look up instances."""

    process: subprocess.Popen
    http_port: int
    dicom_port: int
    our_port: int  # the port our C-MOVE listener must use (declared in DicomModalities)
    storage: Path
    scheme: str = "http"

    @property
    def dimse_node(self) -> str:
        return f"{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    @property
    def web_url(self) -> str:
        return f"{self.scheme}://{USER}@127.0.0.1:{self.http_port}/dicom-web"

    @property
    def rest(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.http_port}"

    def get(self, path: str, **kwargs) -> requests.Response:
        # the test's own look-ups trust the self-signed test certificate
        return requests.get(
            self.rest + path, auth=(USER, PASSWORD), timeout=30, verify=False, **kwargs
        )

    def upload(self, folder: Path) -> list[str]:
        ids = []
        for path in sorted(folder.iterdir()):
            answer = requests.post(
                self.rest + "/instances", data=path.read_bytes(), auth=(USER, PASSWORD), timeout=30
            )
            answer.raise_for_status()
            ids.append(answer.json()["ID"])
        return ids

    def delete_study(self, study_uid: str) -> None:
        found = requests.post(
            self.rest + "/tools/lookup", data=study_uid, auth=(USER, PASSWORD), timeout=30
        ).json()
        for item in found:
            if item["Type"] == "Study":
                requests.delete(self.rest + item["Path"], auth=(USER, PASSWORD), timeout=30)

    def instances_of_study(self, study_uid: str) -> list[dict]:
        """Every instance's main tags in the study (all Orthanc studies with this UID)."""
        found = requests.post(
            self.rest + "/tools/find",
            json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True},
            auth=(USER, PASSWORD),
            timeout=30,
        ).json()
        return found


def orthanc_binary() -> str:
    binary = shutil.which("Orthanc")
    if binary is None:
        pytest.skip("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb dcmtk")
    return binary


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl), as PEM files."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: apt-get install openssl")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def start_orthanc(workdir: Path) -> Orthanc:
    binary = orthanc_binary()
    plugin = next((p for p in DICOMWEB_PLUGIN_PATHS if Path(p).exists()), None)
    if plugin is None:
        pytest.skip(
            "the Orthanc DICOMweb plugin is not installed: apt-get install orthanc-dicomweb"
        )
    http_port, dicom_port, our_port = free_port(), free_port(), free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "SpleenScopeTest",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": {"spleenscope": [OUR_AET, "127.0.0.1", our_port]},
        "MaximumPduLength": 131072,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "SaveJobs": False,
        "StableAge": 1,
    }
    config_path = workdir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = open(workdir / "orthanc.log", "wb")  # noqa: SIM115 (closed with the server)
    process = subprocess.Popen(
        [binary, str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
    )
    server = Orthanc(process, http_port, dicom_port, our_port, storage)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited: {(workdir / 'orthanc.log').read_text()[-2000:]}")
        try:
            if server.get("/system").status_code == 200:
                return server
        except requests.exceptions.ConnectionError:
            pass
        time.sleep(0.1)
    stop_orthanc(server)
    raise RuntimeError("Orthanc did not answer within 30 s")


def stop_orthanc(server: Orthanc) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Orthanc:
    """Orthanc holding the PACS-ready sample CT (20 slices), stopped at the end."""
    workdir = tmp_path_factory.mktemp("orthanc")
    series = pacs_ready_series(workdir / "sample")
    server = start_orthanc(workdir)
    try:
        server.upload(series)
        yield server
    finally:
        stop_orthanc(server)


@pytest.fixture
def pacs_home(tmp_path, monkeypatch) -> Path:
    """A private settings folder and the test password in the environment."""
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPLEENSCOPE_PACS_PASSWORD", PASSWORD)
    return tmp_path / "home"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install dcmtk dicom3tools")
    return path


class TlsFront:
    """An https front for Orthanc's HTTP port with a self-signed certificate.

    Debian's Orthanc 1.10 exits on its first TLS connection (``SslEnabled``), so the
    https tests talk to this real TLS server (Python's ``ssl``), which passes each
    request on to Orthanc unchanged.
    """

    def __init__(self, backend: Orthanc, folder: Path) -> None:
        import http.server
        import ssl
        import threading

        cert, key = self_signed_certificate(folder)
        target = backend.rest

        class Forward(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, target + self.path, headers=headers, data=body, timeout=60
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in (
                        "transfer-encoding",
                        "content-encoding",
                        "content-length",
                        "connection",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def web_url(self) -> str:
        return f"https://{USER}@127.0.0.1:{self.port}/dicom-web"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


VOLUME_CODE = "118565006"  # SNOMED CT "Volume"


def sr_numbers(sr: pydicom.Dataset) -> list[tuple[float, str]]:
    """(value, derivation meaning or "") of every volume measurement in the SR tree."""
    found = []

    def walk(items):
        for item in items:
            if item.get("ValueType") == "NUM" and item.ConceptNameCodeSequence[0].CodeValue == (
                VOLUME_CODE
            ):
                derivation = [
                    c.ConceptCodeSequence[0].CodeMeaning
                    for c in item.get("ContentSequence", [])
                    if c.ConceptNameCodeSequence[0].CodeMeaning == "Derivation"
                ]
                value = float(item.MeasuredValueSequence[0].NumericValue)
                found.append((value, derivation[0] if derivation else ""))
            walk(item.get("ContentSequence", []))

    walk(sr.ContentSequence)
    return sorted(found)


def sr_texts(sr: pydicom.Dataset) -> set[str]:
    texts = set()

    def walk(items):
        for item in items:
            if item.get("ValueType") == "TEXT":
                texts.add(str(item.TextValue))
            walk(item.get("ContentSequence", []))

    walk(sr.ContentSequence)
    return texts


def sr_codes(sr: pydicom.Dataset) -> set[str]:
    """The meanings of every coded value (CODE items) in the SR tree."""
    codes = set()

    def walk(items):
        for item in items:
            if item.get("ValueType") == "CODE":
                codes.add(str(item.ConceptCodeSequence[0].CodeMeaning))
            walk(item.get("ContentSequence", []))

    walk(sr.ContentSequence)
    return codes
