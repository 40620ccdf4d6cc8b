"""``spleenscope view --screenshot``: the whole window rendered offscreen, then exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PyQt5.QtGui import QImage

from tests.conftest import sample_path

REPO = Path(__file__).resolve().parents[1]


def _run_view(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "main.py", "view", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_phantom_screenshot(tmp_path):
    out = tmp_path / "phantom.png"
    result = _run_view("--phantom", "--screenshot", str(out), "--size", "1200x800")
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    # the docks the segmentation/training extensions add scroll instead of growing
    assert (image.width(), image.height()) == (1200, 800)
    # the offscreen platform's noise is filtered (only that message)
    assert "propagateSizeHints" not in result.stderr


def test_ct_with_mask_preset_and_cursor(tmp_path):
    out = tmp_path / "ct.png"
    result = _run_view(str(sample_path("ct_spleen_dicom")),
                       "--mask", str(sample_path("ct_spleen_dicom_label.nii.gz")),
                       "--preset", "liver", "--cursor=-100,180,-785",
                       "--screenshot", str(out))
    assert result.returncode == 0, result.stderr
    assert QImage(str(out)).width() == 1600


@pytest.mark.parametrize(
    "args, message",
    [
        (["--phantom", "--preset", "nonsense"], "unknown window preset"),
        (["--phantom", "--cursor", "1,2"], "three numbers"),
        (["/nonexistent/ct.nii.gz"], "no such file"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, args, message):
    result = _run_view(*args, "--screenshot", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
