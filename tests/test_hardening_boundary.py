"""The CLI boundary: one stderr line whatever happens, library chatter and tracebacks in
the log file with header values blanked, and strict JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.fuzz.corpus import CANARY, set_dicom_value, with_canary
from viewer import strict_json
from viewer.cli import main


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    folder = tmp_path / "log"
    monkeypatch.setenv("SPLEENSCOPE_LOG_DIR", str(folder))
    return folder


def test_strict_json_turns_non_finite_values_into_null_with_a_warning():
    import numpy as np

    text = strict_json.dumps(
        {"spacing": [1.0, float("nan")], "volume_ml": np.float32("inf"), "warnings": ["w"]}
    )
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert document["spacing"] == [1.0, None] and document["volume_ml"] is None
    assert document["warnings"][0] == "w"
    assert "spacing[1]" in document["warnings"][1] and "volume_ml" in document["warnings"][1]


def test_unexpected_exception_is_one_line_and_a_scrubbed_traceback_in_the_log(
    sample_data, log_dir, monkeypatch, capsys
):
    import viewer.io.load

    def broken(*args, **kwargs):
        float(CANARY)  # what a reader bug on a text header value looks like

    monkeypatch.setattr(viewer.io.load, "load_volume", broken)
    code = main(["info", str(sample_data / "mr_abdomen.nii.gz")])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spleenscope: error: unexpected"), err
    assert CANARY not in err
    logged = (log_dir / "spleenscope.log").read_text()
    assert "Traceback" in logged and "ValueError" in logged and "in broken" in logged
    assert CANARY not in logged


def test_library_warnings_go_to_the_log_not_stderr(sample_data, tmp_path, log_dir):
    series = tmp_path / "mr4"
    series.mkdir()
    for path in sorted((sample_data / "dicom_edge/mr4_anatomical").iterdir()):
        data = set_dicom_value(with_canary(path), 0x00200013, b"IS", CANARY.encode())
        (series / path.name).write_bytes(data)
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), "info", str(series), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "SPLEENSCOPE_LOG_DIR": str(log_dir)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # pydicom complains about the text in InstanceNumber...
    logged = (log_dir / "spleenscope.log").read_text()
    assert "Invalid value for VR IS" in logged  # ...into the log,
    assert CANARY not in logged + done.stdout  # with the value blanked
