# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""Segment in the window: run, cancel half-way, worker errors, closing mid-work.

Real window, the sample CT series, the bundled model on one CPU thread. A full run
takes a few seconds; the tests that need the model's output share one run per test.
"""

from __future__ import annotations

import time

import numpy as np
from PyQt5 import sip
from PyQt5.QtCore import QCoreApplication, QEvent, Qt
from PyQt5.QtWidgets import QMessageBox

from segmentation.measurements import measure_spleen
from tests.app_support import (  # noqa: F401 (fixtures)
    answers,
    ct_reference,
    ct_volume,
    isolated_home,
    make_window,
    pixel,
    rgb,
    segment,
    window,
    with_volume,
)
from viewer import recovery
from viewer.review import PREDICTION_LAYER
from viewer.ui import background, segmentation_ui
from viewer.ui.quality_panel import UNCERTAINTY_LAYER, uncertainty_labels
from viewer.ui.segmentation_ui import center_on_mask


def test_segment_runs_shows_mask_everywhere_and_measurements(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    tool = window.tools.segmentation_tool
    assert tool.act_segment.isEnabled() and tool.act_segment.shortcut().toString() == "Ctrl+G"
    seen = []
    tool.progress.valueChanged.connect(seen.append)

    assert segment(qtbot, window) == "done"

    result = tool.last_result
    session = window.tools.mask_session
    mask = result.mask
    assert mask.shape == ct_volume.shape and mask.any()
    np.testing.assert_array_equal(session.prediction, mask)
    # the progress bar counted slices up to the total
    assert max(seen) == ct_volume.shape[2] == tool.progress.maximum()
    # the status bar says which model ran on which device
    engine = tool.engine_label.text()
    assert result.model_name in engine and result.device in engine and "CPU" in engine

    # results panel: exactly the engine's measurements of this mask
    expected = measure_spleen(mask, ct_volume.affine)
    assert session.measurements.as_dict() == expected.as_dict()
    panel = window.tools.results_panel
    # the sample's 20 slices cut the spleen, so its volume reads as a lower bound
    at_least = "at least " if expected.touches_scan_edge else ""
    assert panel.volume_label.text() == f"{at_least}{expected.volume_ml:.1f} mL"
    assert panel.voxels_label.text() == f"{expected.voxels:,}"
    assert panel.length_label.text().startswith(f"{expected.craniocaudal_mm:.0f} mm")
    size = " × ".join(f"{h - lo:.0f}" for lo, h in zip(expected.bbox_min_mm,
                                                         expected.bbox_max_mm, strict=True))
    assert panel.bbox_label.text().startswith(size + " mm")
    assert panel.flag_label.text().startswith("Splenomegaly:") == bool(expected.splenomegaly)
    assert expected.reference_range_text in panel.reference_label.text()
    assert 150 < expected.volume_ml < 350  # a real spleen (reference: 249.2 mL)

    # the mask shows in all three views: the pixel at the mask's centre is tinted
    # amber with the overlay, grey without it
    assert PREDICTION_LAYER in window.overlays
    center_on_mask(window, mask)
    window.state.set_crosshair_visible(False)
    qtbot.wait(20)
    ijk = np.round(np.argwhere(mask > 0).mean(axis=0)).astype(int)
    assert mask[tuple(ijk)]
    shown = {name: rgb(pixel(view, ijk)) for name, view in window.views.items()}
    window.set_overlays_visible(False)
    qtbot.wait(20)
    plain = {name: rgb(pixel(view, ijk)) for name, view in window.views.items()}
    for name in window.views:
        r, g, b = shown[name]
        assert r > b + 60 and g > b + 20, (name, shown[name])  # amber (255,196,0) over grey
        pr, pg_, pb = plain[name]
        assert abs(pr - pb) < 12 and abs(pr - pg_) < 12, (name, plain[name])  # grey
    assert window.windowTitle().endswith(" *")  # unsaved

    # the Self-check overlay shows the labels made off the GUI thread, and they are
    # exactly the panel's own reading of the probabilities
    shown = window.overlays.get(UNCERTAINTY_LAYER)
    assert shown is not None and shown.labels is result.uncertainty_labels
    np.testing.assert_array_equal(shown.labels, uncertainty_labels(result.probabilities))
    assert set(np.unique(shown.labels)) <= {0, 1, 2} and shown.labels.any()


def test_recovery_copy_ends_as_the_last_mask_asked_for(qtbot, window, ct_volume,
                                                       ct_reference, isolated_home):
    """Writes run in background tasks; however their threads are scheduled, a later
    mask is never overwritten by an earlier one, and a discard removes the copy."""
    with_volume(qtbot, window, ct_volume)
    session = window.tools.mask_session
    masks = []
    for shift in range(4):  # four unsaved masks in a row, their writes overlapping
        mask = np.roll(ct_reference, 3 * shift, axis=0)
        masks.append(mask)
        session.set_prediction(mask, source="model", name="m")
    session.wait_for_recovery()
    (entry,) = recovery.find_recoveries()
    np.testing.assert_array_equal(entry.load_mask()[0], masks[-1])
    session.set_prediction(masks[0], source="model", name="m")
    session.discard()
    session.wait_for_recovery()
    assert not recovery.find_recoveries()
    assert not list((isolated_home / "recovery").glob("*.nii.gz"))


def test_cancel_half_way_leaves_previous_mask_bit_for_bit(qtbot, window, ct_volume,
                                                          ct_reference):
    with_volume(qtbot, window, ct_volume)
    session = window.tools.mask_session
    previous = ct_reference.copy()
    previous[200:210, 200:210, 3] = 1  # something no model would draw
    session.set_prediction(previous, source="file", name="earlier.nii.gz", dirty=False)
    previous = previous.copy()  # the session may hold the very array it was given
    before_measurements = session.measurements
    tool = window.tools.segmentation_tool
    assert tool.start()
    # cancel as soon as the first batch reports, from the worker thread itself, so
    # the engine stops before its second batch (half-way, deterministically)
    slices_done = []
    task = tool.task
    task.progress.connect(
        lambda report: (slices_done.append(report[0]), task.cancel()), Qt.DirectConnection)
    with qtbot.waitSignal(tool.finished, timeout=60000) as blocker:
        pass
    assert blocker.args == ["cancelled"]
    assert slices_done and slices_done[0] < ct_volume.shape[2]
    assert session.prediction.dtype == np.uint8
    np.testing.assert_array_equal(session.prediction, previous)
    np.testing.assert_array_equal(window.overlays.get(PREDICTION_LAYER).labels, previous)
    assert session.measurements is before_measurements
    assert not session.dirty and session.source == "file"
    assert "cancelled" in window.statusBar().currentMessage()
    assert not tool.progress.isVisible() and tool.act_segment.isEnabled()


def test_worker_error_shows_a_dialog_and_the_app_survives(qtbot, window, ct_volume,
                                                          ct_reference, tmp_path):
    with_volume(qtbot, window, ct_volume)
    window.tools.mask_session.set_prediction(ct_reference, source="file", name="ref", dirty=False)
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a model" * 10)

    assert segment(qtbot, window, model=str(corrupt)) == "failed"

    message = window.last_error
    assert message and "\n" not in message.strip()
    boxes = [box for box in window.findChildren(QMessageBox) if box.objectName() == "error_box"]
    assert boxes and boxes[-1].isVisible() and boxes[-1].windowTitle() == "Segmentation failed"
    boxes[-1].close()
    # the app goes on: previous mask intact, the action available, the views still work
    np.testing.assert_array_equal(window.tools.mask_session.prediction, ct_reference)
    tool = window.tools.segmentation_tool
    assert not tool.is_running() and tool.act_segment.isEnabled()
    window.go_to_slice("axial", 3)
    assert window.state.slice_index("axial") == 3


def test_no_volume_no_run(qtbot, window):
    assert not window.tools.segmentation_tool.start()
    assert "Open a CT volume" in window.last_error


def _delete(window) -> None:
    """Close and really delete the window now (as closing the app's last window does)."""
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert sip.isdeleted(window)


def test_closing_while_models_are_listed_does_not_touch_deleted_widgets(qtbot, tmp_path,
                                                                       answers, monkeypatch):
    """The listing (torch import) outlives the window: its result must be dropped."""
    real = segmentation_ui.available_models_and_devices
    started = []

    def slow_listing():
        started.append(True)
        time.sleep(0.4)
        return real()

    monkeypatch.setattr(segmentation_ui, "available_models_and_devices", slow_listing)
    win = make_window(qtbot, tmp_path, register=False)
    qtbot.waitUntil(lambda: bool(started), timeout=5000)
    assert background.running_threads()
    _delete(win)  # the window's C++ objects are gone, the listing still runs
    assert background.running_threads()
    assert background.wait_for_all(20000)
    qtbot.wait(100)  # its queued result arrives now and must be dropped quietly
    assert not background.running_threads()


def test_closing_while_segmenting_cancels_the_worker(qtbot, tmp_path, answers, ct_volume):
    win = make_window(qtbot, tmp_path, register=False)
    with_volume(qtbot, win, ct_volume)
    tool = win.tools.segmentation_tool
    assert tool.start()
    task = tool.task
    _delete(win)
    assert task.is_cancelled()  # the deleted tool asked it to stop
    assert background.wait_for_all(30000)
    qtbot.wait(50)
