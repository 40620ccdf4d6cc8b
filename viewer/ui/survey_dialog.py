"""File > Survey folder…: the survey table in the window, sortable, a double click opens a row.

The survey runs in a background thread (``viewer.ui.background``) with one header
reader (no forked processes beside Qt). Rows that stand out are tinted and carry
their reasons in the last column and as a tooltip. A double click (or Enter) opens
the row in the window: a DICOM series by its own file list, so the series of a
folder holding several opens without a series prompt; any other row by its file.
"Save report…" writes the same self-contained HTML as ``spleenscope survey -o``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QAction,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from viewer.survey.rows import COLUMNS, Survey, SurveyRow

log = logging.getLogger(__name__)

FLAGGED_BACKGROUND = QColor(255, 236, 210)
SORT_ROLE = Qt.UserRole + 1
ROW_ROLE = Qt.UserRole + 2
HEADERS = {
    "path": "Path", "format": "Format", "modality": "Modality", "manufacturer": "Manufacturer",
    "model": "Model", "shape": "Shape", "spacing_mm": "Spacing (mm)",
    "slice_step_mm": "Slice step (mm)", "missing_slices": "Missing", "orientation": "Orientation",
    "dtype": "Type", "intensity_p1": "P1", "intensity_p50": "P50", "intensity_p99": "P99",
    "warnings": "Warnings", "flags": "Stands out because",
}  # fmt: skip


class SortableItem(QTableWidgetItem):
    """A cell that sorts by a key (numbers as numbers, shapes by voxel count)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None or type(mine) is not type(theirs):
            return (mine is None, self.text()) < (theirs is None, other.text())
        return mine < theirs


def sort_key(row: SurveyRow, column: str):
    value = getattr(row, column)
    if value is None:
        return None
    if column == "shape":
        product = 1
        for size in value:
            product *= int(size)
        return float(product)
    if column == "spacing_mm":
        return float(value[0]) if value else None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return float(len(value))
    return str(value).lower()


class SurveyDialog(QDialog):
    """The table of one survey; ``open_row`` hands a row to the window."""

    def __init__(self, shell, folder: Path) -> None:
        super().__init__(shell)
        self.shell = shell
        self.folder = Path(folder)
        self.survey: Survey | None = None
        self.setWindowTitle(f"Survey of {self.folder.name}")
        self.resize(1100, 560)
        self.summary_label = QLabel("Reading headers…")
        self.summary_label.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([HEADERS[c] for c in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.cellDoubleClicked.connect(lambda row, _column: self.open_row(row))
        self.save_button = QPushButton("Save report…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_report)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Double-click a row to open it."))
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.busy)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ results
    def show_survey(self, survey: Survey) -> None:
        self.survey = survey
        self.busy.hide()
        summary = survey.summary()
        modalities = ", ".join(f"{k} {v}" for k, v in summary["by_modality"].items())
        unreadable = f"; {len(summary['unreadable'])} unreadable" if summary["unreadable"] else ""
        self.summary_label.setText(
            f"{summary['series_and_volumes']} series and volumes in {summary['files_seen']} files "
            f"({modalities}); {summary['dicom_studies']} DICOM studies, "
            f"{summary['dicom_patients']} patients; {summary['flagged']} stand out{unreadable}."
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(survey.rows))
        for index, row in enumerate(survey.rows):
            for column, name in enumerate(COLUMNS):
                item = SortableItem(row.cell(name))
                item.setData(SORT_ROLE, sort_key(row, name))
                item.setData(ROW_ROLE, index)
                if row.flags:
                    item.setBackground(FLAGGED_BACKGROUND)
                    item.setToolTip("\n".join(row.flags))
                self.table.setItem(index, column, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, Qt.AscendingOrder)  # by path, as the survey lists them
        self.table.resizeColumnsToContents()
        for column in range(len(COLUMNS) - 1):
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), 260))
        self.save_button.setEnabled(True)

    def show_error(self, message: str) -> None:
        self.busy.hide()
        self.summary_label.setText(f"Survey failed: {message}")
        self.summary_label.setStyleSheet("color: #b00020")

    # ------------------------------------------------------------------ actions
    def row_at(self, table_row: int) -> SurveyRow | None:
        item = self.table.item(table_row, 0)
        if item is None or self.survey is None:
            return None
        return self.survey.rows[int(item.data(ROW_ROLE))]

    def open_row(self, table_row: int) -> bool:
        """Open the row's series or file in the window (False when nothing happened)."""
        row = self.row_at(table_row)
        if row is None:
            return False
        target = [Path(f) for f in row.files] if row.files else Path(row.open_path)
        return bool(self.shell.open_path(target))

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.table.currentRow() >= 0:
            self.open_row(self.table.currentRow())
            return
        super().keyPressEvent(event)

    def _save_report(self) -> None:
        if self.survey is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save survey report", str(self.folder.parent / "survey.html"), "HTML (*.html)"
        )
        if not path:
            return
        from viewer.errors import SpleenScopeError
        from viewer.io.file_names import check_output_path
        from viewer.survey.report import write_html

        try:
            check_output_path(Path(path), str(self.folder), overwrite=True)
            write_html(self.survey, Path(path))
        except (SpleenScopeError, OSError) as error:
            self.shell.show_error(str(error), "Could not save the report")


class SurveyTool:
    """File > Survey folder…: asks for a folder, runs the survey, shows the table."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.dialog: SurveyDialog | None = None
        self.action = QAction("Sur&vey folder…", shell)
        self.action.setStatusTip("Read the headers of every image under a folder and list them")
        self.action.triggered.connect(self.ask_and_survey)
        shell.add_file_action(self.action)

    def ask_and_survey(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.shell, "Survey folder")
        if folder:
            self.survey(Path(folder))

    def survey(self, folder: Path) -> SurveyDialog:
        """Show the dialog at once and fill it when the survey is done."""
        from viewer.survey.collect import survey_folder
        from viewer.ui.background import run_in_background

        dialog = SurveyDialog(self.shell, folder)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.destroyed.connect(lambda *_: setattr(self, "dialog", None))
        dialog.show()
        run_in_background(
            dialog,
            lambda: survey_folder(folder, show_bar=False, workers=1),
            dialog.show_survey,
            dialog.show_error,
        )
        return dialog
