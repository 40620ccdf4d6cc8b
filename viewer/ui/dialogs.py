"""Dialogs: choosing one series of a folder, and the list of shortcuts."""

from __future__ import annotations

import html

from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: (keys, what they do) in the order the help lists them; the one source of truth.
SHORTCUTS: list[tuple[str, str]] = [
    ("Left click / drag", "Move the crosshair; the other views go to the slices through it"),
    ("Wheel, ↑ ↓ ← →", "Previous / next slice in the view under the mouse"),
    ("Page Up / Page Down", "10 slices back / forward"),
    ("Home / End", "First / last slice"),
    ("Ctrl + wheel, right drag", "Zoom around the mouse"),
    ("Middle drag, Space + drag", "Pan"),
    ("Shift + left drag", "Window/level: right = wider, down = brighter level"),
    ("1 … 5", "Window presets: abdomen, liver, lung, bone, brain"),
    ("0", "Header window (or automatic for MR)"),
    ("A", "Automatic window (intensity percentiles)"),
    ("R", "Reset zoom and pan in all views"),
    ("F or double click", "Maximize the view under the mouse / back to all views"),
    ("C", "Show / hide the crosshair lines"),
    ("M", "Show / hide the mask overlays"),
    ("O", "Mask as filled colour / outline"),
    ("L", "Link zoom across the three views"),
    ("D, then left drag", "Distance ruler in mm (drag its ends to adjust); Shift+D clears"),
    ("Ctrl+O / Ctrl+D", "Open file / open DICOM folder"),
    ("Ctrl+M", "Open mask"),
    ("F1", "This list"),
]


def series_summary(series) -> str:
    """One line for a series: ``SeriesInfo.label()`` from :mod:`viewer.io.dicom_series`
    (modality, description, slices, rows x columns, orientation), else its fields."""
    label = getattr(series, "label", None)
    if callable(label):
        return label()
    get = series.get if isinstance(series, dict) else (lambda k: getattr(series, k, None))
    parts = [str(get(k)) for k in ("modality", "description") if get(k)]
    if get("slices"):
        parts.append(f"{get('slices')} slices")
    if get("rows") and get("columns"):
        parts.append(f"{get('rows')} x {get('columns')}")
    if get("orientation"):
        parts.append(str(get("orientation")))
    return " · ".join(parts) if parts else str(series)


def series_index(series, row: int) -> int:
    """What ``load_volume(..., series=)`` takes for the series in ``row``."""
    index = series.get("index") if isinstance(series, dict) else getattr(series, "index", None)
    return int(index) if isinstance(index, int) else row


class SeriesPickerDialog(QDialog):
    """Lists the series of a folder; ``chosen_index()`` after ``exec_()``."""

    def __init__(self, series: list, message: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.list = QListWidget()
        self.list.setObjectName("series_list")
        self.series = list(series)
        for item in self.series:
            self.list.addItem(series_summary(item))
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(html.escape(message) or "This folder holds several series."))
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.resize(520, 320)

    def chosen_index(self) -> int:
        """The chosen series' ``index`` (what ``open_path(..., series=)`` takes)."""
        row = max(self.list.currentRow(), 0)
        return series_index(self.series[row], row) if self.series else row


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setObjectName("shortcuts_table")
        table.setHorizontalHeaderLabels(["Keys / mouse", "Action"])
        table.verticalHeader().hide()
        for row, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(action))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(640, 520)
