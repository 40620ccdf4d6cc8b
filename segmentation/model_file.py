"""One torch file per model: weights, preprocessing + architecture, and metadata.

The file is ``torch.save`` of a plain dict::

    {"format": "spleenscope-model", "format_version": 1,
     "config": {...ModelConfig...}, "metadata": {...}, "state_dict": {name: tensor}}

It is read back with ``torch.load(weights_only=True)``, so a file can never run
code on load. Anything else (a checkpoint of another program, a truncated download,
a text file, a newer format) raises :class:`viewer.errors.ModelFileError` with a
one-line message.
"""

from __future__ import annotations

import datetime as _dt
import logging
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from segmentation.config import ModelConfig
from segmentation.unet import build_network
from viewer.atomic import atomic_path
from viewer.errors import ModelFileError

log = logging.getLogger(__name__)

FORMAT_NAME = "spleenscope-model"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A network ready for inference, with the settings it was trained with."""

    network: nn.Module
    config: ModelConfig
    metadata: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        if self.metadata.get("name"):
            return str(self.metadata["name"])
        return self.path.stem if self.path else "unsaved model"

    @property
    def val_dice(self) -> float | None:
        metrics = self.metadata.get("validation") or {}
        value = metrics.get("val_dice", self.metadata.get("val_dice"))
        return None if value is None else float(value)


def default_metadata(name: str, **extra) -> dict:
    """The metadata every model file carries; callers add training details."""
    data = {
        "name": name,
        "version": "1",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "label_names": {1: "spleen"},
        "training_data": {},
        "validation": {},
        "torch_version": torch.__version__,
    }
    data.update(extra)
    return data


def _plain(value):
    """Metadata as JSON-like builtins only (what weights_only loading accepts)."""
    if isinstance(value, dict):
        return {(k if isinstance(k, (str, int)) else str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    # Subclasses (torch's TorchVersion is a str) would need allow-listing on load.
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def save_model(path: str | Path, network: nn.Module, config: ModelConfig, metadata: dict) -> Path:
    """Write a model file atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").clone() for k, v in network.state_dict().items()}
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": _plain(config.to_dict()),
        "metadata": _plain(metadata),
        "state_dict": state,
    }
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    log.info("saved model to %s", path)
    return path


def _read_payload(path: Path) -> dict:
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        RuntimeError,
        ValueError,
        OSError,
        AttributeError,
        ImportError,
        KeyError,
        TypeError,
        IndexError,  # a file cut short inside its pickle: the unpickler's stack runs dry
    ) as error:
        log.debug("torch.load failed: %s", error)
        raise ModelFileError(
            f"{path.name}: not a readable SpleenScope model file (corrupt, truncated or another "
            "format); choose a .pt file saved by 'spleenscope train'"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path.name}: this torch file is not a SpleenScope model (no '{FORMAT_NAME}' header); "
            "choose a file saved by 'spleenscope train'"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path.name}: model format version {version} is not supported by this SpleenScope "
            f"(reads version {FORMAT_VERSION}); update SpleenScope or retrain the model"
        )
    return payload


def load_model(path: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Read a model file into an eval-mode network on ``device``."""
    path = Path(path)
    payload = _read_payload(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
        network = build_network(config)
        network.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        log.debug("model file inconsistent: %s", error)
        raise ModelFileError(
            f"{path.name}: model weights do not match the architecture the file describes; "
            "the file is damaged or from an incompatible version, retrain it"
        ) from None
    network.to(device).eval()
    metadata = dict(payload.get("metadata") or {})
    return LoadedModel(network=network, config=config, metadata=metadata, path=path)
