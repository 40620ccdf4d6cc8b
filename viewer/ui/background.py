"""The one way the window runs work off the GUI thread, and its one lifetime rule.

Two kinds of background work, one module:

- :func:`run_in_background` runs a plain function in a :class:`BackgroundTask` (a
  QThread): loading a volume, segmenting, measuring and comparing masks, listing
  models, checking training data, adding a training case, PACS searches, retrieves
  and sends. Its result, its error (one line), its progress reports and its
  cancellation arrive on the GUI thread through queued signals, so callers only
  ever touch widgets from there.
- :func:`run_process_in_background` runs a command in a :class:`ProcessTask` (a
  child ``QProcess``): training, where a crash or an out-of-memory in torch must
  end the child, never the viewer. Its output (bytes) and its end arrive on the
  GUI thread as they happen.

Inside a function run by :func:`run_in_background`, two calls talk to the task
that runs it (thread-local, so the function needs no Qt and no extra argument):

- :func:`report_progress(value) <report_progress>`: anything (``(done, total)``,
  a batch of rows, ...), handed to ``on_progress`` on the GUI thread;
- :func:`cancel_requested()`: True once someone called ``task.cancel()``; a
  function that can stop early checks it (the segmentation engine, between batches).

A function whose library calls back from threads of its own (a PACS storage
listener) takes :func:`current_task` and hands those threads its bound
``task.report_progress`` and ``task.is_cancelled``.

Lifetime, the one rule, the same for both kinds:

- a running task has no Qt parent and is held by this module until it finishes,
  then deleted (check a thread with :func:`is_alive` before asking it anything but
  ``is_cancelled()``; a process's ``isRunning()``, ``pid``, ``exit_code`` and
  ``crashed`` are plain Python and stay readable);
- its callbacks run only while their ``owner`` QObject exists; deleting the owner
  cancels the task;
- ``cancel()`` asks it to stop: a thread's function sees :func:`cancel_requested`
  and its late result is dropped (``on_cancelled`` instead); a process gets SIGTERM
  at once and a kill after its grace time, and its last output and its end are
  still delivered (a stopped training run reports what it kept);
- :func:`wait_for_all` (run at ``aboutToQuit``) cancels and waits for what is left,
  killing a child process that has not exited in time.

So closing (deleting) a window while work runs never destroys a running
``QThread`` (which aborts the process), never calls back into deleted widgets and
never leaves a training child behind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from PyQt5 import sip
from PyQt5.QtCore import (
    QCoreApplication,
    QObject,
    QProcess,
    QProcessEnvironment,
    QThread,
    QTimer,
    pyqtSignal,
)

from segmentation.devices import import_torch
from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

_RUNNING: set[QObject] = set()  # BackgroundTask and ProcessTask objects not yet finished
_QUIT_HOOKED = False
_CURRENT = threading.local()  # .task: the BackgroundTask running on this thread


def is_alive(obj: QObject | None) -> bool:
    """False once the C++ side of ``obj`` has been deleted (a closed, deleted window)."""
    return obj is not None and not sip.isdeleted(obj)


def _hold(task: QObject) -> None:
    """Hold a reference to ``task`` (no Qt parent) until it finishes, then delete it."""
    global _QUIT_HOOKED
    _RUNNING.add(task)
    task.finished.connect(lambda: _RUNNING.discard(task))
    task.finished.connect(task.deleteLater)
    app = QCoreApplication.instance()
    if app is not None and not _QUIT_HOOKED:
        app.aboutToQuit.connect(wait_for_all)
        _QUIT_HOOKED = True


def running_tasks() -> list[QObject]:
    """Tasks (threads and child processes) started here that have not finished yet."""
    return [task for task in _RUNNING if is_alive(task) and task.isRunning()]


def running_threads() -> list[QThread]:
    """The running tasks that are threads (:class:`BackgroundTask`)."""
    return [task for task in running_tasks() if isinstance(task, QThread)]


def wait_for_all(msecs: int = 30000) -> bool:
    """Cancel every running task and wait up to ``msecs`` for each; a child process
    still there then is killed. False when a task did not end in time."""
    ok = True
    for task in running_tasks():
        task.cancel()
        if not task.wait(msecs):
            ok = False
            if isinstance(task, ProcessTask):
                task.kill()
    return ok


def current_task() -> BackgroundTask | None:
    """From inside a task's function: the task running it (None elsewhere)."""
    return getattr(_CURRENT, "task", None)


def report_progress(value: object) -> None:
    """From inside a task's function: hand ``value`` to its ``on_progress``."""
    task = current_task()
    if task is not None:
        task.report_progress(value)


def cancel_requested() -> bool:
    """From inside a task's function: has the task been cancelled?"""
    task = current_task()
    return task is not None and task.is_cancelled()


def _delivery(owner: QObject, task: QObject) -> Callable:
    """``wrap(callback, drop_when_cancelled)``: the callback, run only while ``owner``
    exists (and, if asked, while nobody cancelled ``task``). Deleting the owner
    cancels the task."""
    state = {"owner_gone": False}  # plain Python: safe whatever is deleted first

    def owner_destroyed(*_args) -> None:
        state["owner_gone"] = True
        task.cancel()

    owner.destroyed.connect(owner_destroyed)

    def wrap(callback: Callable | None, drop_when_cancelled: bool) -> Callable:
        def call(*args) -> None:
            if callback is None or state["owner_gone"] or not is_alive(owner):
                log.debug("dropped a background outcome: its owner is gone")
                return
            if drop_when_cancelled and task.is_cancelled():
                return
            callback(*args)

        return call

    return wrap


# ---------------------------------------------------------------------- threads
class BackgroundTask(QThread):
    """One function on its own thread; exactly one of ``succeeded``, ``failed``
    (a one-line message) or ``cancelled`` is emitted when it ends."""

    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()
    progress = pyqtSignal(object)

    def __init__(self, function: Callable[[], object], uses_torch: bool = False) -> None:
        super().__init__()
        self.function = function
        self.uses_torch = uses_torch
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the function to stop (it may check :func:`cancel_requested`); its
        result, if it still comes, is dropped and ``cancelled`` is emitted."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def report_progress(self, value: object) -> None:
        """Hand ``value`` to ``on_progress`` on the GUI thread (from any thread)."""
        self.progress.emit(value)

    def run(self) -> None:
        _CURRENT.task = self
        try:
            if self.uses_torch:
                import_torch()  # never two first imports of torch at once
            result = self.function()
        except SpleenScopeError as error:
            self._end(failure=str(error))
        except MemoryError:
            self._end(failure="not enough memory for this; close other programs or "
                              "choose a smaller input")
        except Exception as error:  # a bug must become a message, not a dead window
            if not self.is_cancelled():
                log.exception("background task failed")
            first_line = (str(error).splitlines() or [""])[0]  # a message is one line
            self._end(failure=f"{type(error).__name__}: {first_line}")
        else:
            self._end(result=result)
        finally:
            _CURRENT.task = None

    def _end(self, result: object = None, failure: str | None = None) -> None:
        if self.is_cancelled():
            self.cancelled.emit()
        elif failure is not None:
            self.failed.emit(failure)
        else:
            self.succeeded.emit(result)


def run_in_background(owner: QObject, function: Callable[[], object],
                      on_done: Callable[[object], None],
                      on_error: Callable[[str], None],
                      on_progress: Callable[[object], None] | None = None,
                      on_cancelled: Callable[[], None] | None = None,
                      *, uses_torch: bool = False) -> BackgroundTask:
    """Start ``function()`` on its own thread; the callbacks run on the GUI thread.

    ``uses_torch=True`` for a function that may import torch (or the modules of
    :mod:`segmentation` that do): the thread first imports it through
    :func:`segmentation.devices.import_torch`, so two tasks starting together never
    import it at once.

    They run only while ``owner`` (the QObject whose widgets they touch) exists;
    deleting the owner cancels the task. Once cancelled, only ``on_cancelled`` is
    called. Returns the task (``cancel()``, ``is_cancelled()``, ``wait(ms)``; its
    signals for tests).
    """
    task = BackgroundTask(function, uses_torch)
    _hold(task)
    deliver = _delivery(owner, task)
    task.succeeded.connect(deliver(on_done, True))
    task.failed.connect(deliver(on_error, True))
    task.progress.connect(deliver(on_progress, True))
    task.cancelled.connect(deliver(on_cancelled, False))
    task.start()
    return task


# -------------------------------------------------------------------- processes
class ProcessTask(QObject):
    """One child process; its output arrives as bytes, its end as ``ended(exit code,
    crashed)`` or ``failed_to_start``, then ``finished``.

    ``cancel()`` sends SIGTERM now (a well-behaved child finishes its step, saves and
    exits) and kills the child when it has not exited after :attr:`kill_grace_ms`.
    """

    stdout = pyqtSignal(bytes)
    stderr = pyqtSignal(bytes)
    ended = pyqtSignal(int, bool)  # exit code, crashed (killed or died by a signal)
    failed_to_start = pyqtSignal()
    finished = pyqtSignal()  # after ended or failed_to_start: the task is over

    #: How long a cancelled child may take to exit before it is killed.
    kill_grace_ms = 15000

    def __init__(self, command: Sequence[str], environment: Mapping[str, str] | None = None,
                 kill_grace_ms: int | None = None) -> None:
        super().__init__()
        if kill_grace_ms is not None:
            self.kill_grace_ms = kill_grace_ms
        self.command = list(command)
        # plain Python, readable after the task is deleted
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.crashed = False
        self._running = False
        self._cancelled = False
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        for name, value in (environment or {}).items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        process.setProgram(self.command[0])
        process.setArguments(self.command[1:])
        process.started.connect(self._started)
        process.readyReadStandardOutput.connect(
            lambda: self.stdout.emit(bytes(process.readAllStandardOutput())))
        process.readyReadStandardError.connect(
            lambda: self.stderr.emit(bytes(process.readAllStandardError())))
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self._process = process
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_after_grace)

    def start(self) -> None:
        self._running = True
        self._process.start()

    def isRunning(self) -> bool:  # noqa: N802 (the same name as QThread's)
        return self._running

    def is_cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """SIGTERM now; a kill after :attr:`kill_grace_ms` if the child is still there."""
        if not self._running or self._cancelled or not is_alive(self._process):
            return
        self._cancelled = True
        self._process.terminate()
        self._kill_timer.start(self.kill_grace_ms)

    def kill(self) -> None:
        """End the child now (SIGKILL) and wait for it to be gone."""
        if self._running:
            self._process.kill()
            self._process.waitForFinished(2000)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the child has exited (its end is delivered first); False on timeout."""
        if not self._running:
            return True
        self._process.waitForFinished(msecs)
        return not self._running

    def end(self, msecs: int = 5000) -> None:
        """Cancel, wait up to ``msecs``, then kill: the viewer is closing."""
        self.cancel()
        if not self.wait(msecs):
            log.warning("child process did not exit within %d ms; killing it", msecs)
            self.kill()

    def _started(self) -> None:
        self.pid = int(self._process.processId())

    def _kill_after_grace(self) -> None:
        if self._running:
            log.warning("child process did not stop within %d ms; killing it",
                        self.kill_grace_ms)
            self._process.kill()

    def _finished(self, exit_code: int, exit_status) -> None:
        self._kill_timer.stop()
        # what the child wrote last, before it is announced as ended
        for read, signal in ((self._process.readAllStandardOutput, self.stdout),
                             (self._process.readAllStandardError, self.stderr)):
            rest = bytes(read())
            if rest:
                signal.emit(rest)
        self.exit_code = int(exit_code)
        self.crashed = exit_status == QProcess.CrashExit
        self._running = False
        log.info("child process ended: code %s, crashed %s", exit_code, self.crashed)
        self.ended.emit(self.exit_code, self.crashed)
        self.finished.emit()

    def _error(self, error) -> None:
        if error == QProcess.FailedToStart and self._running:
            self._running = False
            self._kill_timer.stop()
            self.failed_to_start.emit()
            self.finished.emit()


def run_process_in_background(owner: QObject, command: Sequence[str],
                              on_stdout: Callable[[bytes], None],
                              on_stderr: Callable[[bytes], None],
                              on_ended: Callable[[int, bool], None],
                              on_failed_to_start: Callable[[], None] | None = None,
                              environment: Mapping[str, str] | None = None,
                              kill_grace_ms: int | None = None) -> ProcessTask:
    """Start ``command`` as a child process; the callbacks run on the GUI thread.

    They run only while ``owner`` exists; deleting the owner cancels the child
    (SIGTERM, then a kill after the grace time). A cancelled child's last output and
    its end are still delivered. ``environment`` is added to this process's own.
    Returns the task (``cancel()``, ``isRunning()``, ``end(ms)``, ``pid``,
    ``exit_code``, ``crashed``).
    """
    task = ProcessTask(command, environment, kill_grace_ms)
    _hold(task)
    deliver = _delivery(owner, task)
    task.stdout.connect(deliver(on_stdout, False))
    task.stderr.connect(deliver(on_stderr, False))
    task.ended.connect(deliver(on_ended, False))
    task.failed_to_start.connect(deliver(on_failed_to_start, False))
    task.start()
    return task
