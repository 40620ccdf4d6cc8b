"""The training dialog's controller without Qt: a real ``spleenscope train --json`` child's
output in, status texts, crash messages and the kept model with its card out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from segmentation.model_file import load_model
from tests.seg_support import phantom_dataset
from viewer import model_card
from viewer.training_controller import TrainingController
from viewer.training_data import check_training_data
from viewer.training_protocol import TrainingSettings, package_root

TINY = dict(epochs=1, steps_per_epoch=2, batch_size=2, patch_size=64, base_channels=4, depth=2,
            spacing_mm=4.0, device="cpu", threads=1)
START = {"event": "start", "epochs": 3, "device": "CPU, 1 thread", "train_slices": 30,
         "val_slices": 30, "first_epoch": 1, "steps_per_epoch": 4}
EPOCH = {"event": "epoch", "epochs": 3, "epoch": 1, "train_loss": 1.2, "val_loss": 1.1,
         "val_dice": 0.25, "best_val_dice": 0.25, "seconds": 42.0, "eta_seconds": 84.0}


def _begun(tmp_path) -> TrainingController:
    controller = TrainingController()
    settings = TrainingSettings(output=tmp_path / "staging" / "m.pt", data=tmp_path, **TINY)
    settings.output.parent.mkdir(parents=True)
    settings.output.write_bytes(b"left by an earlier run")
    command = controller.begin(settings, "folder")
    assert command[0] == sys.executable and "train" in command and "--json" in command
    assert not settings.output.exists()  # a stale checkpoint can never pass as this run's
    return controller


def test_events_in_chunks_become_status_curves_and_texts(tmp_path):
    controller = _begun(tmp_path)
    stream = (json.dumps(START) + "\n" + '{"event": "progress", "epoch": 1, "step": 2, '
              '"steps": 4, "loss": 1.5}\n' + json.dumps(EPOCH) + "\n").encode()
    events = []
    for start in range(0, len(stream), 5):
        events += controller.feed_stdout(stream[start:start + 5])
    assert [type(e).__name__ for e in events] == ["StartEvent", "ProgressEvent", "EpochEvent"]
    assert controller.run.dice_points == [(1.0, 0.25)]
    status = controller.status_text(running=True)
    assert status.startswith("Epoch 1 of 3") and "about 84 s left" in status
    assert status.endswith("elapsed")
    assert controller.status_text(running=False) == controller.run.status_text()
    assert controller.best_text() == "Best validation Dice 0.250 (epoch 1) · last epoch took 42 s"
    assert controller.device_text() == "Device: CPU, 1 thread · 30 training / 30 validation slices"


def test_a_crash_says_how_it_ended_with_the_last_error_line(tmp_path):
    controller = _begun(tmp_path)
    lines = controller.feed_stderr(b"Traceback...\n\n  boom\nRuntimeError: out of memory\n")
    assert lines == ["Traceback...", "  boom", "RuntimeError: out of memory"]
    controller.ended(exit_code=1, crashed=False)
    assert controller.run.error == ("the training process ended unexpectedly (exit 1): "
                                    "RuntimeError: out of memory")
    assert controller.status_text(running=False).startswith("Failed: the training process")
    assert controller.keep_model(tmp_path / "models") is None  # nothing was written
    assert controller.saved_model is None


def test_a_stopped_child_that_was_killed_reads_as_stopped(tmp_path):
    controller = _begun(tmp_path)
    controller.stop_requested = True
    controller.ended(exit_code=9, crashed=True)
    assert controller.run.error == "the training process was stopped"
    assert controller.keep_model(tmp_path / "models") is None
    assert controller.run.error == "the training process was stopped"  # not overwritten


def test_a_real_run_is_kept_in_the_models_folder_with_its_card(tmp_path):
    data = phantom_dataset(tmp_path / "data", cases=2)
    models = tmp_path / "models"
    settings = TrainingSettings(output=model_card.staging_dir(models) / "tiny.pt", data=data,
                                **TINY)
    controller = TrainingController()
    controller.data_check = check_training_data(data)
    command = controller.begin(settings, "folder")
    env = dict(os.environ, PYTHONPATH=str(package_root()))
    done = subprocess.run(command, capture_output=True, env=env, timeout=180)
    controller.feed_stdout(done.stdout)
    controller.feed_stderr(done.stderr)
    controller.flush()
    controller.ended(done.returncode, crashed=False)
    assert controller.run.error is None, controller.stderr_tail
    saved = controller.keep_model(models)
    assert saved == models / "tiny.pt" == controller.saved_model
    card = model_card.read_card(saved)
    assert card["data"]["case_names"] == ["spleen_0", "spleen_1"]
    assert card["run"]["ended"] == "finished" and card["run"]["epochs_run"] == 1
    assert load_model(saved).val_dice == pytest.approx(controller.run.best_val_dice, abs=1e-4)


def test_the_controller_imports_without_qt_or_torch():
    code = ("import sys, viewer.training_controller; "
            "print(sorted(m for m in ('torch', 'PyQt5') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(package_root()))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
