"""No header value reaches stderr, the log file or an exported file.

The case the issue found: a DICOM series whose InstanceNumber holds text (here a
canary standing for a patient's name) made ``segment -o OUT.dcm`` crash with the
value on stderr. Now the SEG is written, without the value, and the log holds none.
"""

from __future__ import annotations

import io
import shutil

import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from tests.fuzz.corpus import CANARY, set_dicom_value, with_canary
from viewer.cli import main


def explicit_little_endian(data: bytes) -> bytes:
    """The same dataset re-encoded explicit VR little endian (so a raw value can be set)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_text_in_instance_number_never_leaks_into_seg_stderr_or_log(
    sample_data, tmp_path, monkeypatch, capsys
):
    log_dir = tmp_path / "log"
    monkeypatch.setenv("SPLEENSCOPE_LOG_DIR", str(log_dir))
    series = tmp_path / "ct"
    series.mkdir()
    poisoned = 0
    for path in sorted((sample_data / "dicom_seg/ct-3slice").iterdir()):
        data = explicit_little_endian(with_canary(path))
        changed = set_dicom_value(data, 0x00200013, b"IS", CANARY.encode())
        poisoned += changed is not None
        (series / path.name).write_bytes(changed or data)
    assert poisoned, "no source slice carries the text in InstanceNumber"
    output = tmp_path / "mask.dcm"
    code = main(["segment", str(series), "-o", str(output), "--device", "cpu", "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert CANARY not in captured.out + captured.err
    assert CANARY.encode() not in output.read_bytes()
    logged = b"".join(p.read_bytes() for p in log_dir.iterdir())
    assert CANARY.encode() not in logged
    shutil.rmtree(series)
