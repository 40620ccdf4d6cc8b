"""The one way the window runs work off the GUI thread: :func:`run_in_background`.

Loading a volume, segmenting, measuring and comparing masks, listing models,
checking training data and adding a training case all take from a fraction of a
second to minutes; on the GUI thread they would freeze the window. Each runs as a
plain function in a :class:`BackgroundTask` (a QThread); its result, its error
(one line), its progress reports and its cancellation arrive on the GUI thread
through queued signals, so callers only ever touch widgets from there.

Inside the function, two calls talk to the task that runs it (thread-local, so the
function needs no Qt and no extra argument):

- :func:`report_progress(value) <report_progress>`: anything (``(done, total)``,
  ...), handed to ``on_progress`` on the GUI thread;
- :func:`cancel_requested()`: True once someone called ``task.cancel()``; a
  function that can stop early checks it (the segmentation engine, between batches).

Lifetime, the one rule: a running task has no Qt parent and is held by this module
until it finishes (:func:`keep_alive`, also for the few QThreads with signals of
their own: PACS transfers), and its callbacks run only while their ``owner`` QObject exists
and nobody cancelled the task. So closing (deleting) a window while work runs
never destroys a running ``QThread`` (which aborts the process) and never calls
back into deleted widgets; :func:`wait_for_all` (run at ``aboutToQuit``) cancels
and waits for what is left. The training child process is a ``QProcess`` owned by
its dialog (see ``viewer/ui/training_dialog.py``): it is a process, not a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PyQt5 import sip
from PyQt5.QtCore import QCoreApplication, QObject, QThread, pyqtSignal

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

_RUNNING: set[QThread] = set()
_QUIT_HOOKED = False
_CURRENT = threading.local()  # .task: the BackgroundTask running on this thread


def is_alive(obj: QObject | None) -> bool:
    """False once the C++ side of ``obj`` has been deleted (a closed, deleted window)."""
    return obj is not None and not sip.isdeleted(obj)


def keep_alive(thread: QThread) -> None:
    """Hold a reference to ``thread`` until it finishes (it must have no Qt parent).

    :func:`run_in_background` does this for its tasks; a tool with a QThread of its
    own (PACS transfers) calls it to follow the same rule."""
    global _QUIT_HOOKED
    _RUNNING.add(thread)
    thread.finished.connect(lambda: _RUNNING.discard(thread))
    app = QCoreApplication.instance()
    if app is not None and not _QUIT_HOOKED:
        app.aboutToQuit.connect(wait_for_all)
        _QUIT_HOOKED = True


def running_threads() -> list[QThread]:
    """Tasks started here that have not finished yet."""
    return [thread for thread in _RUNNING if is_alive(thread) and thread.isRunning()]


def wait_for_all(msecs: int = 30000) -> bool:
    """Cancel every running task (``cancel()`` where it has one) and wait for it."""
    ok = True
    for thread in running_threads():
        cancel = getattr(thread, "cancel", None)
        if callable(cancel):
            cancel()
        ok = thread.wait(msecs) and ok
    return ok


def deliver_if_alive(owner: QObject, callback: Callable, abandoned: Callable[[], bool]
                     ) -> Callable:
    """``callback`` wrapped so it runs only while ``owner`` exists and nothing
    abandoned it (for the signals of a QThread of one's own; see :func:`keep_alive`)."""

    def deliver(*args) -> None:
        if abandoned() or not is_alive(owner):
            log.debug("dropped a background result: its owner is gone")
            return
        callback(*args)

    return deliver


def report_progress(value: object) -> None:
    """From inside a task's function: hand ``value`` to its ``on_progress``."""
    task = getattr(_CURRENT, "task", None)
    if task is not None:
        task.progress.emit(value)


def cancel_requested() -> bool:
    """From inside a task's function: has the task been cancelled?"""
    task = getattr(_CURRENT, "task", None)
    return task is not None and task.is_cancelled()


class BackgroundTask(QThread):
    """One function on its own thread; exactly one of ``succeeded``, ``failed``
    (a one-line message) or ``cancelled`` is emitted when it ends."""

    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()
    progress = pyqtSignal(object)

    def __init__(self, function: Callable[[], object]) -> None:
        super().__init__()
        self.function = function
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the function to stop (it may check :func:`cancel_requested`); its
        result, if it still comes, is dropped and ``cancelled`` is emitted."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        _CURRENT.task = self
        try:
            result = self.function()
        except SpleenScopeError as error:
            self._end(failure=str(error))
        except MemoryError:
            self._end(failure="not enough memory for this; close other programs or "
                              "choose a smaller input")
        except Exception as error:  # a bug must become a message, not a dead window
            if not self.is_cancelled():
                log.exception("background task failed")
            first_line = (str(error).splitlines() or [""])[0]  # a message is one line
            self._end(failure=f"{type(error).__name__}: {first_line}")
        else:
            self._end(result=result)
        finally:
            _CURRENT.task = None

    def _end(self, result: object = None, failure: str | None = None) -> None:
        if self.is_cancelled():
            self.cancelled.emit()
        elif failure is not None:
            self.failed.emit(failure)
        else:
            self.succeeded.emit(result)


def run_in_background(owner: QObject, function: Callable[[], object],
                      on_done: Callable[[object], None],
                      on_error: Callable[[str], None],
                      on_progress: Callable[[object], None] | None = None,
                      on_cancelled: Callable[[], None] | None = None) -> BackgroundTask:
    """Start ``function()`` on its own thread; the callbacks run on the GUI thread.

    They run only while ``owner`` (the QObject whose widgets they touch) exists;
    deleting the owner cancels the task. Returns the task (``cancel()``,
    ``is_cancelled()``, ``wait(ms)``; its signals for tests).
    """
    task = BackgroundTask(function)
    keep_alive(task)
    state = {"owner_gone": False}  # plain Python: safe whatever is deleted first

    def deliver(callback: Callable | None, drop_when_cancelled: bool = True) -> Callable:
        def call(*args) -> None:
            if callback is None or state["owner_gone"] or not is_alive(owner):
                return
            if drop_when_cancelled and task.is_cancelled():
                return
            callback(*args)

        return call

    task.succeeded.connect(deliver(on_done))
    task.failed.connect(deliver(on_error))
    task.progress.connect(deliver(on_progress))
    task.cancelled.connect(deliver(on_cancelled, drop_when_cancelled=False))

    def owner_destroyed(*_args) -> None:
        state["owner_gone"] = True
        task.cancel()

    owner.destroyed.connect(owner_destroyed)
    task.finished.connect(task.deleteLater)
    task.start()
    return task
