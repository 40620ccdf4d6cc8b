"""The training dialog: choose data, check it, train in a child process, watch it learn.

Training runs as ``spleenscope train --json`` in a :class:`QProcess`, never in the
viewer's process: a crash or an out-of-memory in torch ends the child, not the viewer,
and Stop (SIGTERM, then a kill after :attr:`TrainingDialog.kill_grace_ms`) always ends
it. The child writes its best checkpoint whenever validation Dice improves, so the
model kept after Stop is the best one so far.

The child writes into a staging folder; when it ends the checkpoint is moved into the
user's models folder with its model card (:mod:`viewer.model_card`) and the user is
asked whether the new model should become the active one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QProcess, QProcessEnvironment, Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segmentation import registry
from viewer import model_card
from viewer.errors import ModelFileError
from viewer.grid import VIEW_NAMES
from viewer.training_data import DataCheck, check_training_data
from viewer.training_protocol import (
    DoneEvent,
    ErrorEvent,
    EventReader,
    StartEvent,
    TextLine,
    TrainingRun,
    TrainingSettings,
    build_command,
    format_duration,
    package_root,
)
from viewer.ui.background import BackgroundTask, is_alive, run_in_background

log = logging.getLogger(__name__)

LOSS_PEN = pg.mkPen((143, 179, 220), width=1)
EPOCH_LOSS_PEN = pg.mkPen((230, 230, 230), width=2)
VAL_LOSS_PEN = pg.mkPen((240, 170, 80), width=2)
DICE_PEN = pg.mkPen((120, 210, 120), width=2)


def _checked_data(folder: Path) -> DataCheck:
    """Read every case of ``folder`` once (seconds to minutes; runs in the background)."""
    try:
        return check_training_data(folder)
    except Exception as error:  # the dialog must always hear back
        log.exception("checking %s failed", folder)
        return DataCheck(folder, problems=[f"could not read the data: {error}"])


def _spin(low: int, high: int, value: int, name: str, special: str | None = None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setObjectName(name)
    if special:
        box.setSpecialValueText(special)
    return box


def _double(low, high, value, step, decimals, name) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setObjectName(name)
    return box


class TrainingDialog(QDialog):
    """Non-modal: the viewer stays usable while a model trains."""

    model_saved = pyqtSignal(object)  # Path of the finished model in the user's folder
    model_activated = pyqtSignal(object)  # Path, after the user made it the active model
    training_finished = pyqtSignal(object)  # TrainingRun

    #: How long Stop waits for the child to save and exit before killing it.
    kill_grace_ms = 15000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a spleen model")
        self.setObjectName("training_dialog")
        self.setModal(False)
        self.process: QProcess | None = None
        self.run = TrainingRun()
        self.reader = EventReader()
        self.settings_used: TrainingSettings | None = None
        self.data_check: DataCheck | None = None
        self.saved_model: Path | None = None
        self.activate_box: QMessageBox | None = None
        self.stderr_tail: list[str] = []
        self._checker: BackgroundTask | None = None  # the running data check
        self._start_when_checked = False
        self._stop_requested = False
        self._started_at = 0.0
        self._first_step_clock: float | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_if_running)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_status)

        left = QVBoxLayout()
        left.addWidget(self._build_data_group())
        left.addWidget(self._build_settings_group())
        left.addWidget(self._build_advanced_group())
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self._build_live_group(), 1)

        columns = QHBoxLayout()
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(430)
        columns.addWidget(left_widget)
        columns.addLayout(right, 1)

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

        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addLayout(buttons)
        self.resize(1180, 720)
        self._refresh_collection_label()
        self._refresh_active_model()

    # ------------------------------------------------------------------ building
    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Training data")
        self.source_collection = QRadioButton()
        self.source_collection.setObjectName("source_collection")
        self.source_collection.setToolTip(
            "Cases saved with Training ▸ Add this case to my training set")
        self.source_folder = QRadioButton("Dataset folder (imagesTr/ + labelsTr/):")
        self.source_folder.setObjectName("source_folder")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.source_collection)
        self.source_group.addButton(self.source_folder)
        self.source_collection.setChecked(True)
        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("data_folder")
        self.folder_edit.setPlaceholderText("e.g. …/Task09_Spleen")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_folder)
        self.check_button = QPushButton("Check data")
        self.check_button.setObjectName("check_data")
        self.check_button.clicked.connect(lambda: self.check_data())
        self.data_status = QLabel("Not checked yet")
        self.data_status.setObjectName("data_status")
        self.data_status.setWordWrap(True)
        self.problem_list = QListWidget()
        self.problem_list.setObjectName("data_problems")
        self.problem_list.setMaximumHeight(110)
        self.problem_list.setWordWrap(True)
        self.problem_list.hide()
        for widget in (self.source_collection, self.source_folder):
            widget.toggled.connect(self._data_choice_changed)
        self.folder_edit.textChanged.connect(self._data_choice_changed)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        status_row = QHBoxLayout()
        status_row.addWidget(self.data_status, 1)
        status_row.addWidget(self.check_button)
        layout = QVBoxLayout(group)
        layout.addWidget(self.source_collection)
        layout.addWidget(self.source_folder)
        layout.addLayout(folder_row)
        layout.addLayout(status_row)
        layout.addWidget(self.problem_list)
        return group

    def _build_settings_group(self) -> QGroupBox:
        defaults = TrainingSettings(output=Path("model.pt"))
        group = QGroupBox("Settings")
        form = QFormLayout(group)
        self.epochs = _spin(1, 2000, defaults.epochs, "epochs")
        self.learning_rate = _double(1e-5, 0.1, defaults.learning_rate, 1e-4, 5, "learning_rate")
        self.batch_size = _spin(1, 256, defaults.batch_size, "batch_size")
        self.axis = QComboBox()
        self.axis.setObjectName("axis")
        for name in VIEW_NAMES:
            self.axis.addItem(name.capitalize(), name)
        self.val_fraction = _double(0.0, 0.9, defaults.val_fraction, 0.05, 2, "val_fraction")
        self.device = QComboBox()
        self.device.setObjectName("device")
        for text, key in _device_choices():
            self.device.addItem(text, key)
        self.start_from = QComboBox()
        self.start_from.setObjectName("start_from")
        self.start_from.currentIndexChanged.connect(self._start_from_changed)
        self.model_name = QLineEdit(model_card.default_model_name())
        self.model_name.setObjectName("model_name")
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Slice axis", self.axis)
        form.addRow("Validation fraction", self.val_fraction)
        form.addRow("Device", self.device)
        form.addRow("Start from", self.start_from)
        form.addRow("Model name", self.model_name)
        return group

    def _build_advanced_group(self) -> QWidget:
        defaults = TrainingSettings(output=Path("model.pt"))
        # a folding arrow rather than a checkable group box: nothing is drawn while folded
        toggle = QToolButton()
        toggle.setObjectName("advanced_toggle")
        toggle.setText("Advanced (network and sampling)")
        toggle.setCheckable(True)
        toggle.setChecked(False)
        toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        toggle.setArrowType(Qt.RightArrow)
        toggle.setAutoRaise(True)
        self.advanced_group = toggle
        body = QWidget()
        self.advanced_body = body
        form = QFormLayout(body)
        form.setContentsMargins(18, 0, 0, 0)
        self.steps_per_epoch = _spin(0, 100000, defaults.steps_per_epoch or 0,
                                     "steps_per_epoch", "one pass over the slices")
        self.steps_per_epoch.setToolTip(
            "20 steps of a batch suit a few cases on a CPU (the bundled model's recipe); "
            "for a large dataset on a GPU choose 'one pass over the slices' (0)")
        self.patch_size = _spin(32, 1024, defaults.patch_size, "patch_size")
        self.patch_size.setSingleStep(32)
        self.base_channels = _spin(2, 128, defaults.base_channels, "base_channels")
        self.depth = _spin(1, 6, defaults.depth, "depth")
        self.spacing = _double(0.25, 10.0, defaults.spacing_mm, 0.25, 2, "spacing")
        self.spacing.setSuffix(" mm")
        self.threads = _spin(0, 256, 0, "threads", "automatic")
        form.addRow("Steps per epoch", self.steps_per_epoch)
        form.addRow("Patch size (pixels)", self.patch_size)
        form.addRow("UNet base channels", self.base_channels)
        form.addRow("UNet depth", self.depth)
        form.addRow("In-plane spacing", self.spacing)
        form.addRow("CPU threads", self.threads)
        outer_widget = QWidget()
        outer = QVBoxLayout(outer_widget)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(toggle)
        outer.addWidget(body)
        body.setVisible(False)
        toggle.toggled.connect(body.setVisible)
        toggle.toggled.connect(
            lambda shown: toggle.setArrowType(Qt.DownArrow if shown else Qt.RightArrow))
        return outer_widget

    def _build_live_group(self) -> QGroupBox:
        group = QGroupBox("Progress")
        self.status_label = QLabel("Not started")
        self.status_label.setObjectName("training_status")
        font = self.status_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.status_label.setFont(font)
        self.device_label = QLabel("")
        self.device_label.setObjectName("training_device")
        self.best_label = QLabel("")
        self.best_label.setObjectName("best_dice")
        self.progress = QProgressBar()
        self.progress.setObjectName("training_progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("0 %")

        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("loss_plot")
        self.loss_plot.setTitle("Loss (Dice + BCE)")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.addLegend(offset=(-10, 10))
        self.step_loss_curve = self.loss_plot.plot([], [], pen=LOSS_PEN, name="training (steps)")
        self.train_loss_curve = self.loss_plot.plot(
            [], [], pen=EPOCH_LOSS_PEN, symbol="o", symbolSize=5, name="training (epoch)")
        self.val_loss_curve = self.loss_plot.plot(
            [], [], pen=VAL_LOSS_PEN, symbol="s", symbolSize=5,
            symbolBrush=VAL_LOSS_PEN.color(), name="validation")
        self.dice_plot = pg.PlotWidget()
        self.dice_plot.setObjectName("dice_plot")
        self.dice_plot.setTitle("Validation Dice")
        self.dice_plot.setLabel("bottom", "epoch")
        self.dice_plot.setYRange(0.0, 1.0)
        self.dice_plot.showGrid(x=True, y=True, alpha=0.25)
        self.dice_curve = self.dice_plot.plot(
            [], [], pen=DICE_PEN, symbol="o", symbolSize=6, symbolBrush=DICE_PEN.color())

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("training_log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(300)
        self.log_view.setMaximumHeight(90)
        self.log_view.setPlaceholderText("Messages from the training process appear here.")

        info = QGridLayout()
        info.addWidget(self.status_label, 0, 0)
        info.addWidget(self.best_label, 1, 0)
        info.addWidget(self.device_label, 2, 0)
        info.addWidget(self.progress, 3, 0)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 1)
        plots.addWidget(self.dice_plot, 1)
        layout = QVBoxLayout(group)
        layout.addLayout(info)
        layout.addLayout(plots, 1)
        layout.addWidget(self.log_view)
        return group

    # ----------------------------------------------------------------- the data
    def _refresh_collection_label(self) -> None:
        folder = registry.user_collection_dir()
        count = len(list((folder / "imagesTr").glob("*.nii*")))
        self.source_collection.setText(
            f"My training set ({count} case{'' if count == 1 else 's'})"
        )

    def _start_from_changed(self, *_args) -> None:
        """A fine-tuned model keeps its parent's network and spacing: those fields rest."""
        scratch = self.start_from.currentData() is None
        for widget in (self.base_channels, self.depth, self.spacing):
            widget.setEnabled(scratch)

    def _refresh_active_model(self) -> None:
        self.start_from.clear()
        self.start_from.addItem("From scratch (new network)", None)
        active = registry.active_model_path()
        if active.is_file():
            self.start_from.addItem(f"Fine-tune the active model ({active.stem})", str(active))

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training data folder")
        if folder:
            self.set_data_folder(folder)

    def set_data_folder(self, folder: str | Path | None) -> None:
        """Choose a dataset folder (None: the user's own training set)."""
        if folder is None:
            self.source_collection.setChecked(True)
            return
        self.folder_edit.setText(str(folder))
        self.source_folder.setChecked(True)

    def data_folder(self) -> tuple[str, Path | None]:
        """``("collection" | "folder", path)``; path is None when no folder is typed."""
        if self.source_collection.isChecked():
            return "collection", registry.user_collection_dir()
        text = self.folder_edit.text().strip()
        return "folder", Path(text).expanduser() if text else None

    def _data_choice_changed(self, *_args) -> None:
        self.data_check = None
        self.data_status.setText("Not checked yet")
        self.problem_list.clear()
        self.problem_list.hide()

    def check_data(self, then_start: bool = False) -> bool:
        """Check the chosen data in a worker; returns False when nothing could start."""
        if is_alive(self._checker) and self._checker.isRunning():
            self._start_when_checked = self._start_when_checked or then_start
            return True
        _source, folder = self.data_folder()
        if folder is None:
            self._show_problems(["choose a dataset folder, or your own training set"])
            return False
        self._start_when_checked = then_start
        self.data_status.setText("Checking the data…")
        self.problem_list.hide()
        self.check_button.setEnabled(False)
        self.start_button.setEnabled(False)
        self._checker = run_in_background(
            self, lambda: _checked_data(folder), self._data_checked,
            lambda message: self._data_checked(DataCheck(folder, problems=[message])))
        return True

    def _data_checked(self, check: DataCheck) -> None:
        self.check_button.setEnabled(True)
        self.start_button.setEnabled(not self.is_running())
        _source, folder = self.data_folder()
        if folder is None or Path(folder) != check.folder:
            return  # the user chose other data meanwhile
        self.data_check = check
        self.data_status.setText(check.summary())
        if not check.ok:
            self._show_problems(check.problems or ["no cases found"])
            self._start_when_checked = False
            return
        self.problem_list.hide()
        if self._start_when_checked:
            self._start_when_checked = False
            self._launch()

    def _show_problems(self, problems: list[str]) -> None:
        self.problem_list.clear()
        self.problem_list.addItems(problems)
        self.problem_list.show()
        if not self.data_status.text() or self.data_status.text().startswith("Not checked"):
            self.data_status.setText("The data cannot be used yet:")
        log.info("training data problems: %d", len(problems))

    # ---------------------------------------------------------------- settings
    def settings(self, output: Path | None = None) -> TrainingSettings:
        """The settings the widgets show (``output`` is the staging checkpoint)."""
        source, folder = self.data_folder()
        name = model_card.safe_model_name(self.model_name.text() or "spleen_model")
        if output is None:
            staging = model_card.staging_dir(registry.user_models_dir())
            output = staging / f"{name}.pt"
        init = self.start_from.currentData()
        return TrainingSettings(
            output=output,
            data=folder,
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(),
            axis=self.axis.currentData(),
            val_fraction=self.val_fraction.value(),
            device=self.device.currentData(),
            init_from=Path(init) if init else None,
            steps_per_epoch=self.steps_per_epoch.value() or None,
            patch_size=self.patch_size.value(),
            base_channels=self.base_channels.value(),
            depth=self.depth.value(),
            spacing_mm=self.spacing.value(),
            threads=self.threads.value() or None,
        )

    def _set_settings_enabled(self, enabled: bool) -> None:
        for widget in (self.source_collection, self.source_folder, self.folder_edit,
                       self.check_button, self.epochs, self.learning_rate, self.batch_size,
                       self.axis, self.val_fraction, self.device, self.start_from,
                       self.model_name, self.advanced_group, self.advanced_body):
            widget.setEnabled(enabled)
        if enabled:
            self._start_from_changed()

    # ----------------------------------------------------------------- running
    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.NotRunning

    def start(self) -> bool:
        """Check the data, then start the child process when it is usable."""
        if self.is_running():
            return False
        # always re-read: the collection grows while the dialog is open
        return self.check_data(then_start=True)

    def _launch(self) -> bool:
        settings = self.settings()
        problems = settings.problems()
        if problems:
            self._show_problems(problems)
            return False
        for stale in (settings.output, model_card.state_file_path(settings.output)):
            stale.unlink(missing_ok=True)
        command = build_command(settings)
        log.info("starting training: %s", " ".join(command[3:]))
        self.settings_used = settings
        self.run = TrainingRun()
        self.reader = EventReader()
        self.saved_model = None
        self.stderr_tail = []
        self._stop_requested = False
        self._first_step_clock = None
        self.log_view.clear()
        self._clear_curves()

        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        existing = env.value("PYTHONPATH", "")
        root = str(package_root())
        env.insert("PYTHONPATH", root + (":" + existing if existing else ""))
        process.setProcessEnvironment(env)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._process_finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        self._started_at = time.monotonic()
        process.start()
        self._set_settings_enabled(False)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.stop_button.setText("Stop (keep best)")
        self.status_label.setText("Starting the training process…")
        self._clock.start()
        return True

    def stop(self) -> None:
        """Ask the child to stop (SIGTERM: it finishes the step and keeps the best model)."""
        if not self.is_running():
            return
        self._stop_requested = True
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")
        self.status_label.setText("Stopping after the current step…")
        self.process.terminate()
        self._kill_timer.start(self.kill_grace_ms)

    def _kill_if_running(self) -> None:
        if self.is_running():
            log.warning("training did not stop within %d ms; killing it", self.kill_grace_ms)
            self.process.kill()

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        events = self.reader.feed(bytes(self.process.readAllStandardOutput()))
        self._apply(events)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self.stderr_tail = (self.stderr_tail + [line])[-20:]
                self.log_view.appendPlainText(line)

    def _apply(self, events) -> None:
        if not events:
            return
        for event in events:
            self.run.apply(event)
            if isinstance(event, StartEvent):
                self._first_step_clock = time.monotonic()
            if isinstance(event, TextLine):
                self.log_view.appendPlainText(event.text)
            elif isinstance(event, ErrorEvent):
                self.log_view.appendPlainText(f"error: {event.message}")
        self._update_curves()
        self._show_status()

    def _clear_curves(self) -> None:
        for curve in (self.step_loss_curve, self.train_loss_curve, self.val_loss_curve,
                      self.dice_curve):
            curve.setData([], [])
        self.best_label.setText("")
        self.device_label.setText("")
        self.progress.setValue(0)
        self.progress.setFormat("0 %")

    def _update_curves(self) -> None:
        run = self.run
        for curve, points in ((self.step_loss_curve, run.loss_points),
                              (self.train_loss_curve, run.train_loss_points),
                              (self.val_loss_curve, run.val_loss_points),
                              (self.dice_curve, run.dice_points)):
            if points:
                xs, ys = zip(*points, strict=True)
                curve.setData(list(xs), list(ys))
        # x follows the epochs run so far (not the whole plan): 3 epochs of 500 stay readable
        latest = max([x for points in (run.loss_points, run.dice_points) for x, _ in points],
                     default=0.0)
        right = max(1.0, float(np.ceil(latest)))
        self.loss_plot.setXRange(0, right, padding=0.02)
        self.dice_plot.setXRange(0, right, padding=0.02)
        if run.best_val_dice is not None:
            best_epoch = max(run.dice_points, key=lambda p: p[1])[0] if run.dice_points else None
            where = f" (epoch {best_epoch:.0f})" if best_epoch is not None else ""
            last = (f" · last epoch took {format_duration(run.epoch_seconds[-1])}"
                    if run.epoch_seconds else "")
            self.best_label.setText(f"Best validation Dice {run.best_val_dice:.3f}{where}{last}")
        if run.device:
            self.device_label.setText(
                f"Device: {run.device} · {run.train_slices} training / "
                f"{run.val_slices} validation slices")
        self.progress.setValue(round(1000 * run.fraction_done))
        self.progress.setFormat(f"{100 * run.fraction_done:.1f} %")

    def _show_status(self) -> None:
        if self.is_running() and self._stop_requested:
            return
        text = self.run.status_text()
        if self.is_running():
            elapsed = format_duration(time.monotonic() - self._started_at)
            if self.run.eta_seconds is None and self.run.epochs:
                text += " · " + self._first_epoch_estimate()
            text += f" · {elapsed} elapsed"
        self.status_label.setText(text)

    def _first_epoch_estimate(self) -> str:
        """Before the first epoch ends (minutes on a big dataset): extrapolate from steps."""
        run = self.run
        if self._first_step_clock is None or not run.step or not run.steps:
            return "estimating time left"
        done = (run.epoch - 1) * run.steps + run.step
        total = run.epochs * run.steps
        per_step = (time.monotonic() - self._first_step_clock) / max(1, done)
        return f"roughly {format_duration(per_step * (total - done))} left"

    def _process_error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.run.error = "the training process could not start"
            self._finish_ui()
            self.status_label.setText(f"Failed: {self.run.error}")

    def _process_finished(self, exit_code: int, exit_status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        self._apply(self.reader.flush())
        crashed = exit_status == QProcess.CrashExit or (exit_code != 0 and self.run.done is None)
        if self.run.done is None and self.run.error is None and crashed:
            tail = self.stderr_tail[-1] if self.stderr_tail else ""
            how = "was stopped" if self._stop_requested else f"ended unexpectedly (exit {exit_code})"
            self.run.error = f"the training process {how}" + (f": {tail}" if tail else "")
        log.info("training process ended: code %s, status %s", exit_code, exit_status)
        self._finish_ui()
        self._keep_model()
        self.training_finished.emit(self.run)

    def _finish_ui(self) -> None:
        self._clock.stop()
        self._set_settings_enabled(True)
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stop (keep best)")
        self._refresh_collection_label()
        self._show_status()

    def _keep_model(self) -> None:
        """Move the best checkpoint into the user's models folder and offer to activate it."""
        settings = self.settings_used
        if settings is None or not settings.output.is_file():
            if self.run.error is None:
                self.run.error = "no model was saved"
            self._show_status()
            return
        source, folder = ("collection" if self.source_collection.isChecked() else "folder",
                          settings.data)
        cases = self.data_check.cases if self.data_check else []
        data = model_card.describe_data(source, folder, [case.name for case in cases])
        done = self.run.done
        outcome = {
            "epochs_run": done.epochs_run if done else self.run.epoch,
            "stopped": done.stopped if done else True,
            "ended": _ending(done, self.run.error),
            "seconds": done.seconds if done else round(time.monotonic() - self._started_at, 1),
            "fine_tuned_from": settings.init_from.name if settings.init_from else None,
        }
        try:
            self.saved_model = model_card.finalize_trained_model(
                settings.output, registry.user_models_dir(), settings.output.stem, data,
                settings, outcome)
        except (ModelFileError, OSError) as error:
            self.run.error = f"the trained model could not be kept: {error}"
            self._show_status()
            return
        self.model_saved.emit(self.saved_model)
        self.log_view.appendPlainText(f"Model saved: {self.saved_model}")
        if not self.isVisible():  # closed while training: the question needs its dialog
            self.show()
            self.raise_()
        self._ask_to_activate(self.saved_model)

    def _ask_to_activate(self, path: Path) -> None:
        dice = self.run.best_val_dice
        score = "no validation score" if dice is None else f"validation Dice {dice:.3f}"
        # Both models segment the same validation cases before the question, so the
        # user sees both scores; a lower one turns the question into a warning whose
        # Yes reads "Use it anyway" (segmentation.model_comparison).
        worse, comparison_text = _compare_with_active(path)
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
            self.status_label.setText(f"Could not activate: {error}")
            return
        self._refresh_active_model()
        self.model_activated.emit(path)
        self.log_view.appendPlainText(f"Active model: {path.stem}")

    # ----------------------------------------------------------------- closing
    def shutdown(self, wait_ms: int = 5000) -> None:
        """End a running child (terminate, then kill): the viewer is closing."""
        if not self.is_running():
            return
        self._stop_requested = True
        self.process.terminate()
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(2000)

    def closeEvent(self, event) -> None:
        # Closing only hides the dialog; training goes on and the menu brings it back.
        super().closeEvent(event)


def _ending(done: DoneEvent | None, error: str | None) -> str:
    if done is not None:
        return "stopped by the user" if done.stopped else "finished"
    return f"ended early ({error})" if error else "ended early"


def _device_choices() -> list[tuple[str, str]]:
    """``(label, key)`` for the device box: automatic, CPU, and the GPUs torch can see."""
    from segmentation.devices import available_devices

    try:
        return [(label, key) for key, label in available_devices()]
    except ImportError:  # torch missing: the child will report it
        return [("Automatic (GPU if available)", "auto"), ("CPU", "cpu")]


def _compare_with_active(path: Path) -> tuple[bool, str]:
    """``(worse, text)``: the new model against the active one on the same cases."""
    from PyQt5.QtWidgets import QApplication

    from segmentation.model_comparison import compare_with_active
    from viewer.errors import SpleenScopeError

    QApplication.setOverrideCursor(Qt.WaitCursor)
    try:
        comparison = compare_with_active(path)
    except SpleenScopeError as error:
        return True, f"It could not be compared with the active model: {error}"
    finally:
        QApplication.restoreOverrideCursor()
    return comparison.candidate_is_worse, comparison.text()
