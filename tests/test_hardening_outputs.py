"""Outputs are checked before any work, never overwritten by accident, and never half-left.

Real processes where it matters: four concurrent ``convert`` runs racing for one
name, SIGTERM and kill -9 in the middle of a write, non-UTF-8 file names under a
UTF-8 locale.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from viewer.atomic import (
    TEMPORARY_MARK,
    OutputPathError,
    atomic_path,
    check_outputs,
    clear_stale_temporaries,
)
from viewer.cli import main


@pytest.fixture(autouse=True)
def _log_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_LOG_DIR", str(tmp_path / "log"))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spleenscope: error: "), err
    return lines[0]


# ------------------------------------------------------------------ checks before work
def test_folder_given_as_output_is_refused(tmp_path):
    (tmp_path / "out.nii.gz").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        check_outputs([tmp_path / "out.nii.gz"], overwrite=True)


def test_same_file_twice_is_refused_even_with_overwrite(tmp_path):
    target = tmp_path / "x.nii.gz"
    with pytest.raises(OutputPathError, match="two different outputs"):
        check_outputs([target, tmp_path / "." / "x.nii.gz"], overwrite=True)


def test_output_over_or_inside_the_input_is_refused(tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    with pytest.raises(OutputPathError, match="input"):
        check_outputs([folder / "mask.nii.gz"], [folder], overwrite=True)
    image = tmp_path / "image.nii.gz"
    image.write_bytes(b"x")
    with pytest.raises(OutputPathError, match="input"):
        check_outputs([image], [image], overwrite=True)


def test_missing_folder_and_long_names(tmp_path):
    with pytest.raises(OutputPathError, match="no such folder"):
        check_outputs([tmp_path / "nowhere" / "x.nii.gz"])
    legal = "a" * 235 + ".nii.gz"  # 242 bytes: long but legal, and it really writes
    assert check_outputs([tmp_path / legal]) == [tmp_path / legal]
    with atomic_path(tmp_path / legal, suffix=".tmp.nii.gz", overwrite=False) as temporary:
        temporary.write_bytes(b"saved")
    assert (tmp_path / legal).read_bytes() == b"saved"
    with pytest.raises(OutputPathError, match="shorter name"):
        check_outputs([tmp_path / ("b" * 250 + ".nii.gz")])
    deep = tmp_path.joinpath(*(["d" * 200] * 22)) / "x.nii.gz"  # past PATH_MAX
    with pytest.raises(OutputPathError, match="shorter folder"):
        check_outputs([deep])


def test_unwritable_folder_is_refused_before_work(tmp_path):
    if os.geteuid() == 0:  # root writes into any 0555 folder; sysfs refuses even root
        folder = Path("/sys")
        if not folder.is_dir():
            pytest.skip("no unwritable folder for root on this system")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match="cannot write there"):
            check_outputs([folder / "x.nii.gz"])
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o755)


def test_segment_refuses_clashing_outputs_before_loading_anything(
    sample_data, tmp_path, capsys, monkeypatch
):
    import viewer.io

    def no_loading(*args, **kwargs):
        raise AssertionError("the input was read before the outputs were checked")

    monkeypatch.setattr(viewer.io, "load_volume", no_loading)
    code = main(
        [
            "segment",
            str(sample_data / "mr_abdomen.nii.gz"),
            "-o",
            str(tmp_path / "x.nii.gz"),
            "--probabilities",
            str(tmp_path / "x.nii.gz"),
            "--overwrite",
        ]
    )
    assert code == 2
    assert "two different outputs" in one_error_line(capsys)
    assert not (tmp_path / "x.nii.gz").exists()


def test_disk_full_is_one_line(sample_data, tmp_path, capsys, monkeypatch):
    import viewer.io.writers as writers

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.nii.gz"))

    monkeypatch.setattr(writers, "save_volume", full_disk)
    code = main(["convert", str(sample_data / "mr_abdomen.nii.gz"), str(tmp_path / "out.nii.gz")])
    assert code == 2
    assert "out.nii.gz: the disk is full" in one_error_line(capsys)


# ------------------------------------------------------------------ atomic writes
def test_no_overwrite_is_atomic_against_a_file_created_meanwhile(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(OutputPathError, match="already exists"):
        with atomic_path(target, overwrite=False) as temporary:
            temporary.write_text("mine")
            target.write_text("someone else's")  # appears while we write
    assert target.read_text() == "someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_four_concurrent_converts_to_one_name_one_wins(sample_data, tmp_path):
    target = tmp_path / "same.nii.gz"
    command = [
        sys.executable,
        str(REPO_ROOT / "main.py"),
        "convert",
        str(sample_data / "mr_abdomen.nii.gz"),
        str(target),
    ]
    env = {**os.environ, "SPLEENSCOPE_LOG_DIR": str(tmp_path / "log")}
    runs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2, 2], results
    for code, err in results:
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "already exists" in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "log") == ["same.nii.gz"]


WRITER = """
import sys, time
from viewer.atomic import atomic_path
from viewer.cli import _terminate_cleanly_on_sigterm
_terminate_cleanly_on_sigterm()
with atomic_path(sys.argv[1]) as temporary:
    temporary.write_text("half")
    print("writing", flush=True)
    time.sleep(60)
"""


def _start_writer(target: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "writing"
    return process


def test_sigterm_mid_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "mask.nii.gz"
    process = _start_writer(target)
    assert any(TEMPORARY_MARK in p.name for p in tmp_path.iterdir())
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_kill_9_leaves_a_temporary_that_the_next_write_clears(tmp_path):
    target = tmp_path / "mask.nii.gz"
    process = _start_writer(target)
    process.kill()
    process.wait(timeout=30)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and TEMPORARY_MARK in left[0] and left[0].startswith(".mask.nii.gz")
    with atomic_path(tmp_path / "other.txt") as temporary:
        temporary.write_text("next run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]
    assert clear_stale_temporaries(tmp_path) == 0


# ------------------------------------------------------------------ file names
def test_non_utf8_file_names_under_a_utf8_locale(sample_data, tmp_path):
    folder = os.fsencode(tmp_path)
    source = folder + b"/scan-\xff\xfe.nii.gz"
    shutil.copyfile(sample_data / "mr_abdomen.nii.gz", source)
    target = folder + b"/out-\xe9.nii.gz"
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "SPLEENSCOPE_LOG_DIR": str(tmp_path / "log"),
    }
    for argv in (["info", source], ["convert", source, target]):
        done = subprocess.run(
            [sys.executable, os.fsencode(REPO_ROOT / "main.py"), *argv],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert b"Traceback" not in done.stderr
    assert os.path.exists(target)
