"""File > PACS…: search a PACS, expand studies to series, retrieve one series and open it.

Every network call runs off the GUI thread through
:func:`viewer.ui.background.run_in_background` (the window's one way and one
lifetime rule for background work), so a slow archive or a list of hundreds of
series never freezes the window: studies appear as the PACS sends them (in batches,
as progress reports), a study's series are asked for when it is expanded, and a
retrieve shows its progress with a Cancel button. Failures are one line in red under the list;
nothing is retrieved to the open-able place until it is complete
(:mod:`viewer.pacs.staging`). Patient names appear in this table and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from viewer.errors import SpleenScopeError
from viewer.ui.background import (
    BackgroundTask,
    cancel_requested,
    current_task,
    report_progress,
    run_in_background,
)

log = logging.getLogger(__name__)

STUDY_BATCH = 25  # studies handed to the table at a time while a search streams in
SERIES_ROLE = Qt.UserRole + 1


def ask_password_in_window(parent) -> Callable:
    """A password prompt for :func:`viewer.pacs.credentials.password_for`, run on the
    GUI thread before the job starts (Qt dialogs must not open from a worker)."""

    def ask(node) -> str | None:
        text, ok = QInputDialog.getText(
            parent,
            "PACS password",
            f"Password for {node.username} at {node.label}:",
            QLineEdit.Password,
        )
        return text if ok and text else None

    return ask


class PacsBrowser(QDialog):
    """The browser. ``open_series(path, node_text, study_uid)`` is called on the GUI
    thread once a retrieved series is complete."""

    series_opened = pyqtSignal(str)

    def __init__(self, parent, open_series: Callable[[Path, str, str], None]) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS")
        self.resize(980, 620)
        self._open_series = open_series
        self._jobs: set[BackgroundTask] = set()  # running; a deleted browser cancels them
        self._retrieve_job: BackgroundTask | None = None
        self._search_job: BackgroundTask | None = None
        self._password: str | None = None
        self._build()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        from viewer.pacs.nodes import saved_nodes

        layout = QVBoxLayout(self)
        node_row = QHBoxLayout()
        self.node_box = QComboBox()
        self.node_box.setEditable(True)
        self.node_box.addItems(sorted(saved_nodes()))
        self.node_box.setToolTip("a saved node's name, AET@host:port, or http(s)://host/dicom-web")
        self.node_box.lineEdit().setPlaceholderText("AET@host:port or https://host/dicom-web")
        self.node_box.setMinimumWidth(360)
        self.insecure_box = QCheckBox("Accept self-signed certificate")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        node_row.addWidget(QLabel("Node:"))
        node_row.addWidget(self.node_box, 1)
        node_row.addWidget(self.insecure_box)
        node_row.addWidget(self.test_button)
        layout.addLayout(node_row)

        form = QFormLayout()
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("wildcards * and ? allowed")
        self.study_date = QLineEdit()
        self.study_date.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.modality = QLineEdit()
        self.modality.setPlaceholderText("CT, MR, …")
        self.accession = QLineEdit()
        for label, field in (
            ("Patient ID", self.patient_id),
            ("Patient name", self.patient_name),
            ("Study date", self.study_date),
            ("Modality", self.modality),
            ("Accession number", self.accession),
        ):
            form.addRow(label, field)
            field.returnPressed.connect(self.search)
        layout.addLayout(form)

        search_row = QHBoxLayout()
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        search_row.addWidget(self.search_button)
        search_row.addStretch(1)
        layout.addLayout(search_row)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(6)
        self.tree.setHeaderLabels(
            ["Patient / series", "Patient ID", "Date", "Description", "Modality", "Images"]
        )
        self.tree.header().setSectionResizeMode(0, QHeaderView.Interactive)
        self.tree.setColumnWidth(0, 220)
        self.tree.setUniformRowHeights(True)  # fast with hundreds of rows
        self.tree.itemExpanded.connect(self._expand_study)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self.retrieve())
        layout.addWidget(self.tree, 1)

        retrieve_row = QHBoxLayout()
        self.method_box = QComboBox()
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_retrieve)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        retrieve_row.addWidget(QLabel("Method:"))
        retrieve_row.addWidget(self.method_box)
        retrieve_row.addWidget(self.retrieve_button)
        retrieve_row.addWidget(self.cancel_button)
        retrieve_row.addWidget(self.progress, 1)
        layout.addLayout(retrieve_row)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.node_box.currentTextChanged.connect(self._node_changed)
        self._node_changed(self.node_box.currentText())
        self._set_retrieving(False)

    def _say(self, text: str, error: bool = False) -> None:
        # failures in red, never a reassuring colour; progress in the default colour
        self.status.setStyleSheet("color: #c62828;" if error else "")
        self.status.setText(text)

    def _node_changed(self, text: str) -> None:
        # the listed studies belong to the node they came from: never retrieve them
        # from another one
        self._password = None
        if self._search_job is not None:
            self._search_job.cancel()  # its late batches are dropped
            self._search_job = None
        self.tree.clear()
        self.method_box.clear()
        web = text.strip().lower().startswith(("http://", "https://"))
        try:
            from viewer.pacs.nodes import saved_nodes

            node = saved_nodes().get(text.strip())
            web = node.protocol == "dicomweb" if node is not None else web
        except SpleenScopeError:
            pass
        self.method_box.addItems(["wado"] if web else ["get", "move"])

    def _update_buttons(self) -> None:
        busy = self._retrieve_job is not None
        self.retrieve_button.setEnabled(not busy and self.selected_series() is not None)

    def _set_retrieving(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self._update_buttons()

    # ------------------------------------------------------------------ client
    def node(self):
        from viewer.pacs.nodes import resolve_node

        return resolve_node(
            self.node_box.currentText().strip(), insecure=self.insecure_box.isChecked()
        )

    def client_factory(self) -> Callable:
        """Resolve the node and any password now, on the GUI thread; the job opens the
        client with them."""
        from viewer.pacs.client import open_client
        from viewer.pacs.credentials import password_for

        node = self.node()
        if node.username and self._password is None:
            self._password = password_for(node, ask_password_in_window(self))
        password = self._password

        def factory():
            return open_client(node, ask_password=lambda _node: password)

        return factory

    def _start(self, function, done, failed=None, progress=None,
               cancelled=None) -> BackgroundTask | None:
        """Run ``function(factory)`` in the background; None when the node or its
        password could not be resolved (the reason is shown)."""
        from viewer.pacs.errors import PacsAuthenticationError

        try:
            factory = self.client_factory()
        except SpleenScopeError as error:
            self._say(str(error), error=True)
            return None
        refused = {"password": False}  # plain Python, written on the worker thread

        def work():
            try:
                return function(factory)
            except PacsAuthenticationError:
                refused["password"] = True
                raise

        def on_error(message: str) -> None:
            if refused["password"]:
                self._password = None  # ask again next time instead of failing forever
            (failed or (lambda text: self._say(text, error=True)))(message)

        job = run_in_background(self, work, done, on_error, on_progress=progress,
                                on_cancelled=cancelled)
        jobs = self._jobs
        jobs.add(job)
        job.finished.connect(lambda: jobs.discard(job))
        return job

    # ------------------------------------------------------------------ actions
    def test_connection(self) -> None:
        self._say("Testing the connection…")

        def echo(factory):
            with factory() as client:
                client.echo()
                return client.node.label

        self._start(echo, lambda label: self._say(f"{label} answers."))

    def query(self):
        from viewer.pacs.records import StudyQuery

        return StudyQuery(
            patient_id=self.patient_id.text().strip(),
            patient_name=self.patient_name.text().strip(),
            study_date=self.study_date.text().strip(),
            modality=self.modality.text().strip().upper(),
            accession_number=self.accession.text().strip(),
        )

    def search(self) -> None:
        try:
            query = self.query()
        except SpleenScopeError as error:
            self._say(str(error), error=True)
            return
        if self._search_job is not None:
            self._search_job.cancel()  # superseded: its late batches are dropped
        self.tree.clear()
        self._say("Searching…")

        def find(factory):
            count, pending = 0, []
            with factory() as client:
                for study in client.iter_studies(query):
                    if cancel_requested():
                        break
                    pending.append(study)
                    count += 1
                    if len(pending) >= STUDY_BATCH:
                        report_progress(pending)
                        pending = []
            report_progress(pending)
            return count

        def finished(count) -> None:
            self._search_job = None
            self._say(f"{count} stud{'y' if count == 1 else 'ies'} found.")

        self._search_job = self._start(find, finished, progress=self._add_studies)

    def _add_studies(self, studies: list) -> None:
        for study in studies:
            item = QTreeWidgetItem(
                [
                    study.patient_name.replace("^", " ").strip() or "(no name)",
                    study.patient_id,
                    study.study_date,
                    study.study_description,
                    "/".join(study.modalities),
                    "" if study.image_count is None else str(study.image_count),
                ]
            )
            item.setData(0, Qt.UserRole, study.study_uid)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ShowIndicator)
            self.tree.addTopLevelItem(item)

    def _expand_study(self, item: QTreeWidgetItem) -> None:
        if item.parent() is not None or item.childCount() or item.data(0, SERIES_ROLE):
            return
        item.setData(0, SERIES_ROLE, "asked")
        study_uid = item.data(0, Qt.UserRole)
        placeholder = QTreeWidgetItem(["Loading series…"])
        item.addChild(placeholder)

        def list_series(factory):
            with factory() as client:
                return client.find_series(study_uid)

        def done(series: list) -> None:
            item.removeChild(placeholder)
            for entry in series:
                child = QTreeWidgetItem(
                    [
                        f"Series {entry.series_number if entry.series_number is not None else '?'}",
                        "",
                        "",
                        entry.series_description,
                        entry.modality,
                        "" if entry.image_count is None else str(entry.image_count),
                    ]
                )
                child.setData(0, Qt.UserRole, (entry.study_uid, entry.series_uid))
                item.addChild(child)
            if not series:
                item.addChild(QTreeWidgetItem(["(no series: the study has gone)"]))

        def failed(message: str) -> None:
            item.removeChild(placeholder)
            item.setData(0, SERIES_ROLE, None)  # expanding again asks again
            self._say(message, error=True)

        self._start(list_series, done, failed)

    def selected_series(self) -> tuple[str, str] | None:
        items = self.tree.selectedItems()
        if not items:
            return None
        data = items[0].data(0, Qt.UserRole)
        return tuple(data) if isinstance(data, (tuple, list)) else None

    def retrieve(self) -> None:
        from viewer.pacs.staging import check_destination

        chosen = self.selected_series()
        if chosen is None or self._retrieve_job is not None:
            return
        study_uid, series_uid = chosen
        destination = retrieve_folder()
        node_text, method = self.node_box.currentText().strip(), self.method_box.currentText()
        if (destination / series_uid).is_dir():  # complete: staging renames only then
            self._say("Opening the copy retrieved before.")
            self._open_series(destination / series_uid, node_text, study_uid)
            return
        try:
            check_destination(destination / series_uid)
        except SpleenScopeError as error:
            self._say(str(error), error=True)
            return

        def fetch(factory):
            # progress and Cancel are also asked for on the storage listener's thread
            task = current_task()

            def report(done: int, total: int | None) -> None:
                task.report_progress((done, -1 if total is None else total))

            with factory() as client:
                return client.retrieve_series(
                    study_uid,
                    series_uid,
                    destination,
                    method=method,
                    progress=report,
                    cancelled=task.is_cancelled,
                )

        def done(folder) -> None:
            self._retrieve_job = None
            self._set_retrieving(False)
            self._say(f"Retrieved {sum(1 for _ in Path(folder).iterdir())} images; opening.")
            self._open_series(Path(folder), node_text, study_uid)

        def failed(message: str) -> None:
            self._retrieve_job = None
            self._set_retrieving(False)
            self._say(message, error=True)

        def cancelled() -> None:  # a series is renamed into place only when complete
            failed("Retrieve cancelled; no partial series was kept.")

        self.progress.setRange(0, 0)
        self._say("Retrieving…")
        self._retrieve_job = self._start(fetch, done, failed, progress=self._show_progress,
                                         cancelled=cancelled)
        self._set_retrieving(self._retrieve_job is not None)

    def _show_progress(self, done_total: tuple[int, int]) -> None:
        done, total = done_total
        if total > 0:
            self.progress.setRange(0, total)
        self.progress.setValue(done)

    def cancel_retrieve(self) -> None:
        if self._retrieve_job is not None:
            self._retrieve_job.cancel()
            self._say("Cancelling…")

    def is_busy(self) -> bool:
        return bool(self._jobs)


def retrieve_folder() -> Path:
    """Where the browser puts retrieved series (one folder per Series Instance UID)."""
    from segmentation.registry import base_dir

    folder = base_dir() / "pacs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
