"""Overlay controls: which layers show, opacity, fill or outline, and the legend."""

from __future__ import annotations

import html

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from viewer.overlays import OverlayLayer, OverlayStack

MAX_LEGEND_ROWS = 40
MAX_LIST_ROWS = 4  # layers shown before the list scrolls


def legend_html(layer: OverlayLayer, volumes_ml: dict[int, float]) -> str:
    """One row per label present: swatch, value, name and its volume in mL."""
    rows = []
    present = list(volumes_ml)
    for label in present[:MAX_LEGEND_ROWS]:
        r, g, b = layer.colors.get(label, (255, 255, 255))
        rows.append(
            f"<tr><td><span style='background: rgb({r},{g},{b}); color: rgb({r},{g},{b})'>"
            f"&nbsp;■■&nbsp;</span></td><td>{label}</td>"
            f"<td>{html.escape(layer.name_of(label))}</td>"
            f"<td align='right'>&nbsp;{volumes_ml[label]:.1f} mL</td></tr>"
        )
    more = len(present) - MAX_LEGEND_ROWS
    tail = f"<div>… and {more} more labels</div>" if more > 0 else ""
    return "<table cellspacing='2'>" + "".join(rows) + "</table>" + tail


class OverlayPanel(QWidget):
    """Edits the layers of an :class:`OverlayStack`; emits ``changed`` after each edit."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack: OverlayStack | None = None
        #: layer name -> {label: volume in mL} of the labels present
        self._volumes: dict[str, dict[int, float]] = {}
        self.layer_list = QListWidget()
        self.layer_list.setObjectName("overlay_list")
        self.layer_list.setMaximumHeight(70)
        self.layer_list.itemChanged.connect(self._visibility_edited)
        self.layer_list.currentRowChanged.connect(lambda _row: self._show_selected())
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setObjectName("overlay_opacity")
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(self._opacity_edited)
        self.mode = QComboBox()
        self.mode.setObjectName("overlay_mode")
        self.mode.addItem("Filled", "fill")
        self.mode.addItem("Outline", "outline")
        self.mode.activated.connect(self._mode_edited)
        self.legend = QLabel("")
        self.legend.setObjectName("overlay_legend")
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.legend.setWordWrap(True)
        self.empty = QLabel("No mask. File ▸ Open mask…")
        self.empty.setStyleSheet("color: #8a939e")
        form = QFormLayout()
        self._form = form
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Opacity", self.opacity)
        form.addRow("Style", self.mode)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty)
        layout.addWidget(self.layer_list)
        layout.addLayout(form)
        layout.addWidget(self.legend, 1)
        layout.addStretch(0)
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.layer_list, self.opacity, self.mode, self.legend):
            widget.setVisible(enabled)
        for field in (self.opacity, self.mode):  # the row captions too
            caption = self._form.labelForField(field)
            if caption is not None:
                caption.setVisible(enabled)
        self.empty.setVisible(not enabled)

    def set_stack(self, stack: OverlayStack, volumes: dict[str, dict[int, float]]) -> None:
        """Rebuild the list from ``stack``; ``volumes`` holds each layer's labels
        present with their volume in mL."""
        self.stack = stack
        self._volumes = volumes
        current = self.selected_name()
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        for layer in stack:
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if layer.visible else Qt.Unchecked)
            self.layer_list.addItem(item)
        names = stack.names()
        row = names.index(current) if current in names else len(names) - 1
        self.layer_list.setCurrentRow(row)
        self.layer_list.blockSignals(False)
        self._fit_list_height()
        self._set_enabled(len(stack) > 0)
        self._show_selected()

    def _fit_list_height(self) -> None:
        """As tall as its rows, from 2 to 4 (then it scrolls): the panel shares a short
        tab group with the readout, and two layers need no 70 px list."""
        rows = min(max(self.layer_list.count(), 2), MAX_LIST_ROWS)
        row_height = self.layer_list.sizeHintForRow(0) if self.layer_list.count() else 17
        frame = 2 * self.layer_list.frameWidth()
        self.layer_list.setMaximumHeight(rows * max(row_height, 17) + frame + 2)

    def selected_name(self) -> str | None:
        item = self.layer_list.currentItem()
        return item.text() if item is not None else None

    def selected_layer(self) -> OverlayLayer | None:
        name = self.selected_name()
        return self.stack.get(name) if self.stack is not None and name else None

    def _show_selected(self) -> None:
        layer = self.selected_layer()
        if layer is None:
            self.legend.setText("")
            return
        self.opacity.blockSignals(True)
        self.opacity.setValue(int(round(layer.opacity * 100)))
        self.opacity.blockSignals(False)
        self.mode.setCurrentIndex(self.mode.findData(layer.mode))
        self.legend.setText(legend_html(layer, self._volumes.get(layer.name, {})))

    def _visibility_edited(self, item: QListWidgetItem) -> None:
        layer = self.stack.get(item.text()) if self.stack is not None else None
        if layer is not None:
            layer.visible = item.checkState() == Qt.Checked
            self.changed.emit()

    def _opacity_edited(self, value: int) -> None:
        layer = self.selected_layer()
        if layer is not None:
            layer.opacity = value / 100.0
            self.changed.emit()

    def _mode_edited(self, index: int) -> None:
        layer = self.selected_layer()
        if layer is not None:
            layer.mode = self.mode.itemData(index)
            self.changed.emit()
