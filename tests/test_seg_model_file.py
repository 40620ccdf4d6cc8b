"""Model files round-trip, and anything else gives a one-line ModelFileError."""

from __future__ import annotations

import pytest
import torch

from segmentation.config import ModelConfig
from segmentation.model_file import FORMAT_NAME, default_metadata, load_model, save_model
from segmentation.unet import build_network
from viewer.errors import ModelFileError

TINY = ModelConfig(base_channels=4, depth=2, pad_multiple=4, context_slices=1)


def saved_tiny(tmp_path):
    torch.manual_seed(0)
    network = build_network(TINY)
    metadata = default_metadata("tiny", validation={"val_dice": 0.5})
    return network, save_model(tmp_path / "tiny.pt", network, TINY, metadata)


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    network, path = saved_tiny(tmp_path)
    loaded = load_model(path)
    assert loaded.config == TINY
    assert loaded.config.in_channels == 3
    assert loaded.name == "tiny" and loaded.val_dice == 0.5
    assert loaded.metadata["label_names"] == {1: "spleen"}
    assert not loaded.network.training
    x = torch.rand(2, 3, 16, 16)
    network.eval()
    with torch.inference_mode():
        assert torch.equal(network(x), loaded.network(x))
    assert not list(tmp_path.glob("*.tmp"))


def one_line_error(path):
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return message


def test_truncated_file(tmp_path):
    _, path = saved_tiny(tmp_path)
    data = path.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    assert "not a readable SpleenScope model" in one_line_error(broken)


def test_text_file_and_missing_file(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    one_line_error(text)
    assert "not found" in one_line_error(tmp_path / "missing.pt")


def test_foreign_torch_checkpoint(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": build_network(TINY).state_dict(), "epoch": 3}, foreign)
    assert "not a SpleenScope model" in one_line_error(foreign)


def test_newer_format_version(tmp_path):
    newer = tmp_path / "newer.pt"
    torch.save(
        {
            "format": FORMAT_NAME,
            "format_version": 99,
            "config": {},
            "metadata": {},
            "state_dict": {},
        },
        newer,
    )
    assert "version 99" in one_line_error(newer)


def test_weights_that_do_not_fit_the_config(tmp_path):
    network, path = saved_tiny(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["base_channels"] = 8
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    assert "do not match" in one_line_error(mismatched)


def test_pickled_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "payload": ModelConfig()}, evil)  # a custom class
    one_line_error(evil)
