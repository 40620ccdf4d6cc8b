"""The model manager: the bundled models and the user's own, their scores, the active ones.

Lists :func:`segmentation.registry.list_models` with each model's modality, validation
Dice, date and training data (from its model card, :mod:`viewer.model_card`); sets
the active model of a modality (the one the next Segment of a CT or an MR uses);
deletes a user model after a confirmation. The bundled models cannot be deleted.

Setting a model active is never one click on trust: the new model and the active one
segment the same validation cases first (:mod:`segmentation.model_comparison`), both
mean Dice scores are shown, and a model that scores lower needs an explicit "Use it
anyway" in a warning box (Cancel is the default).
"""

from __future__ import annotations

import datetime
import html
import logging
from pathlib import Path

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segmentation import registry
from viewer import model_card
from viewer.errors import ModelFileError

log = logging.getLogger(__name__)

COLUMNS = ("Active", "Model", "Validation Dice", "Created", "Training data", "Kind", "Modality")


def _date(created: str) -> str:
    """``2026-11-22 03:19`` in local time from an ISO timestamp (as is when it is not one)."""
    text = str(created or "")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone()  # model files store UTC; people read local time
    return f"{moment:%Y-%m-%d %H:%M}"


class ModelManagerDialog(QDialog):
    """Non-modal list of models; emits ``active_changed(path)`` after a change."""

    active_changed = pyqtSignal(object)  # Path of the new active model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("model_manager")
        self.entries: list[registry.ModelEntry] = []
        self.confirm_box: QMessageBox | None = None
        self.worse_box: QMessageBox | None = None
        self.last_comparison = None  # segmentation.model_comparison.Comparison
        # Comparisons already made, by (new file, active file) and their modification
        # times: asking again after a Cancel does not segment the cases again.
        self._comparisons: dict[tuple, object] = {}

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("model_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self.set_selected_active())

        self.comparison_label = QLabel("")
        self.comparison_label.setObjectName("model_comparison")
        self.comparison_label.setWordWrap(True)
        self.details = QLabel("")
        self.details.setObjectName("model_details")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.RichText)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.activate_button = QPushButton("Set active")
        self.activate_button.setObjectName("set_active")
        self.activate_button.clicked.connect(self.set_selected_active)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("delete_model")
        self.delete_button.clicked.connect(self.delete_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.activate_button, self.delete_button, refresh):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.comparison_label)
        layout.addLayout(buttons)
        self.resize(1060, 420)
        self.refresh()

    # ------------------------------------------------------------------ listing
    def refresh(self) -> None:
        """Re-read the models folder (after training, deleting, activating)."""
        selected = self.selected_entry()
        self.entries = registry.list_models()
        active_paths = {registry.active_model_path(m).resolve() for m in ("CT", "MR")}
        active = registry.active_model_path().resolve()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            data_text = model_card.data_summary(model_card.read_card(entry.path))
            is_active = entry.path.resolve() in active_paths
            values = (
                "●" if is_active else "",
                entry.name,
                "n/a" if entry.val_dice is None else f"{entry.val_dice:.3f}",
                _date(entry.created),
                data_text,
                "bundled" if entry.is_bundled else "yours",
                entry.modality,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column in (0, 2, 6):
                    item.setTextAlignment(Qt.AlignCenter)
                item.setToolTip(str(entry.path))
                self.table.setItem(row, column, item)
        target = selected.path if selected else active
        for row, entry in enumerate(self.entries):
            if entry.path.resolve() == Path(target).resolve():
                self.table.selectRow(row)
                break
        self._selection_changed()

    def row_of(self, path: str | Path) -> int:
        """The table row showing ``path``, or -1."""
        path = Path(path).resolve()
        for row, entry in enumerate(self.entries):
            if entry.path.resolve() == path:
                return row
        return -1

    def selected_entry(self) -> registry.ModelEntry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.entries):
            return None
        return self.entries[rows[0].row()]

    def select(self, path: str | Path) -> bool:
        row = self.row_of(path)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def _selection_changed(self) -> None:
        entry = self.selected_entry()
        self.activate_button.setEnabled(entry is not None)
        self.delete_button.setEnabled(entry is not None and not entry.is_bundled)
        self.delete_button.setToolTip(
            "The bundled model cannot be deleted" if entry and entry.is_bundled else "")
        self.details.setText(self._details_html(entry) if entry else "")

    @staticmethod
    def _details_html(entry: registry.ModelEntry) -> str:
        parts = [f"<b>{html.escape(entry.name)}</b> — {html.escape(str(entry.path))}"]
        if not entry.is_bundled:
            card = model_card.read_card(entry.path)
            settings = card.get("settings") or {}
            run = card.get("run") or {}
            if settings:
                parts.append(
                    "Trained {epochs} of {planned} epochs on {device}; lr {lr}, batch {batch}, "
                    "{axis} slices{tuned}.".format(
                        epochs=run.get("epochs_run"), planned=run.get("epochs_planned"),
                        device=html.escape(str(run.get("device"))),
                        lr=settings.get("learning_rate"), batch=settings.get("batch_size"),
                        axis=settings.get("axis"),
                        tuned=(f", fine-tuned from {html.escape(settings['fine_tuned_from'])}"
                               if settings.get("fine_tuned_from") else ", from scratch")))
            names = (card.get("data") or {}).get("case_names") or []
            if names:
                parts.append("Cases: " + html.escape(", ".join(names[:12]))
                             + (" …" if len(names) > 12 else ""))
        return "<br>".join(parts)

    # ------------------------------------------------------------------ actions
    def set_selected_active(self) -> bool:
        """Compare the selected model with the active one, then activate or ask.

        Returns True when the model is active now; False when it is not (an error, or a
        lower score waiting for the user's answer in ``worse_box``).
        """
        from PyQt5.QtWidgets import QApplication

        from segmentation.model_comparison import compare_with_active
        from viewer.errors import SpleenScopeError

        entry = self.selected_entry()
        if entry is None:
            return False
        if entry.path.resolve() == registry.active_model_path(entry.modality).resolve():
            return True
        self.comparison_label.setText(f"Comparing {entry.name} with the active model…")
        active = registry.active_model_path(entry.modality)
        key = tuple((str(p), p.stat().st_mtime) for p in (entry.path, active) if p.is_file())
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            comparison = self._comparisons.get(key) or compare_with_active(entry.path)
            self._comparisons[key] = comparison
        except SpleenScopeError as error:
            self.comparison_label.setText("")
            QMessageBox.warning(self, "Cannot use this model", str(error))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.last_comparison = comparison
        self.comparison_label.setText(comparison.text().replace("\n", " · "))
        if not comparison.candidate_is_worse:
            return self._activate(entry)
        box = QMessageBox(
            QMessageBox.Warning,
            "This model scores lower",
            f"{comparison.text()}\n\nThe selected model is worse than the active one on these "
            "cases. Make it active anyway? The next Segment will use it.",
            QMessageBox.Cancel,
            self,
        )
        use = box.addButton("Use it anyway", QMessageBox.DestructiveRole)
        box.setObjectName("confirm_worse_model_box")
        use.setObjectName("use_worse_model")
        box.setDefaultButton(QMessageBox.Cancel)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button, e=entry: self._worse_answer(button is use, e))
        self.worse_box = box
        box.open()
        return False

    def _worse_answer(self, confirmed: bool, entry: registry.ModelEntry) -> None:
        self.worse_box = None
        if confirmed:
            self._activate(entry)
        else:
            log.info("kept the active model; %s scored lower", entry.name)

    def _activate(self, entry: registry.ModelEntry) -> bool:
        try:
            if entry.is_bundled:
                registry.set_active_model(None, modality=entry.modality)
            else:
                registry.set_active_model(entry.path)
        except ModelFileError as error:
            QMessageBox.warning(self, "Cannot use this model", str(error))
            return False
        log.info("active %s model: %s", entry.modality, entry.name)
        self.refresh()
        self.active_changed.emit(entry.path)
        return True

    def delete_selected(self) -> bool:
        """Ask, then delete the selected user model (never the bundled one)."""
        entry = self.selected_entry()
        if entry is None or entry.is_bundled:
            return False
        box = QMessageBox(QMessageBox.Warning, "Delete model",
                          f"Delete the model “{entry.name}” and its model card?\n"
                          "This cannot be undone.",
                          QMessageBox.Yes | QMessageBox.Cancel, self)
        box.setObjectName("confirm_delete_box")
        box.setDefaultButton(QMessageBox.Cancel)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda result, e=entry: self._delete_answer(result, e))
        self.confirm_box = box
        box.open()
        return True

    def _delete_answer(self, result: int, entry: registry.ModelEntry) -> None:
        self.confirm_box = None
        if result != QMessageBox.Yes:
            return
        was_active = registry.active_model_path(entry.modality).resolve() == entry.path.resolve()
        model_card.delete_model_files(entry.path)
        if was_active:
            registry.set_active_model(None, modality=entry.modality)
            self.active_changed.emit(registry.active_model_path(entry.modality))
        log.info("deleted model %s", entry.name)
        self.refresh()
