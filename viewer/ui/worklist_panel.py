"""The worklist dock's widgets: filters, the table, review buttons and the thumbnail strip.

Only widgets: :class:`viewer.ui.worklist_tool.WorklistTool` fills them and acts on them.
"""

from __future__ import annotations

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtGui import QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.ui.worklist_model import WorklistTableModel, verdict_colour
from viewer.worklist import VERDICT_ORDER, WorklistRow

ALL = "all"
DECISIONS = (ALL, "undecided", "accept", "correct", "reject")
THUMBNAIL_PIXELS = 96
STRIP_LIMIT = 300  # thumbnails shown at once; the table holds every row


class WorklistPanel(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QLabel("File ▸ Open batch results… to review a cohort")
        self.summary.setWordWrap(True)
        self.verdict_filter = QComboBox()
        self.verdict_filter.addItems((ALL, *VERDICT_ORDER))
        self.decision_filter = QComboBox()
        self.decision_filter.addItems(DECISIONS)
        self.search = QLineEdit(placeholderText="study contains…")
        filters = QHBoxLayout()
        for label, widget in (("verdict", self.verdict_filter), ("decision", self.decision_filter)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.search, 1)

        self.model = WorklistTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(150)

        self.comment = QLineEdit(placeholderText="comment (required to reject)")
        self.previous_button = QPushButton("◀ Previous (P)")
        self.next_button = QPushButton("Next (N) ▶")
        self.accept_button = QPushButton("Accept")
        self.correct_button = QPushButton("Correct: save edits as new version")
        self.reject_button = QPushButton("Reject")
        self.export_button = QPushButton("Export reviewed table…")
        moves = QHBoxLayout()
        moves.addWidget(self.previous_button)
        moves.addWidget(self.next_button)
        decisions = QHBoxLayout()
        for button in (self.accept_button, self.correct_button, self.reject_button):
            decisions.addWidget(button)

        self.strip = QListWidget()
        self.strip.setViewMode(QListView.IconMode)
        self.strip.setFlow(QListView.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListView.Static)
        self.strip.setIconSize(QSize(THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        # room for the icon and two caption lines (study, verdict) under it
        self.strip.setGridSize(QSize(THUMBNAIL_PIXELS + 16, THUMBNAIL_PIXELS + 40))
        self.strip.setFixedHeight(THUMBNAIL_PIXELS + 64)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOn)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

        # Wide and short: the dock sits under the views, table left, review right.
        table_side = QVBoxLayout()
        table_side.addWidget(self.summary)
        table_side.addLayout(filters)
        table_side.addWidget(self.table, 1)
        review_side = QVBoxLayout()
        review_side.addWidget(self.strip)
        review_side.addLayout(moves)
        review_side.addWidget(self.comment)
        review_side.addLayout(decisions)
        review_side.addWidget(self.export_button)
        review_side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addLayout(table_side, 3)
        layout.addLayout(review_side, 2)
        self.set_review_enabled(False)

    def set_review_enabled(self, enabled: bool) -> None:
        for button in (self.accept_button, self.correct_button, self.reject_button):
            button.setEnabled(enabled)

    def show_rows(self, rows: list[WorklistRow]) -> None:
        self.model.set_rows(rows)
        self.strip.clear()
        for row in rows[:STRIP_LIMIT]:
            item = QListWidgetItem(f"{row.study}\n{row.verdict}")
            thumbnail = row.values.get("thumbnail") or ""
            pixmap = QPixmap(thumbnail) if thumbnail else QPixmap()
            if pixmap.isNull():
                pixmap = QPixmap(THUMBNAIL_PIXELS, THUMBNAIL_PIXELS)
                pixmap.fill(Qt.black)  # no thumbnail: an empty tile, not a picture
            item.setIcon(QIcon(pixmap))
            item.setForeground(Qt.white if row.verdict == "unchecked" else Qt.black)
            item.setBackground(_tile_background(row))
            item.setData(Qt.UserRole, row.study)
            self.strip.addItem(item)

    def selected_index(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def select_index(self, index: int) -> None:
        self.table.selectRow(index)
        self.table.scrollTo(self.model.index(index, 0))
        if index < self.strip.count():
            self.strip.setCurrentRow(index)


def _tile_background(row: WorklistRow):
    from PyQt5.QtGui import QColor

    colour = QColor(verdict_colour(row))
    colour.setAlpha(90)
    return colour
