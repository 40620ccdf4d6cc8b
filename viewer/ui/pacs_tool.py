"""The PACS tool: File > PACS… (the browser) and File > Send segmentation to PACS.

Built in :mod:`viewer.ui.wiring`. A series opened from the browser remembers the node
it came from, so "Send" stores the SEG and the SR volume report (written by
:func:`viewer.pacs.results.write_seg_and_report` into a temporary folder) back to
that node, filed under the source study (:mod:`viewer.pacs.sending`). Sending runs
off the GUI thread; the result is a status-bar line, a failure a one-line dialog.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QAction, QMessageBox

from viewer.errors import SpleenScopeError
from viewer.ui.background import BackgroundTask, run_in_background
from viewer.ui.pacs_browser import PacsBrowser

log = logging.getLogger(__name__)


class PacsTool(QObject):
    sent = pyqtSignal(str)  # one line: what went where
    send_failed = pyqtSignal(str)

    def __init__(self, shell, session) -> None:
        super().__init__(shell)
        self.shell, self.session = shell, session
        self.browser: PacsBrowser | None = None
        self._origins: dict[str, str] = {}  # opened series folder -> node text
        self._send_job: BackgroundTask | None = None
        self.open_action = QAction("&PACS…", shell)
        self.open_action.setToolTip("search a PACS, retrieve a series and open it")
        self.open_action.triggered.connect(self.show_browser)
        shell.add_file_action(self.open_action)
        self.send_action = QAction("Send segmentation to PACS", shell)
        self.send_action.setToolTip("store the spleen SEG and the volume report in the study")
        self.send_action.triggered.connect(lambda: self.send_results())
        shell.add_file_action(self.send_action)
        session.prediction_changed.connect(self._update_actions)
        shell.volume_changed.connect(lambda _volume: self._update_actions())
        self._update_actions()

    def _update_actions(self) -> None:
        volume = self.shell.volume
        dicom = volume is not None and Path(str(volume.source_path or "")).is_dir()
        self.send_action.setEnabled(
            dicom and self.session.prediction is not None and self._send_job is None
        )

    def show_browser(self) -> PacsBrowser:
        if self.browser is None:
            self.browser = PacsBrowser(self.shell, self._open_series)
        self.browser.show()
        self.browser.raise_()
        return self.browser

    def _open_series(self, folder: Path, node_text: str, study_uid: str) -> None:
        self._origins[str(folder)] = node_text
        self.shell.open_path(str(folder))

    def node_for_current_volume(self) -> str:
        volume = self.shell.volume
        source = str(volume.source_path) if volume is not None else ""
        if source in self._origins:
            return self._origins[source]
        if self.browser is not None:
            return self.browser.node_box.currentText().strip()
        return ""

    def _summary(self) -> dict:
        """What the SR states. The volume range and the self-check verdict belong to
        the model's own mask: they are included only while the mask is unedited (the
        same volume), never carried over to a hand-corrected one."""
        measurements = self.session.measurements
        summary = {
            "volume_ml": float(measurements.volume_ml),
            "model": self.session.prediction_name or "SpleenScope",
        }
        study = getattr(self.session, "study", None)  # segmentation.study.StudyResult
        if study is not None:
            facts = study.summary()
            if abs(float(facts.get("volume_ml", -1.0)) - summary["volume_ml"]) < 1e-3:
                summary.update({k: facts[k] for k in ("volume_ml_range", "quality") if k in facts})
        return summary

    def send_results(self, node_text: str | None = None) -> BackgroundTask | None:
        """Write SEG + SR for the current prediction and send them; the job, or None
        when it could not start (the reason is shown)."""
        volume, mask = self.shell.volume, self.session.prediction
        node_text = node_text or self.node_for_current_volume()
        if volume is None or mask is None:
            return self._fail("segment the spleen first; there is nothing to send")
        if not node_text:
            return self._fail("open File > PACS… and choose the node to send to first")
        browser = self.browser or PacsBrowser(self.shell, self._open_series)
        self.browser = browser
        browser.node_box.setCurrentText(node_text)
        try:
            factory = browser.client_factory()
        except SpleenScopeError as error:
            return self._fail(str(error))
        source, summary, mask = str(volume.source_path), self._summary(), mask.copy()

        def work():
            import tempfile

            from viewer.pacs.results import write_seg_and_report
            from viewer.pacs.sending import send

            with tempfile.TemporaryDirectory(prefix="spleenscope-results-") as folder:
                seg, sr, _notices = write_seg_and_report(volume, mask, source, summary, folder)
                with factory() as client:
                    count, notices = send(client, [seg, sr])
                    return f"Sent the spleen SEG and volume report to {client.node.label}", notices

        self._send_job = run_in_background(self, work, self._sent, self._send_error)
        self._update_actions()
        self.shell.statusBar().showMessage("Sending to PACS…")
        return self._send_job

    def _sent(self, result) -> None:
        message, notices = result
        self._send_job = None
        self._update_actions()
        line = message + ("; " + "; ".join(notices) if notices else "")
        self.shell.statusBar().showMessage(line, 15000)
        self.sent.emit(line)

    def _send_error(self, message: str) -> None:
        self._send_job = None
        self._update_actions()
        self._fail(message)

    def _fail(self, message: str) -> None:
        self.shell.statusBar().showMessage(message, 15000)
        self.send_failed.emit(message)
        if self.shell.isVisible():  # not modal: the window keeps working
            box = QMessageBox(QMessageBox.Warning, "Send to PACS", message, parent=self.shell)
            box.setModal(False)
            box.show()
        return None
