"""The model manager: the bundled models and the user's own, their scores, the active ones.

Lists :func:`segmentation.registry.list_models` with each model's modality, validation
Dice, date and training data (from its model card, :mod:`viewer.model_card`); sets
the active model of a modality (the one the next Segment of a CT or an MR uses);
deletes a user model after a confirmation. The bundled models cannot be deleted.

Import… copies a ``.pt`` model file into the user's models folder
(:func:`segmentation.registry.import_model_file`: checked first, never over a model
there; a damaged file gets one line and nothing is copied).

Setting a model active is never one click on trust: the new model and the active one
segment the same validation cases first (:mod:`segmentation.model_comparison`), both
mean Dice scores are shown, and a model that scores lower needs an explicit "Use it
anyway" in a warning box (Cancel is the default); an imported model that scores as
well is offered, not switched to. The comparison runs off the GUI thread
(:func:`viewer.ui.background.run_in_background`), with a busy bar and Cancel, while
the list stays usable; closing the dialog cancels it and changes nothing.

Listing reads every model file (a tenth of a second or more each), so it runs off the
GUI thread too (:func:`read_models`): the dialog opens at once and says "Reading
models…" until the list arrives; a listing overtaken by a newer one (Refresh clicked
again, a model deleted meanwhile) is dropped, never shown over the newer one.
"""

from __future__ import annotations

import datetime
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
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
READING_TEXT = "Reading models…"


@dataclass
class ModelListing:
    """What the table shows, read off the GUI thread: the models, their cards, the active ones."""

    entries: list[registry.ModelEntry]
    cards: dict[Path, dict] = field(default_factory=dict)  # by entry path
    active: set[Path] = field(default_factory=set)  # resolved paths of the CT and MR models
    default: Path | None = None  # the active CT model: selected when nothing else is


def active_paths() -> set[Path]:
    """The active model of each modality (a small settings file; no model is read)."""
    return {registry.active_model_path(m).resolve() for m in ("CT", "MR")}


def read_models() -> ModelListing:
    """Every model with its card (runs in the background: each file is opened)."""
    entries = registry.list_models()
    cards = {entry.path: model_card.read_card(entry.path) for entry in entries}
    return ModelListing(entries, cards, active_paths(), registry.active_model_path().resolve())


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
    comparison_finished = pyqtSignal(object)  # the Comparison, or None (failed, cancelled)
    listing_finished = pyqtSignal()  # the newest listing arrived (or failed): see is_listing

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("model_manager")
        self.entries: list[registry.ModelEntry] = []
        self.cards: dict[Path, dict] = {}  # model cards of the listed entries
        # The listing in flight (a BackgroundTask) and a number that grows with each one
        # started: only the newest listing is shown.
        self.listing_task = None
        self._listing_number = 0
        self.confirm_box: QMessageBox | None = None
        self.worse_box: QMessageBox | None = None  # "Use it anyway" for a lower score
        self.activate_box: QMessageBox | None = None  # "Make it active" after an import
        self.file_chooser: QFileDialog | None = None
        self.last_comparison = None  # segmentation.model_comparison.Comparison
        # The running comparison or import (viewer.ui.background.BackgroundTask). Scores
        # already computed are kept by the engine, so asking again costs nothing.
        self.comparison_task = None

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
        self.listing_label = QLabel(READING_TEXT)
        self.listing_label.setObjectName("model_listing_state")
        self.listing_label.setVisible(False)

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
        self.import_button = QPushButton("Import…")
        self.import_button.setObjectName("import_model")
        self.import_button.setToolTip("Copy a .pt model file into your models folder, compare "
                                      "it with the active model and offer it")
        self.import_button.clicked.connect(lambda _checked=False: self.choose_file_to_import())
        self.progress = QProgressBar()
        self.progress.setObjectName("comparison_progress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel comparison")
        self.cancel_button.setObjectName("cancel_comparison")
        self.cancel_button.clicked.connect(self.cancel_comparison)
        self.cancel_button.setVisible(False)
        refresh = QPushButton("Refresh")
        refresh.setObjectName("refresh_models")
        refresh.clicked.connect(lambda _checked=False: self.refresh())
        self.refresh_button = refresh
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.activate_button, self.import_button, self.delete_button, refresh,
                       self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.listing_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.comparison_label)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(1060, 420)
        self.refresh()

    # ------------------------------------------------------------------ listing
    def refresh(self) -> None:
        """Re-read the models folder (after training, importing, on Refresh), off the GUI
        thread; the table keeps what it shows until the new list arrives."""
        from viewer.ui.background import run_in_background

        if self.listing_task is not None:
            self.listing_task.cancel()  # overtaken: its late result is dropped
        self._listing_number += 1
        number = self._listing_number
        self.listing_label.setText(READING_TEXT)
        self.listing_label.setVisible(True)
        self.listing_task = run_in_background(
            self, read_models, lambda listing: self._listed(number, listing),
            lambda message: self._not_listed(number, message), uses_torch=True)

    def is_listing(self) -> bool:
        """True while the newest listing has not arrived."""
        return self.listing_task is not None

    def _listed(self, number: int, listing: ModelListing) -> None:
        if number != self._listing_number:
            return  # a newer listing was started after this one
        self.listing_task = None
        self.listing_label.setVisible(False)
        self._show(listing)
        self.listing_finished.emit()

    def _not_listed(self, number: int, message: str) -> None:
        if number != self._listing_number:
            return
        self.listing_task = None
        log.warning("could not list the models: %s", message)
        self.listing_label.setText(f"Cannot read the models: {message}")
        self.listing_finished.emit()

    def _overtake_listing(self) -> None:
        """The models changed here: a listing in flight may predate the change; start
        a new one instead."""
        if self.listing_task is not None:
            self.refresh()

    def _show(self, listing: ModelListing) -> None:
        """Fill the table from a listing, keeping the selected model selected."""
        selected = self.selected_entry()
        self.entries = list(listing.entries)
        self.cards = dict(listing.cards)
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            data_text = model_card.data_summary(self.cards.get(entry.path) or {})
            values = (
                "",
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
        self._mark_active(listing.active)
        target = selected.path if selected else listing.default
        if target is None or not self.select(target):
            self.table.clearSelection()
        self._selection_changed()

    def _mark_active(self, active: set[Path]) -> None:
        """The "●" of the active models (after a listing, or at once after a change here)."""
        for row, entry in enumerate(self.entries):
            item = self.table.item(row, 0)
            if item is not None:
                item.setText("●" if entry.path.resolve() in active else "")

    def _remove(self, path: Path) -> None:
        """Take a deleted model off the table at once (the files are gone; nothing to read)."""
        row = self.row_of(path)
        if row >= 0:
            del self.entries[row]
            self.cards.pop(path, None)
            self.table.removeRow(row)
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
        self._update_buttons()
        self.details.setText(self._details_html(entry, self.cards) if entry else "")

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        busy = self.is_comparing()  # one comparison at a time; the list stays usable
        self.activate_button.setEnabled(entry is not None and not busy)
        self.import_button.setEnabled(not busy)
        self.delete_button.setEnabled(entry is not None and not entry.is_bundled and not busy)
        self.delete_button.setToolTip(
            "The bundled model cannot be deleted" if entry and entry.is_bundled else "")

    @staticmethod
    def _details_html(entry: registry.ModelEntry, cards: dict[Path, dict]) -> str:
        parts = [f"<b>{html.escape(entry.name)}</b> — {html.escape(str(entry.path))}"]
        if not entry.is_bundled:
            card = cards.get(entry.path) or {}
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
    def is_comparing(self) -> bool:
        return self.comparison_task is not None

    def set_selected_active(self) -> bool:
        """Make the selected model active, after comparing it with the active one.

        Returns True when it already is the active model. Otherwise the comparison
        starts in the background (False): a model that scores at least as well becomes
        active when it ends, a lower score asks in ``worse_box`` first.
        """
        entry = self.selected_entry()
        if entry is None or self.is_comparing():
            return False
        if entry.path.resolve() == registry.active_model_path(entry.modality).resolve():
            return True
        self._compare(entry, ask_when_better=False)
        return False

    def _compare(self, entry: registry.ModelEntry, ask_when_better: bool) -> None:
        """Both models segment the same validation cases, off the GUI thread: seconds to
        minutes of inference, during which the list stays usable."""
        from viewer.ui.background import run_in_background

        self.comparison_task = run_in_background(
            self, lambda path=entry.path: _compare_off_gui_thread(path),
            lambda comparison, e=entry: self._compared(e, comparison, ask_when_better),
            lambda message, e=entry: self._not_compared(e, message),
            on_progress=self._compare_progress,
            on_cancelled=lambda: self._idle("Comparison cancelled; nothing changed."),
            uses_torch=True)
        self._busy(f"Comparing {entry.name} with the active {entry.modality} model on the "
                   "same validation cases…")

    def cancel_comparison(self) -> None:
        if self.comparison_task is not None:
            self.comparison_task.cancel()

    def _busy(self, text: str) -> None:
        self.comparison_label.setText(text)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._update_buttons()

    def _idle(self, text: str, finished: bool = True) -> None:
        """Back to the list; ``finished``: announce that no comparison came of it."""
        self.comparison_task = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.comparison_label.setText(text)
        self._update_buttons()
        if finished:
            self.comparison_finished.emit(None)

    def _compare_progress(self, value) -> None:
        done, total = value
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _not_compared(self, entry: registry.ModelEntry, message: str) -> None:
        log.info("could not compare %s with the active model: %s", entry.name, message)
        self.last_comparison = None
        self._idle(f"Cannot use {entry.name}: {message}")

    def _compared(self, entry: registry.ModelEntry, comparison, ask_when_better: bool) -> None:
        self.last_comparison = comparison
        self._idle(comparison.text().replace("\n", " · "), finished=False)
        if not comparison.candidate_is_worse and not ask_when_better:
            self._activate(entry)
            self.comparison_finished.emit(comparison)
            return
        if comparison.candidate_is_worse:
            box = QMessageBox(
                QMessageBox.Warning, "This model scores lower",
                f"{comparison.text()}\n\nThe selected model is worse than the active one on "
                "these cases. Make it active anyway? The next Segment will use it.",
                QMessageBox.Cancel, self)
            yes = box.addButton("Use it anyway", QMessageBox.DestructiveRole)
            yes.setObjectName("use_worse_model")
            box.setObjectName("confirm_worse_model_box")
            box.setDefaultButton(QMessageBox.Cancel)
            self.worse_box = box
        else:
            box = QMessageBox(
                QMessageBox.Question, "Use the imported model?",
                f"{comparison.text()}\n\nMake it the active {entry.modality} model? The next "
                f"{entry.modality} Segment will use it.",
                QMessageBox.No, self)
            yes = box.addButton("Make it active", QMessageBox.YesRole)
            yes.setObjectName("use_imported_model")
            box.setObjectName("confirm_imported_model_box")
            box.setDefaultButton(QMessageBox.No)
            self.activate_box = box
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button, e=entry: self._answer(button is yes, e))
        box.open()
        self.comparison_finished.emit(comparison)

    def _answer(self, confirmed: bool, entry: registry.ModelEntry) -> None:
        self.worse_box = self.activate_box = None
        if confirmed:
            self._activate(entry)
        else:
            log.info("kept the active %s model; not %s", entry.modality, entry.name)

    def _activate(self, entry: registry.ModelEntry) -> bool:
        try:
            registry.make_active(entry.path)
        except ModelFileError as error:
            self.comparison_label.setText(f"Cannot use {entry.name}: {error}")
            return False
        log.info("active %s model: %s", entry.modality, entry.name)
        self._mark_active(active_paths())  # no model file changed: nothing to re-read
        self._overtake_listing()
        self.active_changed.emit(entry.path)
        return True

    # ------------------------------------------------------------------ importing
    def choose_file_to_import(self) -> QFileDialog:
        """Open a file dialog for a ``.pt`` model; the chosen file goes to :meth:`import_file`."""
        chooser = QFileDialog(self, "Import a model file", "", "SpleenScope models (*.pt)")
        chooser.setObjectName("import_model_chooser")
        chooser.setFileMode(QFileDialog.ExistingFile)
        chooser.setAcceptMode(QFileDialog.AcceptOpen)
        chooser.setAttribute(Qt.WA_DeleteOnClose)
        chooser.fileSelected.connect(self.import_file)
        chooser.finished.connect(lambda _result: setattr(self, "file_chooser", None))
        self.file_chooser = chooser
        chooser.open()
        return chooser

    def import_file(self, path: str | Path) -> None:
        """Check the file and copy it into the user's models folder (never over a model
        there; a damaged file gets one line and nothing is copied), then compare it with
        the active model and ask whether to use it."""
        from viewer.ui.background import run_in_background

        self.file_chooser = None
        if self.is_comparing() or not path:
            return
        path = Path(path)
        self.comparison_task = run_in_background(
            self, lambda: (registry.import_model_file(path), read_models()), self._imported,
            lambda message: self._idle(f"Cannot import {path.name}: {message}"),
            on_cancelled=lambda: self._idle(f"Import of {path.name} cancelled."), uses_torch=True)
        self._busy(f"Checking {path.name}…")

    def _imported(self, found: tuple[tuple[Path, bool], ModelListing]) -> None:
        """The file was copied and the models read again, both in the background."""
        (target, copied), listing = found
        self.comparison_task = None
        if self.listing_task is not None:  # read before the import: would drop the new model
            self.listing_task.cancel()
        self._listing_number += 1
        self._listed(self._listing_number, listing)
        note = "Imported" if copied else "Already in your models folder:"
        if not self.select(target):  # removed meanwhile
            self._idle(f"{note} {target.name}")
            return
        entry = self.entries[self.row_of(target)]
        if entry.path.resolve() == registry.active_model_path(entry.modality).resolve():
            self._idle(f"{note} {entry.name}; it is the active {entry.modality} model.")
            return
        self.comparison_label.setText(f"{note} {entry.name}.")
        self._compare(entry, ask_when_better=True)

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

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # Closed while comparing: nothing is switched behind the user's back.
        self.cancel_comparison()
        super().closeEvent(event)

    def _delete_answer(self, result: int, entry: registry.ModelEntry) -> None:
        self.confirm_box = None
        if result != QMessageBox.Yes:
            return
        was_active = registry.active_model_path(entry.modality).resolve() == entry.path.resolve()
        model_card.delete_model_files(entry.path)
        if was_active:
            registry.set_active_model(None, modality=entry.modality)
        log.info("deleted model %s", entry.name)
        self._remove(entry.path)
        self._mark_active(active_paths())
        self._overtake_listing()
        if was_active:
            self.active_changed.emit(registry.active_model_path(entry.modality))


def _compare_off_gui_thread(path: Path):
    """The comparison as the background task runs it: its torch threads below the GUI
    thread's priority, its progress and Cancel wired to the task."""
    from segmentation.model_comparison import compare_with_active
    from viewer.ui.background import cancel_requested, report_progress
    from viewer.ui.segment_worker import lower_compute_priority

    lower_compute_priority()
    return compare_with_active(path, progress=lambda done, total: report_progress((done, total)),
                               cancel=cancel_requested)
