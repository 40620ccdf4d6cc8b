"""The worklist thumbnail: the spleen's largest axial slice, drawn as the window draws it
(patient left on screen right), with a closed outline; an empty mask shows no outline."""

from __future__ import annotations

import numpy as np

from tests.conftest import sample_path
from viewer.batch.thumbnail import OUTLINE_RGB, largest_slice, render_thumbnail
from viewer.io import load_volume
from viewer.overlays import load_mask_for_volume


def test_thumbnail_of_the_sample_ct_outlines_the_spleen_on_screen_right():
    volume = load_volume(sample_path("ct_spleen_dicom"))
    labels, _ = load_mask_for_volume(sample_path("ct_spleen_dicom_label.nii.gz"), volume)
    mask = (labels > 0).astype(np.uint8)
    per_slice = mask.sum(axis=(0, 1))
    assert largest_slice(mask) == int(np.argmax(per_slice))

    rgb = render_thumbnail(volume.array, mask, volume.spacing, size=128)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8  # 500 x 500 mm in-plane
    outline = np.all(rgb == OUTLINE_RGB, axis=2)
    rows, cols = np.nonzero(outline)
    assert len(rows) > 40  # a closed line around a large organ, not a few dots
    assert cols.min() > 64  # the spleen (patient left) is on the screen's right half

    empty = render_thumbnail(volume.array, np.zeros_like(mask), volume.spacing, size=128)
    assert not np.all(empty == OUTLINE_RGB, axis=2).any()
    assert largest_slice(np.zeros_like(mask)) is None
