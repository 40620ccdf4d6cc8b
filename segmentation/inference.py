"""Slice-by-slice inference on a :class:`viewer.volume.Volume`, with progress and cancel.

The whole pipeline for one call: pick the device, take slices along the model's axis
in batches, window + resample + pad them (:mod:`segmentation.preprocessing`), run
the network under ``torch.inference_mode`` (mixed precision on CUDA), map the
probabilities exactly back onto the volume's canonical grid, then threshold, keep
the largest component, fill holes (:mod:`segmentation.postprocess`) and measure
(:mod:`segmentation.measurements`).

A GUI worker passes ``progress(done, total)`` to drive a progress bar and
``cancel()`` to stop: it is checked before every batch, so at most one more batch
runs after the user presses Stop, and :class:`SegmentationCancelled` is raised.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from segmentation.config import axis_index
from segmentation.devices import autocast_dtype, describe_device, pick_device
from segmentation.measurements import SpleenMeasurements, measure_spleen
from segmentation.model_file import LoadedModel, load_model
from segmentation.postprocess import postprocess
from segmentation.preprocessing import (
    from_model_grid,
    normalize_volume,
    place_slices,
    prepare_batch,
    slice_geometry,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


class SegmentationCancelled(Exception):  # noqa: N818 (the name says what happened)
    """The caller's cancel flag was set; nothing was produced."""


@dataclass
class SegmentationResult:
    """A spleen mask on the input volume's canonical grid, and what was measured on it."""

    mask: np.ndarray
    probabilities: np.ndarray | None
    measurements: SpleenMeasurements
    device: str
    model_name: str
    seconds: float
    slices: int
    axis: int = 2
    model_path: str | None = None

    def summary(self) -> dict:
        """Plain JSON-able facts (what ``segment --json`` prints)."""
        data = self.measurements.as_dict()
        data.update(
            device=self.device,
            model=self.model_name,
            model_path=self.model_path,
            seconds=round(self.seconds, 3),
            slices=self.slices,
            axis=self.axis,
        )
        return data


#: How many loaded models stay in memory: the active CT and MR models, plus a candidate
#: being compared with one of them, so alternating CT and MR studies never reads a
#: file twice. A small model is a few MB; the bound keeps a long session from growing.
MODEL_CACHE_SIZE = 4
_MODEL_CACHE: OrderedDict[tuple[str, int, int, str], LoadedModel] = OrderedDict()
_MODEL_CACHE_LOCK = threading.Lock()  # the window resolves models on several threads


def _cache_key(path: Path, device: torch.device) -> tuple[str, int, int, str]:
    """(file, modification time in ns, size, device): a rewritten file is a new key."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size, str(device)


def resolve_model(
    model: LoadedModel | str | Path | None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """A loaded model from None (the active CT model), a path, or a LoadedModel.

    Files are cached by path, modification time, size and device (the
    :data:`MODEL_CACHE_SIZE` most recently used), so a window that segments CT and
    MR studies in turn reads each model's weights once; a file that changed on disk
    is read again and its old copy dropped.
    """
    if isinstance(model, LoadedModel):
        return model
    if model is None:
        from segmentation.registry import active_model_path

        model = active_model_path()
    path = Path(model).expanduser().resolve()
    if not path.is_file():
        return load_model(path)  # its one-line "model file not found" error
    device = torch.device(device)
    key = _cache_key(path, device)
    with _MODEL_CACHE_LOCK:
        cached = _MODEL_CACHE.get(key)
        if cached is not None:
            _MODEL_CACHE.move_to_end(key)
            return cached
    loaded = load_model(path, device=device)
    with _MODEL_CACHE_LOCK:
        for stale in [k for k in _MODEL_CACHE if k[0] == key[0] and k[1:3] != key[1:3]]:
            del _MODEL_CACHE[stale]  # the file was rewritten: its old weights are dead
        loaded = _MODEL_CACHE.setdefault(key, loaded)  # another thread may have won
        _MODEL_CACHE.move_to_end(key)
        while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return loaded


def cached_model_keys() -> list[tuple[str, int, int, str]]:
    """What the cache holds, least recently used first (for tests and diagnostics)."""
    with _MODEL_CACHE_LOCK:
        return list(_MODEL_CACHE)


def default_batch_size(device: torch.device) -> int:
    return 64 if device.type in ("cuda", "mps") else 8


def predict_probabilities(
    array: np.ndarray,
    spacing_mm: tuple[float, float, float],
    loaded: LoadedModel,
    device: torch.device,
    axis: int,
    batch_size: int,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> np.ndarray:
    """Spleen probability (float32, 0..1) for every voxel of a canonical ``array``."""
    config = replace(loaded.config, axis=axis)
    array = normalize_volume(array, config)
    network = loaded.network.to(device).eval()
    geometry = slice_geometry(
        array.shape, spacing_mm, axis, config.target_spacing_mm, config.pad_multiple
    )
    total = int(array.shape[axis])
    probabilities = np.zeros(array.shape, dtype=np.float32)
    amp_dtype = autocast_dtype(device)
    amp = (
        torch.autocast(device_type=device.type, dtype=amp_dtype)
        if amp_dtype is not None and device.type == "cuda"
        else contextlib.nullcontext()
    )
    done = 0
    with torch.inference_mode():
        for start in range(0, total, batch_size):
            if cancel is not None and cancel():
                raise SegmentationCancelled(
                    f"segmentation cancelled after {done} of {total} slices"
                )
            indices = np.arange(start, min(start + batch_size, total))
            batch = prepare_batch(array, indices, config, geometry).to(device, non_blocking=True)
            with amp:
                logits = network(batch)
            output = from_model_grid(torch.sigmoid(logits.float()), geometry)
            place_slices(probabilities, output[:, 0].cpu().numpy(), indices, axis)
            done += len(indices)
            if progress is not None:
                progress(done, total)
    return probabilities


def segment_volume(
    volume,
    model: LoadedModel | str | Path | None = None,
    device: str | torch.device = "auto",
    axis: int | str | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    return_probabilities: bool = False,
) -> SegmentationResult:
    """Segment the spleen in ``volume`` (a canonical :class:`viewer.volume.Volume`).

    ``axis`` overrides the model's slicing direction (0 sagittal, 1 coronal, 2 axial
    or their names); a model trained on axial slices works best on axial slices.
    The CPU thread count is left as the caller set it (the CLI sets it from the
    machine's cores, see :func:`segmentation.devices.configure_cpu_threads`).
    """
    started = time.perf_counter()
    torch_device = pick_device(device)
    loaded = resolve_model(model, torch_device)
    slicing_axis = loaded.config.axis if axis is None else axis_index(axis)
    if slicing_axis != loaded.config.axis:
        log.warning(
            "model was trained on axis %d, running on axis %d", loaded.config.axis, slicing_axis
        )
    batch = batch_size or default_batch_size(torch_device)
    probabilities = predict_probabilities(
        volume.array, volume.spacing, loaded, torch_device, slicing_axis, batch, progress, cancel
    )
    mask = postprocess(probabilities, loaded.config.threshold, axis=slicing_axis)
    measurements = measure_spleen(mask, volume.affine)
    seconds = time.perf_counter() - started
    log.info(
        "segmented %d slices in %.2f s on %s: %.1f mL",
        volume.shape[slicing_axis],
        seconds,
        torch_device,
        measurements.volume_ml,
    )
    return SegmentationResult(
        mask=mask,
        probabilities=probabilities if return_probabilities else None,
        measurements=measurements,
        device=describe_device(torch_device),
        model_name=loaded.name,
        seconds=seconds,
        slices=int(volume.shape[slicing_axis]),
        axis=slicing_axis,
        model_path=str(loaded.path) if loaded.path else None,
    )
