"""``spleenscope train --json``: the JSON-lines protocol the in-app dialog relies on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from segmentation.model_file import load_model
from tests.seg_support import REPO, TINY_TRAIN_ARGS, phantom_dataset

ENV = dict(os.environ, PYTHONUNBUFFERED="1", SPLEENSCOPE_THREADS="1")


def spleenscope(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "main.py"), *args]


def test_short_run_prints_events_and_writes_a_loadable_model(tmp_path):
    data = phantom_dataset(tmp_path / "data")
    model = tmp_path / "model.pt"
    done = subprocess.run(
        spleenscope("train", str(data), "-o", str(model), "--json", *TINY_TRAIN_ARGS),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "epoch" in kinds
    assert "progress" in kinds
    start = events[0]
    assert start["epochs"] == 1 and start["device"].startswith("CPU")
    assert start["train_slices"] == 30 and start["val_slices"] == 30  # one case each
    epoch = next(event for event in events if event["event"] == "epoch")
    for key in (
        "epoch",
        "epochs",
        "train_loss",
        "val_loss",
        "val_dice",
        "best_val_dice",
        "seconds",
        "eta_seconds",
    ):
        assert key in epoch
    assert events[-1] == {**events[-1], "model": str(model), "epochs_run": 1, "stopped": False}
    loaded = load_model(model)
    assert loaded.config.base_channels == 4 and loaded.config.target_spacing_mm == 4.0
    assert loaded.val_dice == events[-1]["best_val_dice"]
    assert loaded.metadata["training_data"]["split"]["by"] == "cases"


def test_sigterm_stops_cleanly_with_a_usable_checkpoint(tmp_path):
    data = phantom_dataset(tmp_path / "data")
    model = tmp_path / "model.pt"
    args = [a if a != "1" or i != 1 else "500" for i, a in enumerate(TINY_TRAIN_ARGS)]
    assert args[:2] == ["--epochs", "500"]
    child = subprocess.Popen(
        spleenscope("train", str(data), "-o", str(model), "--json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        first = json.loads(child.stdout.readline())
        assert first["event"] == "start"
        progress = json.loads(child.stdout.readline())
        assert progress["event"] == "progress"
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        rest, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert time.monotonic() - sent < 30
    assert child.returncode == 0
    last = json.loads(rest.splitlines()[-1])
    assert last["event"] == "done" and last["stopped"] is True
    assert last["epochs_run"] < 500
    assert load_model(model).network is not None


def test_bad_data_gives_one_error_event(tmp_path):
    done = subprocess.run(
        spleenscope("train", str(tmp_path), "-o", str(tmp_path / "m.pt"), "--json"),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "error" and "imagesTr" in event["message"]


def test_2p5d_context_slices_reach_the_model_file(tmp_path):
    data = phantom_dataset(tmp_path / "data")
    model = tmp_path / "context.pt"
    done = subprocess.run(
        spleenscope(
            "train", str(data), "-o", str(model), "--context-slices", "1", *TINY_TRAIN_ARGS
        ),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = load_model(model)
    assert loaded.config.context_slices == 1 and loaded.config.in_channels == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "x"], "invalid int value"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--val-fraction", "1"], "--val-fraction must be at least 0 and below 1"),
        (["--context-slices", "-1"], "--context-slices must be between 0 and 5"),
    ],
)
def test_bad_settings_are_one_line_exit_2(tmp_path, args, message):
    data = phantom_dataset(tmp_path / "data", cases=1)
    done = subprocess.run(
        spleenscope("train", str(data), "-o", str(tmp_path / "m.pt"), *args),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "m.pt").exists()
