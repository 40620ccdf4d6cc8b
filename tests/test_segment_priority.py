"""While the window segments, its compute threads yield the CPU to the GUI thread.

Linux keeps a nice value per thread; the segmentation raises its own before torch
starts its intra-op threads from it, so they inherit it and the GUI thread keeps 0.
Read from /proc, the real threads of this process.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="per-thread nice values are a Linux feature")


def _thread_niceness() -> dict[int, int]:
    """``{native thread id: nice value}`` for every thread of this process."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        found[int(tid)] = int(fields[16])  # field 19 of stat(5), counted after the name
    return found


def test_torch_threads_started_by_the_worker_inherit_its_lower_priority():
    import torch

    from viewer.ui.segment_worker import COMPUTE_NICENESS, lower_compute_priority

    torch.set_num_threads(2)
    gui = threading.get_native_id()
    before = _thread_niceness()[gui]
    seen = {}

    def work() -> None:
        seen["set"] = lower_compute_priority()
        conv = torch.nn.Conv2d(8, 8, 3)
        with torch.inference_mode():
            for _ in range(3):
                conv(torch.randn(2, 8, 128, 128))
        seen["worker"] = threading.get_native_id()
        seen["threads"] = _thread_niceness()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    lowered = min(before + COMPUTE_NICENESS, 19)
    assert seen["set"] == lowered
    assert seen["threads"][seen["worker"]] == lowered
    # torch's second intra-op thread was started from the worker: it has its value
    assert sum(1 for nice in seen["threads"].values() if nice == lowered) >= 2
    assert _thread_niceness()[gui] == before  # the calling (GUI) thread is untouched


def test_the_window_segments_at_a_lower_priority_than_its_gui_thread(qtbot, tmp_path,
                                                                     monkeypatch):
    from tests.conftest import sample_path
    from viewer.io import load_volume
    from viewer.ui.background import wait_for_all
    from viewer.ui.main_window import MainWindow
    from viewer.ui.segment_worker import COMPUTE_NICENESS

    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    window = MainWindow()
    window.headless = True
    qtbot.addWidget(window)
    window.set_volume(load_volume(sample_path("ct_spleen_dicom")))
    gui = threading.get_native_id()
    before = _thread_niceness()
    lowered = min(before[gui] + COMPUTE_NICENESS, 19)
    tool = window.tools.segmentation_tool
    with qtbot.waitSignal(tool.finished, timeout=120_000) as outcome:
        assert tool.start(device="cpu")
        # a thread of this run, started after the GUI's own, at the lower value
        qtbot.waitUntil(lambda: any(nice == lowered for tid, nice in _thread_niceness().items()
                                    if tid not in before), timeout=60_000)
        assert _thread_niceness()[gui] == before[gui]
    assert outcome.args == ["done"]
    assert _thread_niceness()[gui] == before[gui]
    window.tools.mask_session.discard()
    wait_for_all()
