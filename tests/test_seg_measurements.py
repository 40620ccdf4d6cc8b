"""Spleen measurements: phantom volume, bounding box, craniocaudal length, flag."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.measurements import SPLENOMEGALY_VOLUME_ML, SpleenMeasurements, measure_spleen
from segmentation.postprocess import postprocess
from viewer.phantom import make_phantom


@pytest.mark.parametrize(
    "spacing, axcodes",
    [((1.0, 1.0, 2.0), "RAS"), ((0.7, 0.9, 3.0), "LPS"), ((1.3, 0.6, 1.7), "PIL")],
)
def test_phantom_spleen_volume_within_one_percent(spacing, axcodes):
    phantom = make_phantom(spacing=spacing, axcodes=axcodes)
    volume = phantom.volume()
    result = measure_spleen(phantom.canonical_mask(), volume.affine)
    assert result.volume_ml == pytest.approx(phantom.spleen_volume_ml, rel=0.01)
    assert result.voxels == int(phantom.canonical_mask().sum())
    # Craniocaudal extent of a 50 mm semi-axis: 100 mm, within a slice.
    assert result.craniocaudal_mm == pytest.approx(100.0, abs=spacing[2])
    cx, cy, cz = phantom.spleen_center_mm
    centre = (np.array(result.bbox_min_mm) + np.array(result.bbox_max_mm)) / 2
    assert np.allclose(centre, (cx, cy, cz), atol=max(spacing))
    assert result.splenomegaly  # 4/3 pi 35 x 55 x 50 mm = 403 mL > 314.5 mL


def test_splenomegaly_flag_uses_the_published_upper_limit():
    small = make_phantom(spleen_semi_axes_mm=(30, 45, 45))  # 254 mL
    large = make_phantom(spleen_semi_axes_mm=(38, 60, 55))  # 525 mL
    assert small.spleen_volume_ml < SPLENOMEGALY_VOLUME_ML < large.spleen_volume_ml
    for phantom, expected in ((small, False), (large, True)):
        result = measure_spleen(phantom.canonical_mask(), phantom.volume().affine)
        assert result.splenomegaly is expected
        assert "314.5 mL" in result.reference_range_text


def test_empty_mask_and_scan_edge():
    empty = measure_spleen(np.zeros((4, 4, 4), np.uint8), np.eye(4))
    assert empty.volume_ml == 0 and empty.bbox_min_mm is None and not empty.splenomegaly
    cut = np.zeros((10, 10, 10), np.uint8)
    cut[3:6, 3:6, 0:4] = 1
    result = measure_spleen(cut, np.diag([1.0, 1.0, 2.0, 1.0]))
    assert result.touches_scan_edge
    assert result.craniocaudal_mm == pytest.approx(8.0)
    assert result.bbox_min_mm[2] == pytest.approx(-1.0)


def test_postprocess_keeps_largest_component_and_fills_holes():
    probabilities = np.zeros((30, 30, 10), np.float32)
    probabilities[5:20, 5:20, 2:8] = 0.9
    probabilities[10:13, 10:13, 4:6] = 0.1  # an enclosed hole (a vessel)
    probabilities[25:28, 25:28, 2:4] = 0.95  # a separate false positive
    mask = postprocess(probabilities, threshold=0.5)
    assert mask.dtype == np.uint8
    assert mask[11, 11, 4] == 1
    assert mask[26, 26, 3] == 0
    assert int(mask.sum()) == 15 * 15 * 6


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_postprocess_in_the_foreground_box_equals_the_whole_volume_pass(axis):
    """Cropping to the foreground's box is a speed-up only: same voxels as the full pass."""
    from scipy import ndimage

    from segmentation.postprocess import fill_holes, largest_component

    rng = np.random.default_rng(axis)
    for _ in range(10):
        noise = ndimage.gaussian_filter(rng.random(tuple(rng.integers(6, 40, 3))), 1.5)
        probabilities = (noise - noise.min()) / np.ptp(noise)
        whole = fill_holes(largest_component(probabilities > 0.6), axis).astype(np.uint8)
        np.testing.assert_array_equal(postprocess(probabilities, 0.6, axis), whole)
    shell = np.zeros((20, 20, 20), np.float32)  # touches the volume's edge, hollow inside
    shell[0:10, 4:16, 4:16] = 1.0
    shell[2:8, 7:13, 7:13] = 0.0
    np.testing.assert_array_equal(
        postprocess(shell, 0.5, axis), fill_holes(shell > 0.5, axis).astype(np.uint8)
    )


def test_a_summary_gives_back_the_same_measurements_and_lower_bound():
    """What ``segment --json`` writes reads back as the same measurements, so a batch
    table rebuilt from older summaries marks a cut spleen as the window does."""
    mask = np.zeros((20, 20, 10), np.uint8)
    mask[5:10, 5:10, 0:4] = 1  # reaches the first slice: cut by the scan
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    measured = measure_spleen(mask, affine)
    summary = dict(measured.as_dict(), model="m", status="ok")
    back = SpleenMeasurements.from_dict(summary)
    assert back.is_lower_bound and summary["volume_is_lower_bound"] is True
    assert back.volume_text() == measured.volume_text() == "at least 0.2 mL"  # 100 voxels of 1.6 mm³
    assert back.bbox_min_mm == pytest.approx(measured.bbox_min_mm)
    with pytest.raises(KeyError):
        SpleenMeasurements.from_dict({"volume_ml": 1.0})
