"""Segment with one click: the Segment action, its options, progress and Cancel.

:class:`SegmentationTool` adds a toolbar button, a Segmentation menu and the
shortcut Ctrl+G; a dock holds the options (model from ``models/`` and the user's
models folder, slicing axis, device). The engine
(:func:`~viewer.ui.segment_worker.segment_off_gui_thread`) runs through
:func:`~viewer.ui.background.run_in_background` like loading and every other
background job, with its lifetime rule; the status bar shows slices done,
time left and a Cancel button, and says which model ran on which device. A new
mask replaces the old one only when a run succeeds, so Cancel or an error leaves
the earlier mask as it was.

Built in :mod:`viewer.ui.wiring` with the shared
:class:`~viewer.ui.mask_session.MaskSession`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QAction,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.grid import SLICE_AXIS, VIEW_NAMES
from viewer.ui.background import BackgroundTask, is_alive, run_in_background
from viewer.ui.mask_session import MaskSession
from viewer.ui.segment_worker import segment_off_gui_thread, worker_threads

log = logging.getLogger(__name__)

SEGMENT_SHORTCUT = "Ctrl+G"
AXIS_CHOICES = (("Model's own axis", None),
                *((name.capitalize(), SLICE_AXIS[name]) for name in VIEW_NAMES))


def format_time_left(seconds: float) -> str:
    if seconds < 0 or not math.isfinite(seconds):
        return "estimating…"
    if seconds < 60:
        return f"{max(1, round(seconds))} s left"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s left"


def model_label(entry) -> str:
    dice = f" · val Dice {entry.val_dice:.2f}" if entry.val_dice is not None else ""
    where = " (bundled)" if entry.is_bundled else ""
    return f"{entry.name}{where}{dice}"


def available_models_and_devices() -> dict:
    """Models, the active one, and the devices torch can use (runs in a worker: imports torch)."""
    from segmentation.devices import available_devices, describe_device, pick_device
    from segmentation.registry import active_model_path, list_models

    devices = [(label, key) for key, label in available_devices()]
    auto_text = describe_device(pick_device("auto"), threads=worker_threads())
    return {"models": list_models(), "active": active_model_path(), "devices": devices,
            "auto_device": auto_text}


class SegmentOptions(QWidget):
    """Model, axis and device choosers, with the Segment and Cancel buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox()
        self.model.setObjectName("segment_model")
        self.model.addItem("Active model", None)
        self.model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.axis = QComboBox()
        self.axis.setObjectName("segment_axis")
        for text, value in AXIS_CHOICES:
            self.axis.addItem(text, value)
        self.device = QComboBox()
        self.device.setObjectName("segment_device")
        self.device.addItem("Automatic", "auto")
        self.segment_button = QPushButton("Segment spleen")
        self.segment_button.setObjectName("segment_button")
        self.segment_button.setToolTip(f"Run the model on the open volume ({SEGMENT_SHORTCUT})")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("segment_cancel_panel")
        self.cancel_button.setEnabled(False)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model)
        form.addRow("Slicing", self.axis)
        form.addRow("Device", self.device)
        buttons = QHBoxLayout()
        buttons.addWidget(self.segment_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addLayout(buttons)

    def fill(self, found: dict) -> None:
        """Put the models and devices found in the background into the choosers."""
        active = str(found["active"])
        self.model.clear()
        for entry in found["models"]:
            self.model.addItem(model_label(entry), str(entry.path))
            self.model.setItemData(self.model.count() - 1, str(entry.path), Qt.ToolTipRole)
            if str(entry.path) == active:
                self.model.setCurrentIndex(self.model.count() - 1)
        if self.model.count() == 0:
            self.model.addItem("No model found (train one first)", None)
        self.device.clear()
        for text, value in found["devices"]:
            self.device.addItem(text, value)

    def chosen_model(self):
        return self.model.currentData()

    def chosen_axis(self) -> int | None:
        return self.axis.currentData()

    def chosen_device(self) -> str:
        return self.device.currentData() or "auto"


def _is_an_active_model(path) -> bool:
    """True for the active CT or MR model (the chooser's default), False for another pick."""
    if not path:
        return False
    from segmentation.registry import active_model_path

    chosen = Path(path).resolve()
    return any(chosen == active_model_path(m).resolve() for m in ("CT", "MR"))


class SegmentationTool(QObject):
    """The Segment action, its background task and what it shows while running."""

    started = pyqtSignal()
    finished = pyqtSignal(str)  # "done", "cancelled" or "failed"

    def __init__(self, window, session: MaskSession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.task: BackgroundTask | None = None  # the running segmentation
        self.last_result = None
        self.last_outcome = ""
        self.models_listed = False  # True once the model list has arrived from its thread
        self.options = SegmentOptions()
        self.dock = window.add_dock(self.options, "Segmentation")
        self._build_actions()
        self._build_status_widgets()
        self.options.segment_button.clicked.connect(self.start)
        self.options.cancel_button.clicked.connect(self.cancel)
        window.volume_changed.connect(self._volume_changed)
        self._volume_changed(window.volume)
        QTimer.singleShot(0, self._find_models_later)

    # ------------------------------------------------------------------ set-up
    def _build_actions(self) -> None:
        window = self.window
        self.act_segment = QAction("Segment spleen", window)
        self.act_segment.setObjectName("act_segment")
        self.act_segment.setShortcut(SEGMENT_SHORTCUT)
        self.act_segment.setToolTip(f"Segment the spleen with the model ({SEGMENT_SHORTCUT})")
        self.act_segment.triggered.connect(lambda _c=False: self.start())
        self.act_cancel = QAction("Cancel segmentation", window)
        self.act_cancel.setShortcut("Esc")
        self.act_cancel.setEnabled(False)
        self.act_cancel.triggered.connect(lambda _c=False: self.cancel())
        window.addAction(self.act_segment)
        window.addAction(self.act_cancel)
        self.menu = window.menu("&Segmentation")
        self.menu.addAction(self.act_segment)
        self.menu.addAction(self.act_cancel)
        self.menu.addSeparator()
        self.menu.addAction(self.dock.toggleViewAction())
        window.toolbar.addAction(self.act_segment)

    def _build_status_widgets(self) -> None:
        self.progress = QProgressBar()
        self.progress.setObjectName("segment_progress")
        self.progress.setMaximumWidth(200)
        self.progress.setFormat("%v / %m slices")
        self.progress_text = QLabel("")
        self.progress_text.setObjectName("segment_progress_text")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("segment_cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.engine_label = QLabel("")
        self.engine_label.setObjectName("segment_engine")
        bar = self.window.statusBar()
        bar.addPermanentWidget(self.progress_text)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.engine_label)
        self._show_running(False)

    def _find_models_later(self) -> None:
        if self.window.headless:
            return  # a screenshot without --segment does not need torch
        self.refresh_models()

    def refresh_models(self) -> None:
        """List models and devices in the background (importing torch takes a second)."""
        def found(result) -> None:
            self.models_listed = True
            self._auto_device = result["auto_device"]
            self.options.fill(result)
            self._show_engine(self.options.model.currentText().split(" · ")[0],
                              result["auto_device"])

        run_in_background(self, available_models_and_devices, found,
                          lambda message: log.warning("could not list models: %s", message),
                          uses_torch=True)

    # ----------------------------------------------------------------- running
    def is_running(self) -> bool:
        # set to None when the outcome arrives on the GUI thread (see _finish)
        return self.task is not None

    def start(self, model=None, device: str | None = None, axis: int | None = None) -> bool:
        """Segment the open volume; False when there is none, a run is going, or the
        user kept an unsaved mask. Arguments override the options panel."""
        window = self.window
        if self.is_running():
            window.statusBar().showMessage("A segmentation is already running", 3000)
            return False
        if window.volume is None:
            window.show_error("Open a CT volume first, then segment it.", "Nothing to segment")
            return False
        guard = getattr(self.session, "guard", None)
        if self.session.dirty and guard is not None and not guard():
            return False
        chosen_model = model if model is not None else self.options.chosen_model()
        if model is None and _is_an_active_model(chosen_model):
            chosen_model = None  # the study picks the active model of the input's modality
        chosen_axis = axis if axis is not None else self.options.chosen_axis()
        volume = window.volume
        options = dict(model=chosen_model, device=device or self.options.chosen_device(),
                       axis=chosen_axis, modality=getattr(self.session, "modality_choice", "auto"))
        self.last_outcome = ""
        total = volume.shape[2 if chosen_axis is None else chosen_axis]
        self.progress.setRange(0, int(total))
        self.progress.setValue(0)
        self.progress_text.setText("Segmenting… starting")
        self._show_engine(self._chosen_model_text(chosen_model), self._chosen_device_text(device))
        self._show_running(True)
        # Deleting this tool (closing the window) cancels the task and drops its outcome.
        self.task = run_in_background(
            self, lambda: segment_off_gui_thread(volume, **options),
            on_done=lambda result: self._succeeded(result, volume), on_error=self._failed,
            on_progress=self._progress, on_cancelled=self._cancelled, uses_torch=True)
        self.started.emit()
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.task.cancel()
            self.progress_text.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            self.options.cancel_button.setEnabled(False)

    def wait(self, msecs: int = 60000) -> bool:
        """Block until the task's thread ends (its outcome still arrives as an event)."""
        task = self.task
        return task is None or not is_alive(task) or task.wait(msecs)

    def _show_running(self, running: bool) -> None:
        for widget in (self.progress, self.progress_text, self.cancel_button):
            widget.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.options.cancel_button.setEnabled(running)
        self.act_cancel.setEnabled(running)
        enabled = not running and self.window.volume is not None
        self.act_segment.setEnabled(enabled)
        self.options.segment_button.setEnabled(enabled)

    def _chosen_model_text(self, model) -> str:
        if model is None or str(model) == str(self.options.chosen_model()):
            text = self.options.model.currentText().split(" · ")[0]
            return "active model" if model is None and text == "Active model" else text
        return Path(str(model)).stem

    def _chosen_device_text(self, device: str | None = None) -> str:
        if device and device != self.options.chosen_device():
            return device.upper() if device in ("cpu", "mps") else device
        device = self.options.chosen_device()
        if device == "auto":
            return getattr(self, "_auto_device", "automatic")
        return self.options.device.currentText()

    def _show_engine(self, model: str, device: str) -> None:
        self.engine_label.setText(f"Model: {model} · Device: {device}")

    def _progress(self, report: tuple[int, int, float]) -> None:
        done, total, seconds_left = report
        if self.task is None or self.task.is_cancelled():
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress_text.setText(f"Segmenting… {format_time_left(seconds_left)}")

    def _finish(self, outcome: str, message: str) -> None:
        self.task = None
        self.last_outcome = outcome
        self._show_running(False)
        self.window.statusBar().showMessage(message, 8000)
        self.finished.emit(outcome)

    def _succeeded(self, result, volume) -> None:
        if volume is not self.window.volume:
            self._finish("cancelled", "The volume changed while segmenting; result dropped")
            return
        self.last_result = result
        # The self-check panel reads the study (verdict, uncertainty) for this mask.
        self.session.study = result
        self._show_engine(result.model_name, result.device)
        model = {"name": result.model_name, "path": result.model_path}
        self.session.set_prediction(result.mask, result.measurements, source="model",
                                    name=result.model_name, model=model,
                                    device=result.device, axis=result.axis)
        self._finish("done", f"Segmented {result.slices} slices in {result.seconds:.1f} s on "
                             f"{result.device}: {result.measurements.volume_text()}")

    def _failed(self, message: str) -> None:
        self._finish("failed", "Segmentation failed; the previous mask is unchanged")
        self.window.show_error(message, "Segmentation failed")

    def _cancelled(self) -> None:
        self._finish("cancelled", "Segmentation cancelled; the previous mask is unchanged")

    def _volume_changed(self, volume) -> None:
        if self.is_running():
            self.task.cancel()
        self._show_running(self.is_running())


def center_on_mask(window, mask) -> None:
    """Put the crosshair at the centre of the mask, so all three views cut through it."""
    if mask is None or window.state is None or not mask.any():
        return
    center = np.round(np.argwhere(mask > 0).mean(axis=0))
    window.state.set_cursor_voxel(center)


def run_cli_steps(window, args, then=None, fail=None) -> None:
    """``view --segment / --reference / --prediction``: run them, then call ``then()``.

    ``then`` runs once the segmentation has finished and, with a reference, the
    comparison is computed, so a screenshot shows the overlay, results and QA panel.
    ``fail(message)`` gets any error (a failed segmentation, an unreadable mask).
    """
    tool: SegmentationTool = window.tools.segmentation_tool
    session: MaskSession = window.tools.mask_session
    review = window.tools.review_tool
    pending = {"files": 0, "segment": bool(args.segment), "failed": False}

    def check() -> None:
        if pending["failed"] or pending["files"] or pending["segment"]:
            return
        if session.is_reviewing():
            return  # review_ready will call again
        pending["segment"] = None  # fire once
        pending["failed"] = True
        session.review_ready.disconnect(review_done)
        if not getattr(args, "cursor", None):
            center_on_mask(window, session.prediction if session.prediction is not None
                           else session.reference)
        if then is not None:
            then()

    def failed(message: str) -> None:
        if not pending["failed"]:
            pending["failed"] = True
            if fail is not None:
                fail(message)

    def file_done(ok: bool) -> None:
        pending["files"] -= 1
        if not ok:
            failed(window.last_error or "could not open the mask")
            return
        check()

    def segment_done(outcome: str) -> None:
        tool.finished.disconnect(segment_done)
        pending["segment"] = False
        if outcome != "done":
            failed(window.last_error or f"segmentation {outcome}")
            return
        check()

    def review_done(_pair) -> None:
        check()

    session.review_ready.connect(review_done)
    session.review_failed.connect(failed)
    if args.prediction:
        pending["files"] += 1
    if args.reference:
        pending["files"] += 1
    if args.prediction:
        review.load_prediction(args.prediction, on_done=file_done)
    if args.reference:
        review.load_reference(args.reference, on_done=file_done)
    if args.segment:
        tool.finished.connect(segment_done)
        if not tool.start():
            pending["segment"] = False
            failed(window.last_error or "could not start the segmentation")
            return
    check()
