# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""The self-check in the window: the verdict, the uncertainty overlay and curve, and no
green badge on an empty or failed result (checked on the grabbed pixels, not on text).

Real window, real sample data, the real models on one CPU thread.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QPointF, Qt
from PyQt5.QtGui import QColor

from tests.app_support import (  # noqa: F401 (fixtures)
    answers,
    ct_volume,
    isolated_home,
    segment,
    window,
    with_volume,
)
from tests.seg_support import require_sample
from viewer.io import load_volume
from viewer.ui.quality_panel import UNCERTAINTY_LAYER


def _background(label) -> tuple[int, int, int]:
    """The colour at the left edge, mid-height, of a label as drawn on screen."""
    image = label.grab().toImage()
    color = QColor(image.pixel(2, image.height() // 2))
    return color.red(), color.green(), color.blue()


def _is_green(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return g > r + 25 and g > b + 15


def _show_quality(window):
    window.tools.quality_dock.show()
    window.tools.quality_dock.raise_()
    return window.tools.quality_panel


def test_sample_ct_is_ok_with_overlay_and_curve(qtbot, window, ct_volume):
    with_volume(qtbot, window, ct_volume)
    assert segment(qtbot, window, timeout_ms=600_000) == "done"
    panel = _show_quality(window)
    study = window.tools.segmentation_tool.last_result
    assert study.quality.verdict == "ok"
    assert panel.badge.text() == "Self-check: OK"
    assert "Input: CT" in panel.modality_label.text()
    qtbot.wait(50)
    assert _is_green(_background(panel.badge))
    # The uncertainty overlay is in the views: the undecided rim around the spleen.
    layer = window.overlays.get(UNCERTAINTY_LAYER)
    assert layer is not None and layer.labels.shape == ct_volume.shape
    assert 0 < np.count_nonzero(layer.labels) < np.count_nonzero(study.mask)
    # The curve holds one point per slice.
    items = panel.curve.getPlotItem().listDataItems()
    assert len(items[0].getData()[0]) == ct_volume.shape[2]
    # A line marks the slice the views show, and a click on the curve goes to a slice.
    window.go_to_slice("axial", 4)
    assert panel.current_line.value() == 4
    box = panel.curve.getPlotItem().getViewBox()
    scene_point = box.mapViewToScene(QPointF(13, 0.5))
    qtbot.mouseClick(panel.curve.viewport(), Qt.LeftButton,
                     pos=panel.curve.mapFromScene(scene_point))
    qtbot.waitUntil(lambda: window.state.slice_index("axial") == 13, timeout=2_000)
    assert panel.current_line.value() == 13
    results = window.tools.results_panel
    low, high = study.uncertainty.volume_range_ml
    assert results.range_label.text().startswith(f"{low:.0f}–{high:.0f} mL")
    # The 20 slices cut the spleen: its volume is a lower bound, under the normal limit,
    # which rules nothing out; the flag says so in amber, never the green of "normal".
    assert study.measurements.touches_scan_edge
    assert results.volume_label.text() == f"at least {study.measurements.volume_ml:.1f} mL"
    assert results.flag_label.text().startswith("Splenomegaly not excluded")
    window.tools.results_dock.raise_()
    qtbot.wait(50)
    red, green, blue = _background(results.flag_label)
    assert red > green > blue and red > 100  # amber
    panel.show_overlay.setChecked(False)
    assert UNCERTAINTY_LAYER not in window.overlays


def test_mr_forced_through_ct_model_fails_and_is_never_green(qtbot, window):
    volume = load_volume(require_sample("mr_spleen_chaos", "imagesTr", "chaos_t2_p01.nii.gz"))
    with_volume(qtbot, window, volume)
    panel = _show_quality(window)
    panel.modality_choice.setCurrentIndex(panel.modality_choice.findData("ct"))
    assert segment(qtbot, window, timeout_ms=600_000) == "done"
    study = window.tools.segmentation_tool.last_result
    assert study.quality.verdict == "failed" and study.model_modality == "CT"
    assert panel.badge.text().startswith("Self-check: FAILED")
    assert "trained on CT" in panel.reasons.text()
    qtbot.wait(50)
    assert not _is_green(_background(panel.badge))
    results = window.tools.results_panel
    window.tools.results_dock.raise_()
    qtbot.wait(50)
    # The old window showed 0.0 mL under a green "No splenomegaly" here.
    assert "No splenomegaly" not in results.flag_label.text()
    assert not _is_green(_background(results.flag_label))
    assert not _is_green(_background(results.verdict_label))


def test_a_mask_from_a_file_is_not_painted_as_checked(qtbot, window, ct_volume, tmp_path):
    """A prediction opened from a file has had no self-check: its volume is shown, but
    the flag is not the green that means "checked and normal"."""
    import nibabel as nib

    with_volume(qtbot, window, ct_volume)
    label = nib.load(require_sample("ct_spleen_dicom_label.nii.gz"))
    path = tmp_path / "prediction.nii.gz"
    nib.save(label, path)
    window.tools.review_tool.load_prediction(path)
    session = window.tools.mask_session
    qtbot.waitUntil(lambda: session.measurements is not None, timeout=60_000)
    results = window.tools.results_panel
    window.tools.results_dock.raise_()
    qtbot.wait(50)
    assert f"at least {session.measurements.volume_ml:.1f} mL" == results.volume_label.text()
    assert "Splenomegaly not excluded" in results.flag_label.text()  # a cut spleen, unchecked
    assert not _is_green(_background(results.flag_label))
