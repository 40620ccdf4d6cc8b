"""Choosing where the network runs: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import logging
import os

import torch

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` tries CUDA, then MPS, then the CPU.

    An explicit device that is not available raises :class:`SpleenScopeError` with a
    one-line message rather than failing later inside torch.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpleenScopeError(
                "device 'cuda' requested but no CUDA GPU is available; use --device cpu or auto"
            )
        return torch.device(name)
    if name == "mps":
        if not _mps_available():
            raise SpleenScopeError(
                "device 'mps' requested but Apple MPS is not available; use --device cpu or auto"
            )
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise SpleenScopeError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)}")


def describe_device(device: torch.device | str) -> str:
    """A short human description, e.g. ``"NVIDIA H100 80GB (CUDA)"`` or ``"CPU, 2 threads"``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'' if threads == 1 else 's'}"


def configure_cpu_threads(max_threads: int | None = None) -> int:
    """Limit torch's intra-op threads to the cores we may use; returns the count set.

    ``SPLEENSCOPE_THREADS`` overrides; otherwise all available cores up to 8, because
    oversubscribing a shared machine slows every process down more than it helps.
    """
    env = os.environ.get("SPLEENSCOPE_THREADS")
    if env:
        threads = max(1, int(env))
    elif max_threads is not None:
        threads = max(1, int(max_threads))
    else:
        try:
            available = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            available = os.cpu_count() or 1
        threads = max(1, min(available, 8))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    log.debug("torch CPU threads: %d", threads)
    return threads


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype to use on ``device``, or None for full float32 (CPU)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None
