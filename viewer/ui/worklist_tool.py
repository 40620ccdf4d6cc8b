"""QA worklist in the window: File ▸ Open batch results…, a "Worklist" dock, N / P to move.

Opening a row opens the study's image, then its mask (the latest corrected version
when there is one) as the prediction and its reference, when the batch had one, for
the review's difference view. Accept, Correct (the edited mask is saved as a new
version beside the original, never over it) and Reject (with a comment) go through
:class:`viewer.worklist.Worklist`, which appends them to the batch's audit log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import QObject, Qt
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import QAction, QFileDialog, QShortcut

from viewer.errors import SpleenScopeError
from viewer.ui.worklist_panel import ALL, WorklistPanel
from viewer.worklist import Worklist, WorklistFilter, WorklistRow

log = logging.getLogger(__name__)

NEXT_KEY, PREVIOUS_KEY = "N", "P"


class WorklistTool(QObject):
    def __init__(self, shell, session, review_tool) -> None:
        super().__init__(shell)
        self.shell, self.session, self.review_tool = shell, session, review_tool
        self.worklist: Worklist | None = None
        self.visible: list[WorklistRow] = []
        self.current: WorklistRow | None = None
        self._pending: WorklistRow | None = None  # opened, waiting for its image
        self._mask_pending: WorklistRow | None = None  # its image shown, waiting for its mask
        self._shown: WorklistRow | None = None  # the study whose image and mask are on screen
        self.panel = WorklistPanel()
        self.dock = shell.add_dock(self.panel, "Worklist", Qt.BottomDockWidgetArea)
        self.dock.hide()  # shown when a batch is opened
        self.open_action = QAction("Open &batch results…", shell)
        self.open_action.triggered.connect(lambda _checked=False: self._ask_open())
        shell.add_file_action(self.open_action)
        self._connect_panel()
        shell.volume_changed.connect(self._volume_shown)
        shell.load_failed.connect(lambda _message: self._forget_pending())

    def _connect_panel(self) -> None:
        panel = self.panel
        panel.verdict_filter.currentTextChanged.connect(lambda _t: self.refresh())
        panel.decision_filter.currentTextChanged.connect(lambda _t: self.refresh())
        panel.search.textChanged.connect(lambda _t: self.refresh())
        panel.table.clicked.connect(lambda index: self.open_index(index.row()))
        panel.table.activated.connect(lambda index: self.open_index(index.row()))
        panel.strip.itemClicked.connect(lambda item: self.open_index(panel.strip.row(item)))
        panel.next_button.clicked.connect(lambda: self.move(+1))
        panel.previous_button.clicked.connect(lambda: self.move(-1))
        panel.accept_button.clicked.connect(lambda: self.decide("accept"))
        panel.correct_button.clicked.connect(lambda: self.decide("correct"))
        panel.reject_button.clicked.connect(lambda: self.decide("reject"))
        panel.export_button.clicked.connect(lambda: self.export())
        # N / P while the worklist has focus (elsewhere N is the review's next worst slice);
        # typing in the comment box still types.
        for key, step in ((NEXT_KEY, +1), (PREVIOUS_KEY, -1)):
            shortcut = QShortcut(QKeySequence(key), panel)
            shortcut.setContext(Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=step: self.move(s))

    # ------------------------------------------------------------------ opening
    def _ask_open(self) -> None:
        path = self.shell.ask_open_file("Open batch results", "Batch results (results.csv)")
        if path:
            self.open_results(path)

    def open_results(self, path: str | Path) -> bool:
        try:
            self.worklist = Worklist.open(path)
        except SpleenScopeError as error:
            self.shell.show_error(str(error), "Could not open the batch results")
            return False
        self.current = None
        self.refresh()
        self.dock.show()
        self.dock.raise_()
        return True

    def current_filter(self) -> WorklistFilter:
        verdict = self.panel.verdict_filter.currentText()
        decision = self.panel.decision_filter.currentText()
        return WorklistFilter(
            verdicts=set() if verdict == ALL else {verdict},
            decisions=set() if decision == ALL else {decision},
            text=self.panel.search.text().strip(),
        )

    def refresh(self) -> None:
        if self.worklist is None:
            return
        self.visible = self.worklist.visible(self.current_filter())
        self.panel.show_rows(self.visible)
        self._update_summary()
        if self.current is not None and self.current in self.visible:
            self.panel.select_index(self.visible.index(self.current))

    def _update_summary(self) -> None:
        rows = self.worklist.rows
        decided = sum(1 for row in rows if row.decision)
        self.panel.summary.setText(
            f"{self.worklist.folder.name}: {len(rows)} studies, {decided} reviewed; "
            f"showing {len(self.visible)}, worst first"
        )

    def open_index(self, index: int) -> None:
        if not 0 <= index < len(self.visible):
            return
        row = self.visible[index]
        self.panel.select_index(index)
        if row is self.current and row in (self._pending, self._mask_pending, self._shown):
            # A double-click (clicked, then activated) or a second click on the study being
            # opened or already shown: opening it again would drop its mask (and any edits).
            return
        self.current = row
        self.panel.set_review_enabled(False)
        if row.values.get("status") != "ok":
            self.panel.summary.setText(
                f"{row.study}: the batch failed on it: {row.values.get('error', '')}"
            )
            self.panel.reject_button.setEnabled(True)  # there is no result to accept
            return
        self.panel.summary.setText(f"{row.study}: opening…")
        self._pending = row
        if not self.shell.open_path(row.values["input"]):
            self._pending = None

    def _forget_pending(self) -> None:
        self._pending = None  # its image did not open: no mask may land on another one

    def _volume_shown(self, volume) -> None:
        row, self._pending = self._pending, None
        self._shown = None
        if row is None or volume is None:
            return
        mask = row.corrected_mask or row.path("mask")
        if mask:
            self._mask_pending = row
            self.review_tool.load_prediction(mask, on_done=lambda ok: self._mask_shown(row, ok))
        reference = row.path("reference")
        if reference:
            self.review_tool.load_reference(reference)

    def _mask_shown(self, row: WorklistRow, ok: bool) -> None:
        if self._mask_pending is row:
            self._mask_pending = None
        if ok and row is self.current:
            self._shown = row
            self.panel.set_review_enabled(True)
            self.panel.summary.setText(
                f"{row.study}: {row.verdict}"
                + (f" ({row.values.get('reasons')})" if row.values.get("reasons") else "")
            )

    def move(self, step: int) -> None:
        if not self.visible:
            return
        index = self.visible.index(self.current) if self.current in self.visible else -step
        self.open_index(min(max(index + step, 0), len(self.visible) - 1))

    # ---------------------------------------------------------------- decisions
    def decide(self, action: str) -> bool:
        row, worklist = self.current, self.worklist
        if row is None or worklist is None:
            return False
        comment = self.panel.comment.text().strip()
        if row.values.get("status") == "ok" and self._shown is not row:
            # a decision is about what the reviewer saw: this study's image and mask
            self.shell.show_error(f"open {row.study} first, then decide", "Review not recorded")
            return False
        try:
            if action == "accept":
                worklist.accept(row.study, comment)
            elif action == "reject":
                worklist.reject(row.study, comment)
            else:
                if self.session.prediction is None or self.shell.volume is None:
                    raise SpleenScopeError(
                        "open the study and edit its mask before saving a correction"
                    )
                path = worklist.correct(
                    row.study, self.shell.volume, self.session.prediction, comment
                )
                self.session.mark_saved(str(path))
                self.shell.statusBar().showMessage(f"Correction saved as {path.name}", 8000)
        except (SpleenScopeError, OSError) as error:
            self.shell.show_error(str(error), "Review not recorded")
            return False
        self.panel.comment.clear()
        self.panel.model.row_changed(row.study)
        self._update_summary()
        return True

    def export(self, path: str | Path | None = None) -> Path | None:
        if self.worklist is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.shell, "Export reviewed table", str(self.worklist.folder / "reviewed.csv"),
                "CSV (*.csv)",
            )  # fmt: skip
            if not path:
                return None
        try:
            written = self.worklist.export(path, self.current_filter())
        except (SpleenScopeError, OSError) as error:
            self.shell.show_error(str(error), "Could not export")
            return None
        self.shell.statusBar().showMessage(f"Reviewed table written to {written}", 8000)
        return written
