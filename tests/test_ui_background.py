"""The one background helper: result, progress and cancel arrive on the GUI thread;
a deleted owner hears nothing and its task is cancelled. The same rule for a real
child process: cancel is SIGTERM then a kill after the grace time, its last output
and its end still arrive, quitting leaves no child behind."""

from __future__ import annotations

import os
import sys
import threading
import time

from PyQt5.QtCore import QObject

from viewer.errors import SpleenScopeError
from viewer.ui import background


class _Calls:
    def __init__(self) -> None:
        self.seen: list = []
        self.threads: set = set()

    def __call__(self, kind):
        def record(*args) -> None:
            self.seen.append((kind, *args))
            self.threads.add(threading.get_ident())

        return record


def _run(qtbot, function, owner=None):
    owner = owner or QObject()
    calls = _Calls()
    task = background.run_in_background(owner, function, calls("done"), calls("error"),
                                        on_progress=calls("progress"),
                                        on_cancelled=calls("cancelled"))
    return owner, task, calls


def test_result_and_progress_arrive_in_order_on_the_gui_thread(qtbot):
    def work():
        for done in (1, 2, 3):
            background.report_progress((done, 3))
        return 42

    owner, task, calls = _run(qtbot, work)
    qtbot.waitUntil(lambda: any(kind == "done" for kind, *_ in calls.seen), timeout=5000)
    assert calls.seen == [("progress", (1, 3)), ("progress", (2, 3)), ("progress", (3, 3)),
                          ("done", 42)]
    assert calls.threads == {threading.get_ident()}
    assert background.wait_for_all(5000)


def test_cancel_stops_the_function_and_says_cancelled(qtbot):
    started = threading.Event()

    def work():
        started.set()
        while not background.cancel_requested():
            time.sleep(0.005)
        return "too late"

    owner, task, calls = _run(qtbot, work)
    assert started.wait(5)
    task.cancel()
    qtbot.waitUntil(lambda: calls.seen == [("cancelled",)], timeout=5000)
    assert background.wait_for_all(5000)


def test_an_error_is_one_line_and_a_bug_is_a_message(qtbot):
    def refuse():
        raise SpleenScopeError("that file is not a volume; open a NIfTI or DICOM file")

    _owner, _task, calls = _run(qtbot, refuse)
    qtbot.waitUntil(lambda: bool(calls.seen), timeout=5000)
    assert calls.seen == [("error", "that file is not a volume; open a NIfTI or DICOM file")]

    _owner, _task, calls = _run(qtbot, lambda: {}["missing"])
    qtbot.waitUntil(lambda: bool(calls.seen), timeout=5000)
    assert calls.seen == [("error", "KeyError: 'missing'")]


def test_a_deleted_owner_hears_nothing_and_cancels_the_task(qtbot):
    release = threading.Event()

    def work():
        release.wait(5)
        return "result for a closed window"

    owner, task, calls = _run(qtbot, work)
    owner.deleteLater()
    qtbot.waitUntil(task.is_cancelled, timeout=5000)
    release.set()
    assert background.wait_for_all(5000)
    qtbot.wait(50)  # the queued outcome arrives now and is dropped
    assert calls.seen == []
    assert not background.running_threads()


# ----------------------------------------------------------- child processes
#: A child that says it is ready, then exits 0 on SIGTERM (as training does) or, with
#: "ignore", keeps running until it is killed.
CHILD = """
import signal, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: (print("saved", flush=True), sys.exit(0)))
print("ready", flush=True)
time.sleep(60)
"""


def _child(qtbot, mode: str, owner=None, grace_ms: int | None = None):
    owner = owner or QObject()
    calls = _Calls()
    task = background.run_process_in_background(
        owner, [sys.executable, "-c", CHILD, mode], calls("stdout"), calls("stderr"),
        calls("ended"), calls("failed_to_start"), kill_grace_ms=grace_ms)
    qtbot.waitUntil(lambda: _said(calls) == b"ready\n", timeout=10000)
    return owner, task, calls


def _said(calls: _Calls) -> bytes:
    """The child's standard output as it arrived (in chunks of any size)."""
    return b"".join(args[0] for kind, *args in calls.seen if kind == "stdout")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_cancelled_child_says_its_last_words_and_ends_cleanly(qtbot):
    owner, task, calls = _child(qtbot, "save")
    assert task in background.running_tasks() and task not in background.running_threads()
    pid = task.pid
    task.cancel()  # SIGTERM: the child saves and exits 0
    qtbot.waitUntil(lambda: not task.isRunning(), timeout=10000)
    assert _said(calls) == b"ready\nsaved\n"  # its last words arrive before its end
    assert calls.seen[-1] == ("ended", 0, False)
    assert calls.threads == {threading.get_ident()}
    assert (task.exit_code, task.crashed, task.is_cancelled()) == (0, False, True)
    assert _gone(pid) and task not in background.running_tasks()


def test_a_child_that_ignores_cancel_is_killed_after_its_grace_time(qtbot):
    _owner, task, calls = _child(qtbot, "ignore", grace_ms=300)
    started = time.monotonic()
    task.cancel()
    qtbot.waitUntil(lambda: not task.isRunning(), timeout=10000)
    assert 0.25 < time.monotonic() - started < 5
    assert calls.seen[-1] == ("ended", task.exit_code, True) and task.crashed
    assert _gone(task.pid)


def test_a_deleted_owner_stops_its_child_and_hears_nothing(qtbot):
    owner, task, calls = _child(qtbot, "save")
    pid = task.pid
    owner.deleteLater()
    qtbot.waitUntil(lambda: not task.isRunning(), timeout=10000)
    assert task.is_cancelled() and task.exit_code == 0 and _gone(pid)
    assert _said(calls) == b"ready\n"  # nothing after the owner went, not even "saved"
    assert not [kind for kind, *_ in calls.seen if kind != "stdout"]


def test_quitting_ends_every_child_even_one_that_ignores_sigterm(qtbot):
    _owner, task, calls = _child(qtbot, "ignore")  # default grace: 15 s
    pid = task.pid
    started = time.monotonic()
    assert not background.wait_for_all(500)  # it did not exit in time: it was killed
    assert time.monotonic() - started < 5
    assert not task.isRunning() and task.crashed and _gone(pid)
    assert not background.running_tasks()


def test_a_command_that_cannot_start_is_reported(qtbot, tmp_path):
    calls = _Calls()
    task = background.run_process_in_background(
        QObject(), [str(tmp_path / "no-such-program")], calls("stdout"), calls("stderr"),
        calls("ended"), calls("failed_to_start"))
    qtbot.waitUntil(lambda: bool(calls.seen), timeout=10000)
    assert calls.seen == [("failed_to_start",)] and not task.isRunning()
    assert task.pid is None and task.exit_code is None


# Six tasks that each reach torch by another entry, started together in a process where
# torch is not imported yet. Without the shared import lock this process aborts
# ("terminate called after throwing an instance of 'python_error'") or a task fails
# with a half-initialised torch module.
_FIRST_TORCH_IMPORTS = """
import sys
from PyQt5.QtCore import QCoreApplication, QObject, QTimer
from viewer.ui.background import run_in_background, wait_for_all
assert "torch" not in sys.modules
app = QCoreApplication([])
owner = QObject()
entries = ["from torch import nn", "import torch.nn.functional", "import torch",
           "from torch.nn import functional", "import torch.distributed",
           "from torch import optim"]
ended = []
def task(statement):
    return lambda: exec(statement, {})
for statement in entries:
    run_in_background(owner, task(statement), lambda _r: ended.append("ok"),
                      lambda message: ended.append(message), uses_torch=True)
timer = QTimer()
timer.timeout.connect(lambda: len(ended) == len(entries) and app.quit())
timer.start(20)
app.exec_()
wait_for_all()
print(ended)
"""


def test_tasks_that_start_together_import_torch_once_and_completely(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, "-c", _FIRST_TORCH_IMPORTS], capture_output=True,
                          text=True, timeout=240, cwd=os.getcwd(),
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(["ok"] * 6), done.stdout + done.stderr[-2000:]
