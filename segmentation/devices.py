"""Where the network runs and with how many CPU threads: one policy for every caller.

- Device: ``auto`` tries CUDA, then Apple MPS, then the CPU; an explicit device that
  is not there is a one-line error, not a failure deep inside torch.
- CPU threads: the same count for the CLI, the window, batch runs and training:
  ``SPLEENSCOPE_THREADS`` when set, else every core this process may use, up to 8
  (beyond that a 2D UNet gains little and a shared machine loses a lot). The window
  does not hold a core back for itself: torch releases the GIL while it computes, and
  the window would otherwise segment at half the speed of the CLI on a 2-core machine.

Torch is imported inside the functions, so the CLI can list :data:`DEVICE_CHOICES`
and ``spleenscope info`` stays light.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from viewer.errors import SpleenScopeError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: Most torch CPU threads any run uses.
MAX_CPU_THREADS = 8
THREADS_VARIABLE = "SPLEENSCOPE_THREADS"


_TORCH_IMPORT = threading.Lock()


def import_torch():
    """torch, imported under one process-wide lock; call it before the first torch use
    on any thread but the main one.

    Two threads that import torch for the first time at once (one through ``torch.nn``,
    the other through ``torch.nn.functional``) walk into torch's own circular imports
    from both ends; Python's import locks then report a deadlock and hand one thread a
    half-initialised module ("cannot import name 'nn'", "operator prims::tanh does not
    exist"). Once this returns, torch and its submodules are complete for every thread.
    """
    with _TORCH_IMPORT:
        import torch
        import torch.nn.functional  # noqa: F401 (the other entry into the cycle)

    return torch


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` tries CUDA, then MPS, then the CPU.

    An explicit device that is not available raises :class:`SpleenScopeError` with a
    one-line message rather than failing later inside torch.
    """
    import torch

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


def available_devices() -> list[tuple[str, str]]:
    """``(key, label)`` for a device menu: automatic, CPU, then the GPUs torch can see."""
    import torch

    devices = [("auto", "Automatic (GPU if available)"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        devices.append(("cuda", f"CUDA GPU ({torch.cuda.get_device_name(0)})"))
    if _mps_available():
        devices.append(("mps", "Apple GPU (MPS)"))
    return devices


def describe_device(device: torch.device | str, threads: int | None = None) -> str:
    """A short human description, e.g. ``"NVIDIA H100 80GB (CUDA)"`` or ``"CPU, 2 threads"``.

    For the CPU, ``threads`` (default: torch's current setting) is the count named.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads() if threads is None else threads
    return f"CPU, {threads} thread{'' if threads == 1 else 's'}"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells us)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_threads(requested: int | None = None) -> int:
    """The torch CPU thread count for a run: the one policy (see the module docstring).

    ``SPLEENSCOPE_THREADS`` wins over ``requested`` (a ``--threads`` option or a
    training setting), which wins over the default of all usable cores up to 8.
    """
    configured = os.environ.get(THREADS_VARIABLE, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise SpleenScopeError(
                f"{THREADS_VARIABLE}={configured!r} is not a whole number; set it to a "
                "thread count such as 2, or unset it"
            ) from None
    if requested is not None:
        return max(1, int(requested))
    return max(1, min(usable_cores(), MAX_CPU_THREADS))


def configure_cpu_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads by :func:`cpu_threads`; returns the count set."""
    import torch

    threads = cpu_threads(requested)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    log.debug("torch CPU threads: %d", threads)
    return threads


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype to use on ``device``, or None for full float32 (CPU)."""
    import torch

    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None
