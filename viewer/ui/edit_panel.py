"""The Edit mask dock: brush buttons and size, label, target, threshold, status.

A thin panel: it holds widgets only; :class:`viewer.ui.edit_tools.MaskEditTool`
wires them to its actions.
"""

from __future__ import annotations

import logging

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.ui.edit_brush import DEFAULT_RADIUS_MM, RADIUS_RANGE_MM

log = logging.getLogger(__name__)


class EditPanel(QWidget):
    """Which mask, brush radius in mm, label, threshold range, and the edit buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("edit_panel")
        self.target = QComboBox()
        self.target.setObjectName("edit_target")
        self.target.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.new_mask_button = QPushButton("New empty mask")
        self.new_mask_button.setObjectName("edit_new_mask")
        self.promote_button = QPushButton("Use as prediction")
        self.promote_button.setObjectName("edit_promote")
        self.promote_button.setToolTip("Hand this mask to Save, review and the training set")
        self.paint_button = QToolButton()
        self.erase_button = QToolButton()
        for button in (self.paint_button, self.erase_button):
            button.setToolButtonStyle(Qt.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.radius = QDoubleSpinBox()
        self.radius.setObjectName("edit_radius")
        self.radius.setRange(*RADIUS_RANGE_MM)
        self.radius.setDecimals(1)
        self.radius.setSingleStep(0.5)
        self.radius.setSuffix(" mm")
        self.radius.setValue(DEFAULT_RADIUS_MM)
        self.radius.setToolTip("Brush radius in millimetres ( [ smaller, ] larger )")
        self.label = QSpinBox()
        self.label.setObjectName("edit_label")
        self.label.setRange(1, 255)
        self.label_name = QLabel("")
        self.label_name.setObjectName("edit_label_name")
        self.threshold = QGroupBox("Paint only where value is in")
        self.threshold.setObjectName("edit_threshold")
        self.threshold.setCheckable(True)
        self.threshold.setChecked(False)
        self.low = QDoubleSpinBox()
        self.high = QDoubleSpinBox()
        for box, name in ((self.low, "edit_threshold_low"), (self.high, "edit_threshold_high")):
            box.setObjectName(name)
            box.setDecimals(0)
            box.setRange(-1e6, 1e6)
        range_row = QHBoxLayout(self.threshold)
        range_row.setContentsMargins(6, 4, 6, 4)
        range_row.addWidget(self.low, 1)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.high, 1)
        self.fill_button = QPushButton("Fill holes")
        self.fill_button.setObjectName("edit_fill_holes")
        self.undo_button = QToolButton()
        self.redo_button = QToolButton()
        self.status = QLabel("")
        self.status.setObjectName("edit_status")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #8a939e; font-size: 11px;")

        target_row = QHBoxLayout()
        target_row.addWidget(self.new_mask_button)
        target_row.addWidget(self.promote_button)
        tools = QHBoxLayout()
        tools.addWidget(self.paint_button)
        tools.addWidget(self.erase_button)
        label_row = QHBoxLayout()
        label_row.addWidget(self.label)
        label_row.addWidget(self.label_name, 1)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Mask", self.target)
        form.addRow("", target_row)
        form.addRow("Tool", tools)
        form.addRow("Radius", self.radius)
        form.addRow("Label", label_row)
        history = QHBoxLayout()
        history.addWidget(self.fill_button, 1)
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.threshold)
        layout.addLayout(history)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def threshold_range(self) -> tuple[float, float] | None:
        if not self.threshold.isChecked():
            return None
        return (self.low.value(), self.high.value())
