# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""Opening damaged files in the window: one-line error, the window keeps working, and the
volume and mask the user had stay exactly as they were.

The real window (offscreen), its real open paths (File > Open's loader thread and
the mask opener behind File > Open mask), and the damaged inputs of the
regression catalogue.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.app_support import answers, window  # noqa: F401
from tests.regressions.catalogue import REGRESSIONS, dicom_file_with, nifti_with

REFUSED = [c for c in REGRESSIONS if c.outcome == "refused" and not c.needs_sample]
BAD_MASKS = {
    "NaN sform": nifti_with(sform_code=1, srow_x=np.array([float("nan"), 0, 0, 0])),
    "unknown datatype": nifti_with(datatype=9999),
    "DICOM with zero spacing": dicom_file_with(0x00280030, b"DS", b"0\\0"),
}


@pytest.fixture
def opened(qtbot, window, sample_data, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("SPLEENSCOPE_LOG_DIR", str(tmp_path / "log"))
    with qtbot.waitSignal(window.volume_changed, timeout=60000):
        window.open_path(sample_data / "mr_abdomen.nii.gz")
    qtbot.waitUntil(lambda: not window.is_loading(), timeout=30000)
    window.open_mask(sample_data / "mr_abdomen_organs.nii.gz")
    return window


def _snapshot(window):
    layer = list(window.overlays)[0]
    return window.volume, window.volume.array.copy(), layer.name, layer.labels.copy()


def _unchanged(window, before) -> None:
    volume, voxels, name, labels = before
    assert window.volume is volume
    assert np.array_equal(window.volume.array, voxels)
    layers = list(window.overlays)
    assert [layer.name for layer in layers] == [name]
    assert np.array_equal(layers[0].labels, labels)


def test_damaged_volumes_leave_the_open_volume_and_mask_untouched(qtbot, opened, tmp_path):
    before = _snapshot(opened)
    for number, case in enumerate(REFUSED):
        folder = tmp_path / f"case{number}"
        folder.mkdir()
        path = case.build(folder)
        with qtbot.waitSignal(opened.load_failed, timeout=60000) as failure:
            assert opened.open_path(path)
        qtbot.waitUntil(lambda: not opened.is_loading(), timeout=30000)
        message = failure.args[0]
        assert "\n" not in message and case.expect in message, (case.name, message)
        _unchanged(opened, before)
    # still usable: the views follow the cursor and a good file still opens
    opened.set_cursor_world(opened.volume.center_world)
    assert not opened.grab().isNull()


def test_damaged_masks_leave_the_open_mask_untouched(qtbot, opened, tmp_path):
    before = _snapshot(opened)
    for number, (name, build) in enumerate(BAD_MASKS.items()):
        folder = tmp_path / f"mask{number}"
        folder.mkdir()
        path = build(folder)
        with qtbot.waitSignal(opened.load_failed, timeout=30000) as failure:
            opened.open_mask_reporting(str(path))  # what File > Open mask calls
        assert "\n" not in failure.args[0], name
        _unchanged(opened, before)
