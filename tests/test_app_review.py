# ruff: noqa: F811 (pytest fixtures imported from tests.app_support)
"""Visual QA in the window: a prediction and a reference from two files, no model.

The prediction is the sample CT's reference spleen shifted 12 voxels to the
patient's left and cut off above slice 15, so every kind of disagreement exists
(agreement, prediction-only, reference-only, slices with no prediction at all).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest
from PyQt5.QtCore import QPointF, QSettings, Qt
from PyQt5.QtGui import QColor, QImage
from PyQt5.QtWidgets import QApplication

from segmentation.metrics import evaluate_masks
from tests.app_support import Answers, ct_reference, ct_volume, focus_window, pixel, rgb  # noqa: F401
from tests.conftest import REPO_ROOT as REPO
from tests.conftest import sample_path
from viewer.review import AGREEMENT, DIFFERENCE_LAYER, FALSE_NEGATIVE, FALSE_POSITIVE
from viewer.ui.app import configure_pyqtgraph
from viewer.ui.background import wait_for_all
from viewer.ui.main_window import MainWindow


@pytest.fixture(scope="module")
def shifted_prediction(ct_reference):
    prediction = np.zeros_like(ct_reference)
    prediction[12:] = ct_reference[:-12]
    prediction[:, :, 15:] = 0
    return prediction


def _process_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the window"
        QApplication.processEvents()
        time.sleep(0.005)


@pytest.fixture(scope="module")
def reviewing(qapp, ct_volume, shifted_prediction, tmp_path_factory):
    """One window for the module (the comparison takes seconds): the shifted prediction
    and the reference, both loaded from files."""
    folder = tmp_path_factory.mktemp("review")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPLEENSCOPE_HOME", str(folder / "home"))
        Answers(patch)
        configure_pyqtgraph()
        window = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.IniFormat))
        window.resize(1600, 1000)
        window.show()
        window.set_volume(ct_volume)
        path = folder / "prediction.nii.gz"
        nib.save(nib.Nifti1Image(shifted_prediction, ct_volume.affine), path)
        review = window.tools.review_tool
        review.load_prediction(path)
        review.load_reference(sample_path("ct_spleen_dicom_label.nii.gz"))
        _process_until(lambda: window.tools.mask_session.pair is not None)
        yield window
        window.close()
        wait_for_all()
        window.deleteLater()
        QApplication.processEvents()


def test_qa_numbers_are_the_engines(qtbot, reviewing, ct_volume, ct_reference,
                                    shifted_prediction):
    session = reviewing.tools.mask_session
    expected = evaluate_masks(shifted_prediction, ct_reference, ct_volume.affine)
    assert session.pair.evaluation.as_dict() == expected.as_dict()
    values = reviewing.tools.review_tool.panel.values
    assert values["dice"].text() == f"{expected.dice:.3f}"
    assert values["hd95"].text() == f"{expected.hd95_mm:.1f} mm"
    assert values["assd"].text() == f"{expected.assd_mm:.2f} mm"
    assert values["vol_pred"].text() == f"{expected.volume_pred_ml:.1f} mL"
    assert values["vol_ref"].text() == f"{expected.volume_ref_ml:.1f} mL"
    assert values["vol_diff"].text() == (
        f"{expected.volume_diff_ml:+.1f} mL ({expected.volume_diff_pct:+.1f} %)")
    assert 0.3 < expected.dice < 0.95 and expected.volume_ref_ml == pytest.approx(249.2, abs=0.1)
    # a prediction from a file counts as saved: nothing to ask about
    assert session.source == "file" and not session.dirty
    assert session.mode == "difference"


def test_clicking_the_per_slice_dice_plot_jumps_to_that_slice(qtbot, reviewing):
    panel = reviewing.tools.review_tool.panel
    dice = reviewing.tools.mask_session.pair.slice_dice(2)
    target = 7
    assert not np.isnan(dice[target])
    reviewing.go_to_slice("axial", 0)
    panel.plot.repaint()
    qtbot.wait(20)
    view_box = panel.plot.getPlotItem().getViewBox()
    scene_point = view_box.mapViewToScene(QPointF(target, float(dice[target])))
    widget_point = panel.plot.mapFromScene(scene_point)
    qtbot.mouseClick(panel.plot.viewport(), Qt.LeftButton, pos=widget_point)
    qtbot.waitUntil(lambda: reviewing.state.slice_index("axial") == target, timeout=2000)
    assert panel.current_line.value() == target


def test_next_worst_slice_steps_in_order_of_disagreement(qtbot, reviewing,
                                                          ct_reference, shifted_prediction):
    # worst first: most differing voxels, ties by the lower Dice, then the index
    wrong = np.count_nonzero(shifted_prediction != ct_reference, axis=(0, 1))
    both = np.count_nonzero(shifted_prediction & ct_reference, axis=(0, 1))
    sizes = (np.count_nonzero(shifted_prediction, axis=(0, 1))
             + np.count_nonzero(ct_reference, axis=(0, 1)))
    dice = np.where(sizes > 0, 2 * both / np.maximum(sizes, 1), 1.0)
    expected = sorted((k for k in range(len(wrong)) if wrong[k] > 0),
                      key=lambda k: (-wrong[k], dice[k], k))
    focus_window(qtbot, reviewing)
    tool = reviewing.tools.review_tool
    visited = []
    for _ in expected:
        qtbot.keyClick(reviewing, Qt.Key_N)
        visited.append(reviewing.state.slice_index("axial"))
    assert visited == expected
    assert tool.next_worst_slice() == expected[0]  # wraps around
    assert f"#1 of {len(expected)}" in tool.panel.worst_label.text()
    # the crosshair sits on what differs on that slice
    ijk = np.round(reviewing.state.cursor_voxel).astype(int)
    assert ijk[2] == expected[0]
    assert abs(int(shifted_prediction[tuple(ijk)]) - int(ct_reference[tuple(ijk)])) in (0, 1)


def test_difference_map_shows_three_distinct_colours_with_a_legend(qtbot, reviewing):
    from scipy import ndimage

    session = reviewing.tools.mask_session
    assert DIFFERENCE_LAYER in reviewing.overlays
    reviewing.state.set_crosshair_visible(False)
    k = 8
    reviewing.go_to_slice("axial", k)
    qtbot.wait(30)
    difference = session.pair.difference[:, :, k]
    view = reviewing.views["axial"]
    colours = {}
    for label in (AGREEMENT, FALSE_POSITIVE, FALSE_NEGATIVE):
        depth = ndimage.distance_transform_edt(difference == label)
        i, j = np.unravel_index(np.argmax(depth), depth.shape)
        assert depth[i, j] >= 4  # well inside the region, away from its edge
        colours[label] = rgb(pixel(view, (i, j, k)))
    r, g, b = colours[AGREEMENT]
    assert g > r + 40 and g > b  # bluish green
    r, g, b = colours[FALSE_POSITIVE]
    assert r > g > b + 40  # orange
    r, g, b = colours[FALSE_NEGATIVE]
    assert b > g > r + 20  # sky blue
    legend = reviewing.tools.review_tool.panel.legend.text()
    for name in ("agreement", "false positive", "false negative"):
        assert name in legend
    # the other modes draw other layers
    session.set_mode("outlines")
    assert DIFFERENCE_LAYER not in reviewing.overlays
    assert reviewing.overlays.get("prediction").mode == "outline"
    assert "outline" in reviewing.tools.review_tool.panel.legend.text()


def test_cli_segment_with_reference_renders_overlay_results_and_qa(tmp_path):
    """``spleenscope view CT --segment --reference REF --screenshot OUT.png`` waits for
    the model and the comparison, then renders the window offscreen and exits 0."""
    out = tmp_path / "seg.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPLEENSCOPE_HOME=str(tmp_path / "home"),
               SPLEENSCOPE_THREADS="1")
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "view", str(sample_path("ct_spleen_dicom")),
         "--segment", "--reference", str(sample_path("ct_spleen_dicom_label.nii.gz")),
         "--screenshot", str(out)],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1600, 1000)
    # the difference map's agreement green (0, 158, 115) blended over the CT shows
    # in the views (the left two thirds of the window)
    pixels = np.asarray([[QColor(image.pixel(x, y)).getRgb()[:3]
                          for x in range(0, 1060, 4)] for y in range(60, 960, 4)])
    r, g, b = pixels[..., 0].astype(int), pixels[..., 1].astype(int), pixels[..., 2].astype(int)
    greenish = (g > r + 40) & (g > b + 10)
    assert greenish.sum() > 200
    assert not list((tmp_path / "home").glob("recovery/*"))  # headless: no recovery copy
