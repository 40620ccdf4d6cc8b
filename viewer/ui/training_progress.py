"""The training dialog's live view: status, best Dice, progress, loss and Dice curves, log.

:class:`TrainingProgressPanel` shows a :class:`~viewer.training_protocol.TrainingRun`
and the texts of a :class:`~viewer.training_controller.TrainingController`; it
computes nothing itself.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from viewer.training_protocol import TrainingRun

LOSS_PEN = pg.mkPen((143, 179, 220), width=1)
EPOCH_LOSS_PEN = pg.mkPen((230, 230, 230), width=2)
VAL_LOSS_PEN = pg.mkPen((240, 170, 80), width=2)
DICE_PEN = pg.mkPen((120, 210, 120), width=2)


class TrainingProgressPanel(QGroupBox):
    """The right-hand side of the training dialog."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Progress", parent)
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
        layout = QVBoxLayout(self)
        layout.addLayout(info)
        layout.addLayout(plots, 1)
        layout.addWidget(self.log_view)


    def clear(self) -> None:
        """A new run: empty curves and texts."""
        for curve in (self.step_loss_curve, self.train_loss_curve, self.val_loss_curve,
                      self.dice_curve):
            curve.setData([], [])
        self.log_view.clear()
        self.best_label.setText("")
        self.device_label.setText("")
        self.progress.setValue(0)
        self.progress.setFormat("0 %")

    def show_run(self, run: TrainingRun, best_text: str, device_text: str) -> None:
        """Curves, progress bar and labels for the run so far."""
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
        if best_text:
            self.best_label.setText(best_text)
        if device_text:
            self.device_label.setText(device_text)
        self.progress.setValue(round(1000 * run.fraction_done))
        self.progress.setFormat(f"{100 * run.fraction_done:.1f} %")

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(text)
