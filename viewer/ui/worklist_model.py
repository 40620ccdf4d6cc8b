"""The worklist table's Qt model: a thin view over :class:`viewer.worklist.Worklist` rows.

Colours follow the verdict and never reassure wrongly: green only for ``ok`` with a
spleen found, red for ``failed`` and run errors, amber for ``check``, grey for results
nobody checked.

A volume that is only a minimum (the spleen runs past the scan, the batch's
``volume_is_lower_bound``) reads "at least 241.7", as the window's results panel
writes it, in amber, with a tooltip saying why.
"""

from __future__ import annotations

from PyQt5.QtCore import QAbstractTableModel, Qt
from PyQt5.QtGui import QColor

from segmentation.measurements import AT_LEAST
from viewer.worklist import WorklistRow

COLUMNS = ("study", "verdict", "volume mL", "range mL", "Dice", "decision", "comment")
VERDICT_COLOURS = {
    "ok": "#2e7d32",
    "check": "#b26a00",
    "failed": "#c62828",
    "error": "#c62828",
    "unchecked": "#6b7480",
}
LOWER_BOUND_COLOUR = VERDICT_COLOURS["check"]
LOWER_BOUND_TOOLTIP = (
    "At least this volume: the spleen reaches the first or last slice of the scan, so "
    "part of it lies outside the images and the true volume may be larger."
)


def verdict_colour(row: WorklistRow) -> str:
    if row.failed:
        return VERDICT_COLOURS["error"]  # a failed run is red, whatever its verdict says
    if row.verdict == "ok" and not (row.volume_ml or 0) > 0:
        return VERDICT_COLOURS["unchecked"]  # "ok" on an empty mask must not look fine
    return VERDICT_COLOURS.get(row.verdict, VERDICT_COLOURS["unchecked"])


def volume_text(row: WorklistRow) -> str:
    """The volume cell: "at least 241.7" when it is only a minimum."""
    if row.volume_ml is None:
        return ""
    return f"{AT_LEAST if row.volume_is_lower_bound else ''}{row.volume_ml:.1f}"


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def cell_text(row: WorklistRow, column: int) -> str:
    name = COLUMNS[column]
    if name == "study":
        return row.study
    if name == "verdict":
        return row.verdict
    if name == "volume mL":
        return volume_text(row)
    if name == "range mL":
        low, high = row.values.get("volume_ml_low"), row.values.get("volume_ml_high")
        return f"{float(low):.0f}-{float(high):.0f}" if low and high else ""
    if name == "Dice":
        return _number(row.dice, 3)
    if name == "decision":
        return row.decision or ""
    return row.comment or row.values.get("reasons", "") or row.values.get("error", "")


class WorklistTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[WorklistRow] = []

    def set_rows(self, rows: list[WorklistRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_changed(self, study: str) -> None:
        for index, row in enumerate(self.rows):
            if row.study == study:
                self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.DisplayRole:
            return cell_text(row, index.column())
        column = COLUMNS[index.column()]
        lower_bound = column == "volume mL" and row.volume_is_lower_bound
        if role == Qt.ForegroundRole and column == "verdict":
            return QColor(verdict_colour(row))
        if role == Qt.ForegroundRole and lower_bound:
            return QColor(LOWER_BOUND_COLOUR)
        if role == Qt.ToolTipRole:
            if lower_bound:
                return LOWER_BOUND_TOOLTIP
            return row.values.get("reasons") or row.values.get("error") or None
        return None
