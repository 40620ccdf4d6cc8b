"""The Qt-free core of reviewing a prediction: review pairs, overlay modes, reports, recovery copies.

Masks come from the analytic phantom (an ellipsoidal spleen on a 4 mm grid), so
every expected number is either the engine's own (``segmentation.metrics``) or
countable by hand.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from segmentation.measurements import measure_spleen
from segmentation.metrics import evaluate_masks
from viewer import recovery
from viewer.phantom import make_phantom
from viewer.reports import build_report, report_csv_text, write_report
from viewer.review import (
    AGREEMENT,
    DIFFERENCE_LAYER,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    PREDICTION_LAYER,
    REFERENCE_LAYER,
    ReviewPair,
    layers_for_mode,
)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(spacing=(4.0, 4.0, 4.0), field_of_view_mm=(240.0, 200.0, 160.0),
                        axcodes="LPS")


@pytest.fixture(scope="module")
def masks(phantom):
    """(prediction, reference, affine): the reference shifted 2 voxels, top slices cut."""
    volume = phantom.volume()
    reference = phantom.canonical_mask().astype(np.uint8)
    prediction = np.zeros_like(reference)
    prediction[2:] = reference[:-2]
    top = np.flatnonzero(reference.any(axis=(0, 1))).max()
    prediction[:, :, top - 1:] = 0
    return prediction, reference, volume.affine


def test_pair_metrics_are_the_engines(masks):
    prediction, reference, affine = masks
    pair = ReviewPair(prediction, reference, affine)
    assert pair.evaluation.as_dict() == evaluate_masks(prediction, reference, affine).as_dict()
    difference = pair.difference
    assert np.count_nonzero(difference == AGREEMENT) == np.count_nonzero(prediction & reference)
    assert np.count_nonzero(difference == FALSE_POSITIVE) == np.count_nonzero(
        prediction & (1 - reference))
    assert np.count_nonzero(difference == FALSE_NEGATIVE) == np.count_nonzero(
        reference & (1 - prediction))


def test_slices_worst_first_and_next_wraps(masks):
    prediction, reference, affine = masks
    pair = ReviewPair(prediction, reference, affine)
    wrong = np.count_nonzero(prediction != reference, axis=(0, 1))
    order = pair.slices_by_disagreement(2)
    assert sorted(order) == [int(k) for k in np.flatnonzero(wrong)]
    counts = [wrong[k] for k in order]
    assert counts == sorted(counts, reverse=True)
    assert pair.next_worst_slice(None, 2) == order[0]
    assert pair.next_worst_slice(order[0], 2) == order[1]
    assert pair.next_worst_slice(order[-1], 2) == order[0]  # wraps around
    # the two slices cut from the prediction have Dice 0 and come before ties
    dice = pair.slice_dice(2)
    assert np.all(dice[order[:1]] <= np.nanmax(dice))
    center = pair.disagreement_center(order[0], 2)
    assert center is not None and center[2] == order[0]
    assert ReviewPair(reference, reference, affine).next_worst_slice() is None
    with pytest.raises(ValueError):
        ReviewPair(prediction[:-1], reference, affine)


def test_layers_for_each_mode(masks):
    prediction, reference, affine = masks
    pair = ReviewPair(prediction, reference, affine)
    names = {mode: [layer.name for layer in layers_for_mode(mode, prediction, reference, pair)]
             for mode in ("prediction", "reference", "outlines", "difference")}
    assert names == {"prediction": [PREDICTION_LAYER], "reference": [REFERENCE_LAYER],
                     "outlines": [REFERENCE_LAYER, PREDICTION_LAYER],
                     "difference": [DIFFERENCE_LAYER]}
    outlines = layers_for_mode("outlines", prediction, reference)
    assert all(layer.mode == "outline" for layer in outlines)
    colours = layers_for_mode("difference", prediction, reference, pair)[0].colors
    assert len({colours[AGREEMENT], colours[FALSE_POSITIVE], colours[FALSE_NEGATIVE]}) == 3
    # without a reference the difference mode falls back to the prediction
    assert [layer.name for layer in layers_for_mode("difference", prediction, None)] == [
        PREDICTION_LAYER]
    with pytest.raises(ValueError):
        layers_for_mode("sparkles", prediction, reference)


def test_report_json_and_csv(masks, phantom, tmp_path):
    prediction, reference, affine = masks
    volume = dataclasses.replace(phantom.volume(), description="Doe^John abdomen",
                                 source_path=str(tmp_path / "Doe^John" / "case.nii.gz"))
    measurements = measure_spleen(prediction, affine)
    evaluation = evaluate_masks(prediction, reference, affine)
    report = build_report(volume, measurements.as_dict(), evaluation.as_dict(),
                          model={"name": "spleen_unet2d", "val_dice": 0.93}, device="CPU")
    json_path = write_report(report, tmp_path / "r.json")
    csv_path = write_report(report, tmp_path / "r.csv")
    loaded = json.loads(json_path.read_text())
    assert loaded["measurements"]["volume_ml"] == measurements.as_dict()["volume_ml"]
    assert loaded["evaluation"]["dice"] == evaluation.as_dict()["dice"]
    assert loaded["volume"]["source_orientation"] == "LPS"
    text = csv_path.read_text()
    assert text.splitlines()[0] == "field,value"
    assert f"evaluation.dice,{evaluation.as_dict()['dice']}" in text
    assert text == report_csv_text(report)
    for written in (json_path.read_text(), text):
        assert "Doe" not in written and str(tmp_path) not in written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]  # no temp files


def test_recovery_round_trip(phantom, tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path))
    volume = dataclasses.replace(phantom.volume(), source_path=str(tmp_path / "case.nii.gz"))
    mask = phantom.canonical_mask()
    entry = recovery.write_recovery("k1", volume, mask, {"model": "m"})
    assert entry.mask_path.parent == tmp_path / "recovery"
    assert recovery.find_recoveries(exclude_pid=entry.meta["pid"]) == []  # this process's own
    (found,) = recovery.find_recoveries()
    assert found.matches(volume) and found.source_path == volume.source_path
    loaded, affine = found.load_mask()
    np.testing.assert_array_equal(loaded, mask)
    np.testing.assert_allclose(affine, volume.affine)
    assert f"{int(mask.sum())} voxel mask of case.nii.gz" in found.describe()
    other = make_phantom(spacing=(5.0, 5.0, 5.0), field_of_view_mm=(240.0, 200.0, 160.0))
    assert not found.matches(other.volume())
    recovery.remove_recovery("k1")
    assert recovery.find_recoveries() == []
