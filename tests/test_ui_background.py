"""The one background helper: result, progress and cancel arrive on the GUI thread;
a deleted owner hears nothing and its task is cancelled."""

from __future__ import annotations

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
