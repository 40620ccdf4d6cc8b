"""What lies under the mouse: voxel, world position (RAS and LPS), value, label."""

from __future__ import annotations

import html

import numpy as np
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.grid import ras_to_lps
from viewer.overlays import OverlayStack
from viewer.volume import Volume


def readout_values(
    volume: Volume, overlays: OverlayStack, ijk_float, unit: str = ""
) -> dict | None:
    """Facts at a continuous voxel position, or None outside the volume.

    The voxel is the nearest voxel centre; the world position is that of the mouse
    (not snapped), so the readout moves smoothly.
    """
    ijk_float = np.asarray(ijk_float, float)
    ijk = np.rint(ijk_float).astype(int)
    if not volume.contains_voxel(ijk):
        return None
    ras = volume.voxel_to_world(ijk_float)
    value = volume.array[tuple(ijk)]
    labels = [(layer.name, int(label), layer.name_of(label))
              for layer, label in overlays.label_at(ijk)]
    return {
        "voxel": tuple(int(v) for v in ijk),
        "ras": tuple(float(v) for v in ras),
        "lps": tuple(float(v) for v in ras_to_lps(ras)),
        "value": float(value),
        "unit": unit,
        "labels": labels,
    }


def format_readout(values: dict | None) -> str:
    if values is None:
        return "<span style='color:#8a939e'>outside the volume</span>"
    i, j, k = values["voxel"]
    ras = ", ".join(f"{v:.1f}" for v in values["ras"])
    lps = ", ".join(f"{v:.1f}" for v in values["lps"])
    value = values["value"]
    number = f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"
    unit = f" {values['unit']}" if values["unit"] else ""
    rows = [
        ("Voxel", f"[{i}, {j}, {k}]"),
        ("RAS mm", ras),
        ("LPS mm", lps),
        ("Value", f"<b>{number}{unit}</b>"),
    ]
    for layer, label, name in values["labels"]:
        # the layer's (often long file) name goes small under the label, so the
        # key column stays narrow in a 300-pixel dock
        rows.append(("Label", f"<b>{label} · {html.escape(name)}</b><br>"
                              f"<span style='color:#8a939e; font-size:11px'>"
                              f"{html.escape(layer)}</span>"))
    if not values["labels"]:
        rows.append(("Label", "–"))
    return "<table>" + "".join(
        f"<tr><td style='color:#9aa4b1; padding-right:8px'>{k}</td><td>{v}</td></tr>"
        for k, v in rows
    ) + "</table>"


class ReadoutPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setObjectName("readout_text")
        self.label.setTextFormat(Qt.RichText)
        self.label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.label.setMinimumHeight(110)
        self.last_values: dict | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)

    def show_values(self, values: dict | None, source: str = "") -> None:
        self.last_values = values
        heading = f"<div style='color:#9aa4b1'>{html.escape(source)}</div>" if source else ""
        self.label.setText(heading + format_readout(values))

    def text(self) -> str:
        return self.label.text()
