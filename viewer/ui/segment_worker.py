"""The segmentation engine in a QThread: progress, cancel, errors as messages.

Only :func:`segmentation.study.segment_study` runs here; everything it learns
travels to the GUI thread through queued signals. Torch runs its operators with the
GIL released, so the window keeps scrolling while the network runs; the worker uses
the same CPU thread count as ``spleenscope segment`` (:mod:`segmentation.devices`).

With as many torch threads as cores, the GUI thread has to win the CPU whenever it
wants it, or scrolling stutters while a model runs. On Linux the nice value belongs
to each thread, and a thread starts with the nice value of the thread that created
it: :func:`lower_compute_priority` raises the worker thread's nice value before torch
starts its intra-op (OpenMP) threads from it, so those inherit it too, while the GUI
thread keeps its own. The segmentation loses nothing on an idle machine; it only
yields when the window has something to draw.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from PyQt5.QtCore import QThread, pyqtSignal

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)


def worker_threads() -> int:
    """Torch CPU threads for a window run: the one policy the CLI uses too."""
    from segmentation.devices import cpu_threads

    return cpu_threads()


#: Nice value added to the worker thread and the compute threads it starts: enough for
#: the GUI thread (nice 0) to preempt them at once, not so much that other programs
#: of the same user starve the segmentation.
COMPUTE_NICENESS = 5


def lower_compute_priority(increment: int | None = None) -> int | None:
    """Raise the calling thread's nice value by ``increment`` (Linux only; never call it
    on the GUI thread: an unprivileged thread cannot lower it again). Threads this
    thread starts afterwards inherit the value. Returns the new nice value, or None
    where the platform has no per-thread nice value or refused."""
    increment = COMPUTE_NICENESS if increment is None else increment
    if increment <= 0 or not sys.platform.startswith("linux"):
        return None
    thread_id = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread_id) + increment
        os.setpriority(os.PRIO_PROCESS, thread_id, min(niceness, 19))
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError as error:  # a sandbox may forbid it: run at normal priority
        log.debug("could not lower the segmentation thread's priority: %s", error)
        return None


class SegmentWorker(QThread):
    """Runs one segmentation; exactly one of succeeded / failed / cancelled is emitted."""

    progress = pyqtSignal(int, int, float)  # slices done, total, seconds left (-1 unknown)
    succeeded = pyqtSignal(object)  # segmentation.inference.SegmentationResult
    failed = pyqtSignal(str)  # a one-line message for a dialog
    cancelled = pyqtSignal()

    def __init__(self, volume, model=None, device: str = "auto", axis: int | None = None,
                 parent=None, modality: str = "auto") -> None:
        super().__init__(parent)
        self.volume = volume
        self.model = model
        self.device = device
        self.axis = axis
        self.modality = modality
        self._cancel = threading.Event()
        self._started = 0.0

    def cancel(self) -> None:
        """Ask the engine to stop; it does so before its next batch."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        self._started = time.perf_counter()
        try:
            from segmentation.devices import configure_cpu_threads
            from segmentation.inference import SegmentationCancelled
            from segmentation.study import segment_study

            lower_compute_priority()  # before torch starts its threads from this one
            configure_cpu_threads()
            # The whole study as the CLI runs it (modality, model per modality, verdict);
            # the probabilities stay for the Self-check panel's uncertainty overlay.
            result = segment_study(self.volume, modality=self.modality, model=self.model,
                                   device=self.device, axis=self.axis, progress=self._report,
                                   cancel=self._cancel.is_set, keep_probabilities=True)
        except SegmentationCancelled:
            self.cancelled.emit()
        except SpleenScopeError as error:
            self.failed.emit(str(error))
        except MemoryError:
            self.failed.emit("not enough memory to segment this volume; close other programs "
                             "or choose a smaller input")
        except Exception as error:  # an engine bug must not take the window down
            log.exception("segmentation failed")
            self.failed.emit(f"segmentation failed ({type(error).__name__}: {error})")
        else:
            if self._cancel.is_set():  # cancelled after the last batch: honour it
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)

    def _report(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self._started
        left = elapsed / done * (total - done) if done > 0 else -1.0
        self.progress.emit(int(done), int(total), float(left))
