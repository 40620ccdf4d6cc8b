"""The dialog's side of ``spleenscope train --json``: command line, event parsing, run state,
model cards, data checks. Qt-free; the command line is run for real once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from segmentation.model_file import load_model
from tests.seg_support import phantom_dataset
from viewer import model_card
from viewer.training_data import check_training_data
from viewer.training_protocol import (
    DoneEvent,
    EpochEvent,
    ErrorEvent,
    EventReader,
    ProgressEvent,
    StartEvent,
    TextLine,
    TrainingRun,
    TrainingSettings,
    build_command,
    format_duration,
    package_root,
    parse_event,
)

TINY = dict(epochs=1, steps_per_epoch=2, batch_size=2, patch_size=64, base_channels=4, depth=2,
            spacing_mm=4.0, device="cpu", threads=1)

START = {"event": "start", "epochs": 3, "device": "CPU, 1 thread", "train_slices": 30,
         "val_slices": 30, "first_epoch": 1, "steps_per_epoch": 4}
EPOCH = {"event": "epoch", "epochs": 3, "epoch": 1, "train_loss": 1.2, "val_loss": 1.1,
         "val_dice": 0.25, "best_val_dice": 0.25, "seconds": 2.5, "eta_seconds": 5.0}


def test_command_line_matches_the_cli_options(tmp_path):
    settings = TrainingSettings(output=tmp_path / "m.pt", data=tmp_path / "data",
                                learning_rate=3e-4, axis="coronal", **{**TINY, "epochs": 7})
    command = build_command(settings, python="/usr/bin/python3")
    assert command[:2] == ["/usr/bin/python3", "-c"]
    args = command[3:]
    assert args[:2] == ["train", str(tmp_path / "data")]
    assert args[-1] == "--json"
    options = dict(zip(args[2:-1:2], args[3:-1:2], strict=True))
    assert options["-o"] == str(tmp_path / "m.pt")
    assert options["--epochs"] == "7" and float(options["--lr"]) == 3e-4
    assert options["--axis"] == "coronal" and options["--steps-per-epoch"] == "2"
    assert options["--base-channels"] == "4" and options["--threads"] == "1"
    # fine-tuning takes the architecture from the parent model, so those options go
    tuned = build_command(TrainingSettings(output=tmp_path / "m.pt", data=tmp_path,
                                           init_from=tmp_path / "parent.pt"))
    assert "--init" in tuned and "--base-channels" not in tuned and "--spacing" not in tuned
    # the CLI parser accepts exactly what we build
    from viewer.cli import build_parser

    parsed = build_parser().parse_args(args)
    assert parsed.epochs == 7 and parsed.axis == "coronal" and parsed.json
    assert parsed.output == tmp_path / "m.pt" and parsed.patch_size == 64


def test_settings_problems_are_sentences(tmp_path):
    assert TrainingSettings(output=tmp_path / "m.pt", data=tmp_path).problems() == []
    bad = TrainingSettings(output=tmp_path / "m.txt", epochs=0, val_fraction=1.0)
    problems = bad.problems()
    assert "choose training data" in problems
    assert any("epochs" in p for p in problems) and any(".pt" in p for p in problems)
    assert any("validation fraction" in p for p in problems)


def test_events_parse_into_typed_records():
    assert parse_event(json.dumps(START)) == StartEvent(3, "CPU, 1 thread", 30, 30, 1, 4)
    progress = parse_event('{"event": "progress", "epoch": 2, "step": 3, "steps": 4, "loss": 0.5}')
    assert progress == ProgressEvent(epoch=2, step=3, steps=4, loss=0.5)
    epoch = parse_event(json.dumps(EPOCH))
    assert isinstance(epoch, EpochEvent) and epoch.val_dice == 0.25 and epoch.eta_seconds == 5.0
    done = parse_event('{"event": "done", "model": "/m.pt", "best_val_dice": null, '
                       '"epochs_run": 2, "stopped": true, "seconds": 9.1}')
    assert done == DoneEvent("/m.pt", None, 2, True, 9.1)
    assert parse_event('{"event": "error", "message": "no data"}') == ErrorEvent("no data")


@pytest.mark.parametrize("line", [
    "Warning: something printed by a library",
    "{not json",
    '{"event": "epoch"}',  # missing fields
    '{"event": "telemetry", "x": 1}',  # unknown kind
    "[1, 2, 3]",
])
def test_garbage_lines_become_text_not_errors(line):
    assert parse_event(line) == TextLine(line)


def test_reader_handles_chunks_split_anywhere_and_blank_lines():
    stream = (json.dumps(START) + "\n\nnoise from a library\n" + json.dumps(EPOCH) + "\n"
              + '{"event": "done", "model": "m.pt", "best_val_dice": 0.3, "epochs_run": 1, '
              '"stopped": false}').encode()
    whole = EventReader().feed(stream) + []
    reader = EventReader()
    events = []
    for start in range(0, len(stream), 7):  # 7-byte chunks cut lines and JSON apart
        events += reader.feed(stream[start:start + 7])
    assert not any(isinstance(e, DoneEvent) for e in events)  # no newline yet
    events += reader.flush()
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["StartEvent", "TextLine", "EpochEvent", "DoneEvent"]
    assert whole == events[:3]
    # multi-byte characters cut in the middle survive too
    reader = EventReader()
    text = "überall ✓\n".encode()
    assert reader.feed(text[:1]) == [] and reader.feed(text[1:]) == [TextLine("überall ✓")]


def test_run_state_builds_curves_and_status():
    run = TrainingRun()
    assert run.status_text() == "Starting…" and run.fraction_done == 0.0
    run.apply(parse_event(json.dumps(START)))
    run.apply(ProgressEvent(epoch=1, step=2, steps=4, loss=1.5))
    assert run.loss_points == [(0.5, 1.5)]
    assert run.status_text().startswith("Epoch 1 of 3 · step 2/4")
    assert run.fraction_done == pytest.approx(0.5 / 3)
    run.apply(parse_event(json.dumps(EPOCH)))
    assert run.dice_points == [(1.0, 0.25)] and run.val_loss_points == [(1.0, 1.1)]
    assert "about 5.0 s left" in run.status_text()
    assert run.fraction_done == pytest.approx(1 / 3)
    run.apply(DoneEvent("m.pt", 0.25, 1, True))
    assert run.status_text() == "Stopped after 1 of 3 epochs" and run.fraction_done == 1.0
    run.apply(ErrorEvent("out of memory"))
    assert run.status_text() == "Failed: out of memory"


def test_durations_read_like_speech():
    assert format_duration(0.14) == "0.1 s"
    assert format_duration(42) == "42 s"
    assert format_duration(300) == "5 min"
    assert format_duration(3900) == "1 h 05 min"


def test_built_command_runs_the_real_cli_and_finalizes_a_model_with_its_card(tmp_path):
    data = phantom_dataset(tmp_path / "data", cases=2)
    staging = model_card.staging_dir(tmp_path / "models")
    settings = TrainingSettings(output=staging / "tiny.pt", data=data, **TINY)
    env = dict(os.environ, PYTHONPATH=str(package_root()))
    done = subprocess.run(build_command(settings), capture_output=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    reader = EventReader()
    events = reader.feed(done.stdout) + reader.flush()
    run = TrainingRun()
    for event in events:
        run.apply(event)
    assert run.done is not None and not run.done.stopped and run.error is None
    assert len(run.dice_points) == 1 and run.loss_points

    check = check_training_data(data)
    info = model_card.describe_data("folder", data, [c.name for c in check.cases])
    outcome = {"epochs_run": run.done.epochs_run, "stopped": False, "seconds": 1.0}
    final = model_card.finalize_trained_model(settings.output, tmp_path / "models", "my model",
                                              info, settings, outcome)
    assert final == tmp_path / "models" / "my_model.pt"
    assert not settings.output.exists()
    assert not model_card.state_file_path(settings.output).exists()
    card = json.loads(model_card.card_json_path(final).read_text())
    loaded = load_model(final)
    assert loaded.metadata["card"] == card  # the card travels inside the model too
    assert card["data"] == {"source": "folder", "folder_name": "data", "cases": 2,
                            "case_names": ["spleen_0", "spleen_1"]}
    assert card["metrics"]["val_dice"] == pytest.approx(run.done.best_val_dice)
    assert card["settings"]["epochs"] == 1 and card["settings"]["learning_rate"] == 1e-3
    assert "output" not in card["settings"] and str(tmp_path) not in json.dumps(card)
    assert card["run"]["device"].startswith("CPU")
    markdown = model_card.card_markdown_path(final).read_text()
    assert "Validation Dice" in markdown and "spleen_0" in markdown
    assert model_card.read_card(final) == card
    assert model_card.data_summary(card) == "2 cases, data"
    # a second model with the same name does not overwrite the first
    assert model_card.free_model_path(tmp_path / "models", "my model").name == "my_model_2.pt"


def _nifti(path, array, affine):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)


def test_data_check_lists_every_problem(tmp_path):
    data = phantom_dataset(tmp_path / "good", cases=2)
    assert check_training_data(data).ok
    bad = tmp_path / "bad"
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    image = np.zeros((20, 20, 10), np.int16)
    many = np.zeros((20, 20, 10), np.uint8)
    many[:8, :8] = np.arange(8).reshape(8, 1, 1)
    _nifti(bad / "imagesTr" / "a.nii.gz", image, affine)
    _nifti(bad / "labelsTr" / "a.nii.gz", many, affine)  # values 0..7
    _nifti(bad / "imagesTr" / "b.nii.gz", image, affine)
    _nifti(bad / "labelsTr" / "b.nii.gz", (many[:10] > 0).astype(np.uint8), affine)  # other grid
    _nifti(bad / "imagesTr" / "c.nii.gz", image, affine)  # no label
    _nifti(bad / "labelsTr" / "d.nii.gz", (many > 0).astype(np.uint8), affine)  # no image
    check = check_training_data(bad)
    text = "\n".join(check.problems)
    assert not check.ok and len(check.problems) == 4, text
    assert "label values 0, 1, 2, 3, 4, 5" in text
    assert "shape" in text and "c has no label" in text and "d has no image" in text
    assert check.summary() == "2 cases found; 4 problems"
    empty = check_training_data(tmp_path / "nothing")
    assert not empty.ok and "imagesTr" in empty.problems[0]


def test_protocol_modules_import_without_qt_or_torch():
    code = ("import sys, viewer.training_protocol, viewer.model_card, viewer.training_data; "
            "print(sorted(m for m in ('torch', 'PyQt5') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(package_root()))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
