"""Opening files in the main window: loading in the background (the one helper,
:mod:`viewer.ui.background`), the series picker, progress, drag and drop.

The unsaved-edits question comes once the new volume has loaded, just
before it replaces the open one, so a file that fails to open changes
nothing. A mixin of :class:`viewer.ui.main_window.MainWindow` (the shell).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import Qt

from viewer.errors import SeriesSelectionError, SpleenScopeError
from viewer.ui.background import is_alive, report_progress, run_in_background
from viewer.ui.dialogs import SeriesPickerDialog
from viewer.volume import Volume

log = logging.getLogger(__name__)

class WindowLoading:
    """Loading files into the main window."""

    def open_path(self, path, series: int | None = None, check_guards: bool = True) -> bool:
        """Load a file, folder or list of DICOM files in a worker thread.

        Returns False when a load is already running. The close guards (unsaved
        edits: Save / Discard / Cancel) are asked once the new volume has loaded,
        just before it replaces the open one, so a file that fails to open changes
        nothing the user had. ``volume_changed`` fires when the volume is shown;
        ``load_failed`` on errors.
        """
        if self.is_loading():
            self.statusBar().showMessage("Still loading the previous input…", 3000)
            return False

        def arrived(result) -> None:
            if isinstance(result, SeriesSelectionError):
                self._load_error(path, result)  # several series: the user picks one
            else:
                self._loaded(path, result, check_guards)

        task = run_in_background(
            self, lambda: _load(path, series), arrived,
            lambda message: self._load_error(path, SpleenScopeError(message)),
            on_progress=lambda done_total: self._load_progress(*done_total))
        task.finished.connect(self._load_finished)
        self._loading = task
        self._check_guards = check_guards
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        name = Path(path[0]).parent.name if isinstance(path, (list, tuple)) else Path(path).name
        self.status_text.setText(f"Loading {name}…")
        return True

    def is_loading(self) -> bool:
        return is_alive(self._loading) and self._loading.isRunning()

    # ------------------------------------------------------------- loading
    def _load_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)

    def _loaded(self, path, volume: Volume, check_guards: bool = True) -> None:
        if check_guards and self.volume is not None and not self._guards_allow():
            self.status_text.setText("")
            self.statusBar().showMessage(
                f"Kept the open volume; {Path(str(path)).name} was not opened", 8000)
            return
        self.set_volume(volume)
        if not isinstance(path, (list, tuple)):
            self.recent.add(path)
        self.status_text.setText("")
        self.statusBar().showMessage(f"Opened {volume.description or Path(str(path)).name}", 5000)

    def _load_error(self, path, error: Exception) -> None:
        self.status_text.setText("")
        if isinstance(error, SeriesSelectionError) and error.series and not self.headless:
            dialog = SeriesPickerDialog(error.series, str(error), self)
            if dialog.exec_() == SeriesPickerDialog.Accepted:
                chosen = dialog.chosen_index()
                # the worker is still finishing; start the next load after it ends
                self._pending_load = (path, chosen, self._check_guards)
                return
            return
        self.show_error(str(error))
        self.load_failed.emit(str(error))

    def _load_finished(self) -> None:
        self.progress_bar.hide()
        pending, self._pending_load = self._pending_load, None
        if pending is not None:
            self.open_path(pending[0], series=pending[1], check_guards=pending[2])

    # ----------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        as_mask = bool(event.keyboardModifiers() & (Qt.ControlModifier | Qt.ShiftModifier))
        if as_mask and self.volume is not None and len(paths) == 1:
            self.open_mask_reporting(paths[0])
        elif len(paths) == 1:
            self.open_path(paths[0])
        else:
            self.open_path(paths)


def _load(path, series: int | None):
    """Load in the background (see :meth:`MainWindow.open_path`); a folder with
    several series comes back as its :class:`SeriesSelectionError`, for the picker."""
    from viewer.io import load_volume

    try:
        return load_volume(path, series=series,
                           progress=lambda done, total: report_progress((done, total)))
    except SeriesSelectionError as error:
        return error
    except SpleenScopeError:
        raise
    except MemoryError:
        raise SpleenScopeError("not enough memory to load this volume") from None
    except Exception as error:  # a reader bug must not kill the window
        log.exception("unexpected error while loading")
        raise SpleenScopeError(
            f"could not load this input ({type(error).__name__}: {error})") from error
