"""The training dialog: choose data, check it, train in a child process, watch it learn.

Built from four parts, each with one job:

- :class:`~viewer.ui.training_form.TrainingForm`: the data choice and the settings;
- the ``spleenscope train --json`` child, a
  :class:`~viewer.ui.background.ProcessTask` started by
  :func:`~viewer.ui.background.run_process_in_background` (a crash or an
  out-of-memory in torch ends the child, not the viewer; Stop cancels it: SIGTERM,
  then a kill after its grace time; the same lifetime rule as every background task);
- :class:`~viewer.training_controller.TrainingController` (no Qt): the run's events,
  status, and the model card bookkeeping;
- :class:`~viewer.ui.training_progress.TrainingProgressPanel`: status, curves, log.

The dialog wires them: the data check runs through
:func:`~viewer.ui.background.run_in_background`; the child writes its best
checkpoint into a staging folder whenever validation Dice improves, so the model
kept after Stop is the best so far; when the child ends the checkpoint moves into
the user's models folder with its card and the user is asked whether the new model
should become the active one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import QDialog, QHBoxLayout, QMessageBox, QPushButton, QVBoxLayout, QWidget

from segmentation import registry
from viewer.errors import ModelFileError
from viewer.training_controller import TrainingController
from viewer.training_data import DataCheck, check_training_data
from viewer.training_protocol import ErrorEvent, TextLine, TrainingRun, package_root
from viewer.ui.background import (
    BackgroundTask,
    ProcessTask,
    is_alive,
    run_in_background,
    run_process_in_background,
)
from viewer.ui.training_form import TrainingForm
from viewer.ui.training_progress import TrainingProgressPanel

log = logging.getLogger(__name__)


def _checked_data(folder: Path) -> DataCheck:
    """Read every case of ``folder`` once (seconds to minutes; runs in the background)."""
    try:
        return check_training_data(folder)
    except Exception as error:  # the dialog must always hear back
        log.exception("checking %s failed", folder)
        return DataCheck(folder, problems=[f"could not read the data: {error}"])


class TrainingDialog(QDialog):
    """Non-modal: the viewer stays usable while a model trains."""

    model_saved = pyqtSignal(object)  # Path of the finished model in the user's folder
    model_activated = pyqtSignal(object)  # Path, after the user made it the active model
    training_finished = pyqtSignal(object)  # TrainingRun

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a spleen model")
        self.setObjectName("training_dialog")
        self.setModal(False)
        self.controller = TrainingController()
        self.child: ProcessTask | None = None  # the current (or last) training child
        #: How long Stop waits for the child to save and exit before killing it.
        self.kill_grace_ms = ProcessTask.kill_grace_ms
        self.form = TrainingForm()
        self.panel = TrainingProgressPanel()
        self.activate_box: QMessageBox | None = None  # the question, once it is asked
        self.comparison: BackgroundTask | None = None  # new model against the active one
        self.activate_is_worse = False
        self._checker: BackgroundTask | None = None  # the running data check
        self._start_when_checked = False
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_status)

        self.form.check_requested.connect(lambda: self.check_data())
        self.form.data_choice_changed.connect(self._data_choice_changed)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("start_training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop (keep best)")
        self.stop_button.setObjectName("stop_training")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.stop_button, self.close_button):
            buttons.addWidget(button)
        columns = QHBoxLayout()
        columns.addWidget(self.form)
        columns.addWidget(self.panel, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addLayout(buttons)
        self.resize(1180, 720)

    # ------------------------------------------------------------- what it shows
    @property
    def run(self) -> TrainingRun:
        """The current (or last) run, built from the child's events."""
        return self.controller.run

    @property
    def saved_model(self) -> Path | None:
        """Where the last run's model was kept in the user's folder, if it was."""
        return self.controller.saved_model

    @property
    def stderr_tail(self) -> list[str]:
        return self.controller.stderr_tail

    def set_data_folder(self, folder: str | Path | None) -> None:
        """Choose a dataset folder (None: the user's own training set)."""
        self.form.set_data_folder(folder)

    def settings(self, output: Path | None = None):
        return self.form.settings(output)

    def refresh_active_model(self) -> None:
        """The active model changed: the "Start from" choice follows it."""
        self.form.refresh_active_model()

    def refresh_collection_label(self) -> None:
        """A case was added to the user's training set: the count follows it."""
        self.form.refresh_collection_label()

    # ----------------------------------------------------------------- the data
    def _data_choice_changed(self) -> None:
        self.controller.data_check = None

    def check_data(self, then_start: bool = False) -> bool:
        """Check the chosen data in the background; False when nothing could start."""
        if is_alive(self._checker) and self._checker.isRunning():
            self._start_when_checked = self._start_when_checked or then_start
            return True
        _source, folder = self.form.data_folder()
        if folder is None:
            self.form.show_problems(["choose a dataset folder, or your own training set"])
            return False
        self._start_when_checked = then_start
        self.form.show_checking()
        self.start_button.setEnabled(False)
        self._checker = run_in_background(
            self, lambda: _checked_data(folder), self._data_checked,
            lambda message: self._data_checked(DataCheck(folder, problems=[message])),
            uses_torch=True)
        return True

    def _data_checked(self, check: DataCheck) -> None:
        self.start_button.setEnabled(not self.is_running())
        _source, folder = self.form.data_folder()
        if folder is None or Path(folder) != check.folder:
            self.form.check_button.setEnabled(True)
            return  # the user chose other data meanwhile
        self.controller.data_check = check
        problems = [] if check.ok else (check.problems or ["no cases found"])
        self.form.show_check(check.summary(), problems)
        if problems:
            self._start_when_checked = False
            return
        if self._start_when_checked:
            self._start_when_checked = False
            self._launch()

    # ----------------------------------------------------------------- running
    def is_running(self) -> bool:
        return self.child is not None and self.child.isRunning()

    def start(self) -> bool:
        """Check the data, then start the child process when it is usable."""
        if self.is_running():
            return False
        # always re-read: the collection grows while the dialog is open
        return self.check_data(then_start=True)

    def _launch(self) -> bool:
        settings = self.form.settings()
        problems = settings.problems()
        if problems:
            self.form.show_problems(problems)
            return False
        source, _folder = self.form.data_folder()
        command = self.controller.begin(settings, source)
        log.info("starting training: %s", " ".join(command[3:]))
        self.panel.clear()
        self.child = run_process_in_background(
            self, command, self._read_stdout, self._read_stderr, self._process_finished,
            self._process_failed_to_start, environment=_child_environment(),
            kill_grace_ms=self.kill_grace_ms)
        self.form.set_editing_enabled(False)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.stop_button.setText("Stop (keep best)")
        self.panel.status_label.setText("Starting the training process…")
        self._clock.start()
        return True

    def stop(self) -> None:
        """Ask the child to stop (SIGTERM, sent now: it finishes the step and keeps the
        best model; killed if it has not exited within the grace time)."""
        if not self.is_running():
            return
        self.controller.stop_requested = True
        self.child.cancel()
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")
        self.panel.status_label.setText("Stopping after the current step…")

    def _read_stdout(self, chunk: bytes) -> None:
        self._show_events(self.controller.feed_stdout(chunk))

    def _read_stderr(self, chunk: bytes) -> None:
        for line in self.controller.feed_stderr(chunk):
            self.panel.log(line)

    def _show_events(self, events) -> None:
        if not events:
            return
        for event in events:
            if isinstance(event, TextLine):
                self.panel.log(event.text)
            elif isinstance(event, ErrorEvent):
                self.panel.log(f"error: {event.message}")
        self.panel.show_run(self.run, self.controller.best_text(),
                            self.controller.device_text())
        self._show_status()

    def _show_status(self) -> None:
        if self.is_running() and self.controller.stop_requested:
            return  # "Stopping…" stays until the child has gone
        self.panel.status_label.setText(self.controller.status_text(self.is_running()))

    def _process_failed_to_start(self) -> None:
        self.controller.failed_to_start()
        self._finish_ui()

    def _process_finished(self, exit_code: int, crashed: bool) -> None:
        self._show_events(self.controller.flush())
        self.controller.ended(exit_code, crashed)
        self._finish_ui()
        self._keep_model()
        self.training_finished.emit(self.run)

    def _finish_ui(self) -> None:
        self._clock.stop()
        self.form.set_editing_enabled(True)
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stop (keep best)")
        self.form.refresh_collection_label()
        self._show_status()

    def _keep_model(self) -> None:
        """Move the best checkpoint into the user's models folder and offer to activate it."""
        saved = self.controller.keep_model(registry.user_models_dir())
        if saved is None:
            self._show_status()
            return
        self.model_saved.emit(saved)
        self.panel.log(f"Model saved: {saved}")
        if not self.isVisible():  # closed while training: the question needs its dialog
            self.show()
            self.raise_()
        self._compare_then_ask(saved)

    def _compare_then_ask(self, path: Path) -> None:
        """Both models segment the same validation cases before the question, so the
        user sees both scores; a lower one turns the question into a warning whose Yes
        reads "Use it anyway" (segmentation.model_comparison). That takes seconds to
        minutes of inference: in the background, never on the GUI thread."""
        self.panel.log("Comparing the new model with the active one on the same cases…")
        self.comparison = run_in_background(
            self, lambda: _compare_with_active(path),
            lambda found: self._ask_to_activate(path, *found),
            lambda message: self._ask_to_activate(
                path, True, f"It could not be compared with the active model: {message}"),
            uses_torch=True)

    def _ask_to_activate(self, path: Path, worse: bool, comparison_text: str) -> None:
        self.comparison = None
        dice = self.run.best_val_dice
        score = "no validation score" if dice is None else f"validation Dice {dice:.3f}"
        box = QMessageBox(QMessageBox.Warning if worse else QMessageBox.Question,
                          "The new model scores lower" if worse else "Use the new model?",
                          f"The model “{path.stem}” is saved ({score}).\n\n"
                          f"{comparison_text}\n\n"
                          "Make it the active model? The next Segment will use it.",
                          QMessageBox.Yes | QMessageBox.No, self)
        if worse:
            box.button(QMessageBox.Yes).setText("Use it anyway")
        self.activate_is_worse = worse
        box.setObjectName("activate_model_box")
        box.setDefaultButton(QMessageBox.No)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda result, p=path: self._activate_answer(result, p))
        self.activate_box = box
        box.open()

    def _activate_answer(self, result: int, path: Path) -> None:
        self.activate_box = None
        if result != QMessageBox.Yes:
            return
        try:
            registry.set_active_model(path)
        except ModelFileError as error:
            self.panel.status_label.setText(f"Could not activate: {error}")
            return
        self.form.refresh_active_model()
        self.model_activated.emit(path)
        self.panel.log(f"Active model: {path.stem}")

    # ----------------------------------------------------------------- closing
    def shutdown(self, wait_ms: int = 5000) -> None:
        """End a running child (terminate, then kill): the viewer is closing."""
        if self.is_running():
            self.controller.stop_requested = True
            self.child.end(wait_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # Closing only hides the dialog; training goes on and the menu brings it back.
        super().closeEvent(event)


def _child_environment() -> dict[str, str]:
    """This checkout importable in the child, and unbuffered output, so each event
    line arrives as it is written."""
    import os

    existing = os.environ.get("PYTHONPATH", "")
    root = str(package_root())
    return {"PYTHONUNBUFFERED": "1",
            "PYTHONPATH": root + (os.pathsep + existing if existing else "")}


def _compare_with_active(path: Path) -> tuple[bool, str]:
    """``(worse, text)``: the new model against the active one on the same cases (runs
    in the background, its torch threads below the GUI thread's priority)."""
    from segmentation.model_comparison import compare_with_active
    from viewer.errors import SpleenScopeError
    from viewer.ui.segment_worker import lower_compute_priority

    lower_compute_priority()
    try:
        comparison = compare_with_active(path)
    except SpleenScopeError as error:
        return True, f"It could not be compared with the active model: {error}"
    return comparison.candidate_is_worse, comparison.text()
