"""The tip proxy's slice selection and tip scoring, on a real MR label (no training).

``segmentation.tip_proxy`` trains on the middle half of each MR spleen and scores the
two end quarters; if the quarters were wrong, or the crop moved the slices in space,
its verdict on tip coverage would mean nothing.
"""

from __future__ import annotations

import numpy as np

from segmentation.datasets import find_cases
from segmentation.tip_proxy import crop_to_middle, score_tips, slice_roles, spleen_extent
from tests.seg_support import require_sample
from viewer.io import load_volume

CASE = "chaos_t2_p01"


def _case():
    folder = require_sample("mr_spleen_chaos")
    return next(case for case in find_cases(folder) if case.name == CASE)


def test_roles_split_the_spleen_into_two_end_quarters_and_a_middle_half():
    label = load_volume(_case().label)
    array = np.asarray(label.array) > 0
    first, last = spleen_extent(array)
    roles = slice_roles(array)
    together = np.concatenate([roles["low"], roles["middle"], roles["high"]])
    # Disjoint, in order, and covering exactly the reference extent.
    assert together.tolist() == list(range(first, last + 1))
    span = last - first + 1
    assert len(roles["low"]) == len(roles["high"]) >= 1
    assert abs(len(roles["middle"]) - span / 2) <= 1
    # "low" is the inferior end: lower in world z (patient feet) than "high".
    z_low = (label.affine @ [0, 0, roles["low"][0], 1])[2]
    z_high = (label.affine @ [0, 0, roles["high"][-1], 1])[2]
    assert z_low < z_high


def test_crop_keeps_only_the_middle_half_in_place(tmp_path):
    case = _case()
    cropped, middle = crop_to_middle(case, tmp_path)
    image, label = load_volume(case.image), load_volume(case.label)
    new_image, new_label = load_volume(cropped.image), load_volume(cropped.label)
    array = np.asarray(label.array)
    assert middle.tolist() == slice_roles(array)["middle"].tolist()
    kept = slice(int(middle[0]), int(middle[-1]) + 1)
    assert np.array_equal(np.asarray(new_label.array), array[:, :, kept])
    assert np.array_equal(np.asarray(new_image.array), np.asarray(image.array)[:, :, kept])
    # Every kept voxel keeps its world position (the origin moved with the crop).
    for voxel in ([0, 0, 0], [100, 50, len(middle) - 1]):
        before = image.affine @ [voxel[0], voxel[1], voxel[2] + middle[0], 1]
        after = new_image.affine @ [*voxel, 1]
        assert np.allclose(before, after, atol=1e-3)
    # The crop holds spleen on every slice and no tip slice.
    assert (np.asarray(new_label.array) > 0).any(axis=(0, 1)).all()


def test_tip_scores_see_a_missing_inferior_tip_and_an_overshoot():
    reference = np.asarray(load_volume(_case().label).array) > 0
    perfect = score_tips(reference, reference)
    assert perfect["dice"] == 1.0
    for end in ("inferior", "superior"):
        assert perfect[end]["dice"] == 1.0
        assert perfect[end]["missed"] == 0
        assert perfect[end]["overshoot_slices"] == 0

    roles = slice_roles(reference)
    no_tip = reference.copy()
    no_tip[:, :, roles["low"]] = False
    first, _ = spleen_extent(reference)
    no_tip[:, :, first - 1] = reference[:, :, first]  # a slice marked below the spleen
    scores = score_tips(no_tip, reference)
    assert scores["inferior"]["dice"] == 0.0
    assert scores["inferior"]["missed"] == scores["inferior"]["slices"] == len(roles["low"])
    assert scores["inferior"]["overshoot_slices"] == 1
    assert scores["superior"] == perfect["superior"]
    assert 0.8 < scores["dice"] < 1.0
