"""The training API: events, cancel keeps a usable model, resume continues, seeds repeat."""

from __future__ import annotations

import pytest
import torch

from segmentation.datasets import find_cases
from segmentation.model_file import load_model
from segmentation.training import TrainConfig, state_path_for, train
from tests.seg_support import phantom_dataset

torch.set_num_threads(1)


def tiny_config(**changes) -> TrainConfig:
    settings = dict(
        epochs=2,
        steps_per_epoch=2,
        batch_size=2,
        patch_size=64,
        base_channels=4,
        depth=2,
        target_spacing_mm=4.0,
        device="cpu",
        seed=3,
    )
    settings.update(changes)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return find_cases(phantom_dataset(tmp_path_factory.mktemp("data"), cases=2))


def test_events_history_and_best_checkpoint(cases, tmp_path):
    events = []
    result = train(cases, tiny_config(), tmp_path / "m.pt", progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds.count("epoch") == 2 and kinds[0] == "start" and kinds[-1] == "done"
    assert result.epochs_run == 2 and not result.stopped
    assert len(result.history) == 2
    best = max(h["val_dice"] for h in result.history)
    assert result.best_val_dice == pytest.approx(best, abs=1e-5)
    loaded = load_model(result.model_path)
    assert loaded.val_dice == pytest.approx(best, abs=1e-5)
    assert "no flips" in loaded.metadata["training"]["augmentation"]


def test_cancel_during_first_epoch_still_saves_a_model(cases, tmp_path):
    steps = []
    result = train(
        cases,
        tiny_config(epochs=50, steps_per_epoch=20),
        tmp_path / "m.pt",
        progress=lambda e: steps.append(e) if e["event"] == "progress" else None,
        cancel=lambda: len(steps) >= 1,
    )
    assert result.stopped and result.epochs_run == 1
    assert len(steps) <= 5  # stopped right after the step that saw the flag
    assert load_model(tmp_path / "m.pt").config.base_channels == 4


def test_resume_continues_where_it_stopped(cases, tmp_path):
    path = tmp_path / "m.pt"
    first = train(cases, tiny_config(epochs=1), path)
    assert state_path_for(path).is_file() and first.epochs_run == 1
    events = []
    second = train(cases, tiny_config(epochs=2, resume=True), path, progress=events.append)
    assert events[0]["first_epoch"] == 2
    assert [h["epoch"] for h in second.history] == [1, 2]


def test_single_case_holds_out_a_block_of_slices(cases, tmp_path):
    events = []
    train(
        cases[:1],
        tiny_config(epochs=1, val_fraction=0.25),
        tmp_path / "m.pt",
        progress=events.append,
    )
    start = events[0]
    assert start["val_slices"] > 0 and start["train_slices"] + start["val_slices"] == 30
    split = load_model(tmp_path / "m.pt").metadata["training_data"]["split"]
    assert split["by"] == "slices" and split["val_slices"][1] >= split["val_slices"][0]


def test_same_seed_gives_the_same_weights(cases, tmp_path):
    a = train(cases, tiny_config(epochs=1), tmp_path / "a.pt")
    b = train(cases, tiny_config(epochs=1), tmp_path / "b.pt")
    weights_a = load_model(a.model_path).network.state_dict()
    weights_b = load_model(b.model_path).network.state_dict()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


@pytest.mark.parametrize("axis", ["coronal", "sagittal"])
def test_other_slicing_axes_train_and_segment_along_that_axis(cases, tmp_path, axis):
    from segmentation.config import axis_index
    from segmentation.inference import segment_volume
    from viewer.io import load_volume

    path = tmp_path / f"{axis}.pt"
    result = train(cases, tiny_config(epochs=1, axis=axis, context_slices=1), path)
    loaded = load_model(path)
    assert loaded.config.axis == axis_index(axis) and loaded.config.in_channels == 3
    assert result.history and result.history[0]["val_dice"] is not None
    volume = load_volume(cases[0].image)
    segmented = segment_volume(volume, model=loaded, device="cpu")
    assert segmented.axis == axis_index(axis)
    assert segmented.slices == volume.shape[axis_index(axis)]
    assert segmented.mask.shape == volume.shape
