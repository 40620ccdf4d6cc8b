"""Loading a volume off the GUI thread, with progress, as a QThread.

The worker only calls :func:`viewer.io.load_volume`; results and errors travel to
the GUI thread through queued signals, so no widget is touched from the worker.
"""

from __future__ import annotations

import logging

from PyQt5.QtCore import QThread, pyqtSignal

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)


class LoadWorker(QThread):
    progress = pyqtSignal(int, int)  # done, total
    loaded = pyqtSignal(object)  # Volume
    failed = pyqtSignal(object)  # the SpleenScopeError (or a wrapped unexpected error)

    def __init__(self, path, series: int | None = None, parent=None) -> None:
        super().__init__(parent)
        self.path = path
        self.series = series

    def run(self) -> None:
        from viewer.io import load_volume

        try:
            volume = load_volume(self.path, series=self.series, progress=self._report)
        except SpleenScopeError as error:
            self.failed.emit(error)
        except MemoryError:
            self.failed.emit(SpleenScopeError("not enough memory to load this volume"))
        except Exception as error:  # a reader bug must not kill the window
            log.exception("unexpected error while loading")
            self.failed.emit(
                SpleenScopeError(f"could not load this input ({type(error).__name__}: {error})")
            )
        else:
            self.loaded.emit(volume)

    def _report(self, done: int, total: int) -> None:
        self.progress.emit(int(done), int(total))
