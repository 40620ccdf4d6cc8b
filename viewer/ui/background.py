"""Run one function off the GUI thread and hear back through queued signals.

Metrics with surface distances take seconds on a full CT; computing them on the GUI
thread would freeze the window. :class:`BackgroundTask` runs a plain function in a
QThread and delivers its result (or a one-line error) on the GUI thread, so the
caller only ever touches widgets from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PyQt5.QtCore import QThread, pyqtSignal

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)


class BackgroundTask(QThread):
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, function: Callable[[], object], parent=None) -> None:
        super().__init__(parent)
        self.function = function

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


def run_in_background(parent, function: Callable[[], object], on_done: Callable[[object], None],
                      on_error: Callable[[str], None]) -> BackgroundTask:
    """Start ``function`` in a thread; ``on_done`` / ``on_error`` run on the GUI thread.

    The task keeps a reference to itself on ``parent`` until it finishes, so Python
    does not collect a running thread.
    """
    task = BackgroundTask(function, parent)
    running = parent.__dict__.setdefault("_background_tasks", set())
    running.add(task)
    task.succeeded.connect(on_done)
    task.failed.connect(on_error)
    task.finished.connect(lambda: running.discard(task))
    task.finished.connect(task.deleteLater)
    task.start()
    return task
