"""Histogram of the whole volume's intensities with the display window marked.

A pyqtgraph ``HistogramLUTWidget`` whose curve we fill from the volume (not from
the slice on screen, so the histogram does not jump while scrolling). Dragging the
window region changes the window of all three views; the grey gradient below is
the lookup table and can be changed through its context menu.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from viewer.window_level import load_presets

HISTOGRAM_BINS = 256
MAX_SAMPLES = 2_000_000


def volume_histogram(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, log10(1 + count)) from at most ~2 M voxels."""
    # order="K": a view in memory order (volumes from viewer.io are Fortran-ordered;
    # reshape(-1) would copy the whole volume just to take a subsample)
    flat = array.ravel(order="K")
    step = max(1, flat.size // MAX_SAMPLES)
    sample = flat[::step]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.array([0.0, 1.0]), np.zeros(2)
    counts, edges = np.histogram(sample, bins=HISTOGRAM_BINS)
    centres = (edges[:-1] + edges[1:]) / 2.0
    return centres, np.log10(1.0 + counts)


class HistogramPanel(QWidget):
    """Histogram + preset chooser + the current window in numbers."""

    levels_dragged = pyqtSignal(float, float)  # low, high
    preset_chosen = pyqtSignal(str)  # preset key, "header" or "auto"
    lookup_table_changed = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram = pg.HistogramLUTWidget(orientation="horizontal")
        self.histogram.setMinimumHeight(110)
        self.item = self.histogram.item
        self.item.fillHistogram(True, color=(110, 140, 190, 160))
        self.item.sigLevelsChanged.connect(self._region_moved)
        self.item.sigLookupTableChanged.connect(self._gradient_changed)
        self._updating = False
        self.preset_box = QComboBox()
        self.preset_box.setObjectName("preset_box")
        self.preset_box.addItem("Header default", "header")
        for preset in load_presets():
            self.preset_box.addItem(f"{preset.label}  ({preset.width:.0f}/{preset.center:.0f})",
                                    preset.key)
        self.preset_box.addItem("Automatic (percentiles)", "auto")
        self.preset_box.activated.connect(
            lambda i: self.preset_chosen.emit(self.preset_box.itemData(i))
        )
        self.window_text = QLabel("W –  L –")
        self.window_text.setObjectName("window_text")
        row = QHBoxLayout()
        row.addWidget(QLabel("Window:"))
        row.addWidget(self.preset_box, 1)
        row.addWidget(self.window_text)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.histogram, 1)

    def set_volume_array(self, array: np.ndarray | None) -> None:
        if array is None:
            self.item.plot.setData([], [])
            return
        centres, counts = volume_histogram(array)
        self.item.plot.setData(centres, counts)
        self.item.vb.enableAutoRange(self.item.vb.XAxis, False)
        self.item.vb.setXRange(float(centres[0]), float(centres[-1]), padding=0.02)
        self.item.vb.enableAutoRange(self.item.vb.YAxis, True)

    def show_window(self, center: float, width: float, preset_key: str | None = None) -> None:
        self._updating = True
        try:
            self.item.setLevels(center - width / 2.0, center + width / 2.0)
        finally:
            self._updating = False
        self.window_text.setText(f"W {width:.0f}  L {center:.0f}")
        if preset_key is not None:
            index = self.preset_box.findData(preset_key)
            if index >= 0:
                self.preset_box.setCurrentIndex(index)

    def _region_moved(self, *_args) -> None:
        if self._updating:
            return
        low, high = self.item.getLevels()
        self.levels_dragged.emit(float(low), float(high))

    def _gradient_changed(self, *_args) -> None:
        gradient = self.item.gradient
        lut = None if gradient.isLookupTrivial() else gradient.getLookupTable(256, alpha=False)
        self.lookup_table_changed.emit(lut)
