"""What a window segmentation runs off the GUI thread: :func:`segment_off_gui_thread`.

The segmentation tool hands it to :func:`viewer.ui.background.run_in_background`,
the window's one way to run work off the GUI thread, with its one lifetime rule.
Only :func:`segmentation.study.segment_study` runs here; progress goes out with
:func:`~viewer.ui.background.report_progress` and the engine checks
:func:`~viewer.ui.background.cancel_requested` before each batch. Torch runs its
operators with the GIL released, so the window keeps scrolling while the network
runs; the same CPU thread count as ``spleenscope segment`` is used
(:mod:`segmentation.devices`).

With as many torch threads as cores, the GUI thread has to win the CPU whenever it
wants it, or scrolling stutters while a model runs. On Linux the nice value belongs
to each thread, and a thread starts with the nice value of the thread that created
it: :func:`lower_compute_priority` raises the background thread's nice value before
torch starts its intra-op (OpenMP) threads from it, so those inherit it too, while
the GUI thread keeps its own. The segmentation loses nothing on an idle machine; it
only yields when the window has something to draw.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from viewer.errors import SpleenScopeError
from viewer.ui.background import cancel_requested, report_progress

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
    if threading.current_thread() is threading.main_thread():
        return None  # the GUI thread: it would stay slow for the rest of the session
    thread_id = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread_id) + increment
        os.setpriority(os.PRIO_PROCESS, thread_id, min(niceness, 19))
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError as error:  # a sandbox may forbid it: run at normal priority
        log.debug("could not lower the segmentation thread's priority: %s", error)
        return None


def segment_off_gui_thread(volume, model=None, device: str = "auto", axis: int | None = None,
                           modality: str = "auto"):
    """Segment ``volume`` as the CLI does (modality, model per modality, verdict), keeping
    the probabilities for the Self-check panel's uncertainty overlay.

    Runs inside a background task: reports ``(slices done, total, seconds left or -1)``
    and stops before the next batch once the task is cancelled. Every error becomes a
    one-line :class:`SpleenScopeError`; an engine bug must not take the window down.
    """
    from segmentation.devices import configure_cpu_threads
    from segmentation.inference import SegmentationCancelled
    from segmentation.study import segment_study

    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        left = elapsed / done * (total - done) if done > 0 else -1.0
        report_progress((int(done), int(total), float(left)))

    lower_compute_priority()  # before torch starts its threads from this one
    configure_cpu_threads()
    try:
        study = segment_study(volume, modality=modality, model=model, device=device, axis=axis,
                              progress=report, cancel=cancel_requested, keep_probabilities=True)
        prepare_for_display(study)
        return study
    except (SegmentationCancelled, SpleenScopeError, MemoryError):
        raise  # the task turns these into Cancelled or a message of their own
    except Exception as error:
        log.exception("segmentation failed")
        first_line = (str(error).splitlines() or [""])[0]
        raise SpleenScopeError(
            f"segmentation failed ({type(error).__name__}: {first_line})") from error


def prepare_for_display(study) -> None:
    """Work the window needs for a new result, done here rather than on the GUI thread.

    The Self-check panel's uncertainty overlay is a full pass over the probabilities
    (tens of milliseconds on a 512 x 512 CT, more on a tall volume); made on the GUI
    thread when the result arrives, with the other reactions to the new mask, it froze
    scrolling for over 100 ms. The panel uses ``study.uncertainty_labels`` when it is
    there (:mod:`viewer.ui.quality_panel`).
    """
    from viewer.ui.quality_panel import uncertainty_labels

    if study.probabilities is not None:
        study.uncertainty_labels = uncertainty_labels(study.probabilities)
