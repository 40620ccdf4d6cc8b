"""Dialogs: choosing one series of a folder, and the list of shortcuts.

The shortcuts list has two parts: the mouse gestures and slice keys the views
handle themselves (:data:`SHORTCUTS`, written by hand: there is no QAction to read
them from), and every keyboard shortcut of the window's QActions (menus, toolbar,
and those the tools add), read from the actions when the dialog opens
(:func:`action_shortcuts`), so a key added or changed anywhere is listed as it is.
"""

from __future__ import annotations

import html

from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Mouse gestures and keys the slice views handle without a QAction (the keys of
#: menu and toolbar commands come from the actions: :func:`action_shortcuts`).
SHORTCUTS: list[tuple[str, str]] = [
    ("Left click / drag", "Move the crosshair; the other views go to the slices through it"),
    ("Wheel, ↑ ↓ ← →", "Previous / next slice in the view under the mouse"),
    ("Page Up / Page Down", "10 slices back / forward"),
    ("Home / End", "First / last slice"),
    ("Ctrl + wheel, right drag", "Zoom around the mouse"),
    ("Middle drag, Space + drag", "Pan"),
    ("Shift + left drag", "Window/level: right = wider, down = brighter level"),
    ("Double click", "Maximize the view / back to all views"),
    ("Left drag, ruler on", "Distance in mm on the slice; drag its ends to adjust"),
    ("Left drag, Paint / Erase on", "Paint or erase on the slice (the circle is the brush)"),
]


def _plain(text: str) -> str:
    """Menu text without mnemonics (``&Open`` -> ``Open``; ``&&`` stays ``&``)."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcut_text(action: QAction) -> str:
    """All of ``action``'s key sequences as the menus show them (``Ctrl+Shift+Z``)."""
    return ", ".join(seq.toString(QKeySequence.NativeText) for seq in action.shortcuts()
                     if not seq.isEmpty())


def action_shortcuts(window: QWidget) -> list[tuple[str, str]]:
    """(keys, "Menu ▸ command") for every action of ``window`` with a shortcut, in
    menu order, then the toolbars', then any other action the window holds."""
    rows: list[tuple[str, str]] = []
    seen: set[int] = set()

    def add(action: QAction, where: str) -> None:
        if id(action) in seen or action.isSeparator() or action.menu() is not None:
            return
        keys = shortcut_text(action)
        if not keys:
            return
        seen.add(id(action))
        text = _plain(action.text()).rstrip("…").strip() or _plain(action.iconText())
        rows.append((keys, f"{where} ▸ {text}" if where else text))

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{where} ▸ {_plain(action.menu().title())}")
            else:
                add(action, where)

    if isinstance(window, QMainWindow):
        for action in window.menuBar().actions():
            if action.menu() is not None:
                walk(action.menu(), _plain(action.menu().title()))
    for action in window.findChildren(QAction):
        add(action, "")
    return rows


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
    """Mouse gestures (hand-written) and every key of the window's actions (read live)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        self.rows = list(SHORTCUTS)
        self.action_rows = action_shortcuts(parent) if parent is not None else []
        mouse = _table("shortcuts_table", ["Mouse / keys in a view", "Action"], self.rows)
        keys = _table("action_shortcuts_table", ["Keys", "Command"], self.action_rows)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(mouse, 2)  # first child widget (tests find it by child order too)
        layout.insertWidget(0, QLabel("<b>In the slice views</b>"))
        layout.addWidget(QLabel("<b>Menu and toolbar commands</b>"))
        layout.addWidget(keys, 3)
        layout.addWidget(buttons)
        self.resize(680, 720)

    def text(self) -> str:
        """Everything listed, one ``keys<TAB>action`` line per row."""
        return "\n".join(f"{keys}\t{what}" for keys, what in self.rows + self.action_rows)


def _table(name: str, headers: list[str], rows: list[tuple[str, str]]) -> QTableWidget:
    table = QTableWidget(len(rows), 2)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    for row, (keys, action) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(keys))
        table.setItem(row, 1, QTableWidgetItem(action))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    return table
