"""The training child process: start ``spleenscope train --json``, stop it, always end it.

Training runs in a :class:`QProcess`, never in the viewer's process: a crash or an
out-of-memory in torch ends the child, not the viewer. Stop sends SIGTERM at once
(the child finishes its step and keeps its best checkpoint) and kills the child
when it has not exited after :attr:`TrainingProcess.kill_grace_ms`. The process is a
child of this object, which its dialog owns: it is a process, not a thread, so it
does not go through :func:`viewer.ui.background.run_in_background`.
"""

from __future__ import annotations

import logging

from PyQt5.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from viewer.training_protocol import package_root

log = logging.getLogger(__name__)


class TrainingProcess(QObject):
    """One child at a time; its output arrives as bytes, its end as ``ended``."""

    stdout = pyqtSignal(bytes)
    stderr = pyqtSignal(bytes)
    ended = pyqtSignal(int, bool)  # exit code, crashed (killed or died by a signal)
    failed_to_start = pyqtSignal()

    #: How long Stop waits for the child to save and exit before killing it.
    kill_grace_ms = 15000

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_if_running)

    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.NotRunning

    def start(self, command: list[str]) -> None:
        """Start ``command`` (python, -m, ...) with this checkout importable and
        unbuffered output, so each event line arrives as it is written."""
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        existing = env.value("PYTHONPATH", "")
        root = str(package_root())
        env.insert("PYTHONPATH", root + (":" + existing if existing else ""))
        process.setProcessEnvironment(env)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.readyReadStandardOutput.connect(
            lambda: self.stdout.emit(bytes(process.readAllStandardOutput())))
        process.readyReadStandardError.connect(
            lambda: self.stderr.emit(bytes(process.readAllStandardError())))
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process = process
        process.start()

    def stop(self) -> None:
        """SIGTERM now; a kill after :attr:`kill_grace_ms` if the child is still there."""
        if not self.is_running():
            return
        self.process.terminate()
        self._kill_timer.start(self.kill_grace_ms)

    def shutdown(self, wait_ms: int = 5000) -> None:
        """End a running child and wait for it (terminate, then kill): the viewer closes."""
        if not self.is_running():
            return
        self.process.terminate()
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(2000)

    def _kill_if_running(self) -> None:
        if self.is_running():
            log.warning("training did not stop within %d ms; killing it", self.kill_grace_ms)
            self.process.kill()

    def _finished(self, exit_code: int, exit_status) -> None:
        self._kill_timer.stop()
        process = self.process
        # what the child wrote last, before it is announced as ended
        rest = bytes(process.readAllStandardOutput())
        if rest:
            self.stdout.emit(rest)
        rest = bytes(process.readAllStandardError())
        if rest:
            self.stderr.emit(rest)
        log.info("training process ended: code %s, status %s", exit_code, exit_status)
        self.ended.emit(int(exit_code), exit_status == QProcess.CrashExit)

    def _error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.failed_to_start.emit()
