"""Run one function off the GUI thread and hear back through queued signals.

Metrics with surface distances take seconds on a full CT; computing them on the GUI
thread would freeze the window. :class:`BackgroundTask` runs a plain function in a
QThread and delivers its result (or a one-line error) on the GUI thread, so the
caller only ever touches widgets from there.

Lifetime is the hard part. A window can close (and its widgets be deleted) while a
task still runs, e.g. the model listing that imports torch. Two rules keep that safe:

- running threads have no Qt parent and are kept alive by this module
  (:func:`keep_alive`) until they finish, so deleting the window never destroys a
  running ``QThread`` (which aborts the process);
- results go through :func:`deliver_if_alive`: once the owner is deleted (or the
  task abandoned) the callback is dropped instead of touching dead widgets.

:func:`wait_for_all` (connected to ``QApplication.aboutToQuit``) lets running
threads end before the interpreter shuts down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PyQt5 import sip
from PyQt5.QtCore import QCoreApplication, QObject, QThread, pyqtSignal

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

_RUNNING: set[QThread] = set()
_QUIT_HOOKED = False


def is_alive(obj: QObject | None) -> bool:
    """False once the C++ side of ``obj`` has been deleted (a closed, deleted window)."""
    return obj is not None and not sip.isdeleted(obj)


def keep_alive(thread: QThread) -> None:
    """Hold a reference to ``thread`` until it finishes (it must have no Qt parent)."""
    global _QUIT_HOOKED
    _RUNNING.add(thread)
    thread.finished.connect(lambda: _RUNNING.discard(thread))
    app = QCoreApplication.instance()
    if app is not None and not _QUIT_HOOKED:
        app.aboutToQuit.connect(wait_for_all)
        _QUIT_HOOKED = True


def running_threads() -> list[QThread]:
    """Threads started here that have not finished yet."""
    return [thread for thread in _RUNNING if is_alive(thread) and thread.isRunning()]


def wait_for_all(msecs: int = 30000) -> bool:
    """Ask every running thread to stop (``cancel()`` where it has one) and wait."""
    ok = True
    for thread in running_threads():
        cancel = getattr(thread, "cancel", None)
        if callable(cancel):
            cancel()
        ok = thread.wait(msecs) and ok
    return ok


def deliver_if_alive(owner: QObject, callback: Callable, abandoned: Callable[[], bool]
                     ) -> Callable:
    """``callback`` wrapped so it runs only while ``owner`` exists and nothing abandoned it."""

    def deliver(*args) -> None:
        if abandoned() or not is_alive(owner):
            log.debug("dropped a background result: its owner is gone")
            return
        callback(*args)

    return deliver


class BackgroundTask(QThread):
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, function: Callable[[], object]) -> None:
        super().__init__()
        self.function = function
        self.abandoned = False

    def cancel(self) -> None:
        """Drop the result when it comes (the function itself runs to its end)."""
        self.abandoned = True

    def run(self) -> None:
        try:
            result = self.function()
        except SpleenScopeError as error:
            self.failed.emit(str(error))
        except Exception as error:  # a bug must become a message, not a dead window
            log.exception("background task failed")
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(result)


def run_in_background(owner: QObject, function: Callable[[], object],
                      on_done: Callable[[object], None],
                      on_error: Callable[[str], None]) -> BackgroundTask:
    """Start ``function`` in a thread; ``on_done`` / ``on_error`` run on the GUI thread.

    The callbacks run only while ``owner`` (a QObject whose widgets they touch) has
    not been deleted; when it is, the task is abandoned and its result dropped.
    """
    task = BackgroundTask(function)
    keep_alive(task)
    state = {"owner_gone": False}  # plain Python: safe whatever is deleted first

    def gone() -> bool:
        return state["owner_gone"] or task.abandoned

    task.succeeded.connect(deliver_if_alive(owner, on_done, gone))
    task.failed.connect(deliver_if_alive(owner, on_error, gone))
    owner.destroyed.connect(lambda *_: state.update(owner_gone=True))
    task.finished.connect(task.deleteLater)
    task.start()
    return task
