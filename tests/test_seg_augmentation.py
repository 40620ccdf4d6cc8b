"""The CT robustness augmentations: thick slices, coarse pixels, contrast phase, tip sampling;
the random intensity curves of joint CT+MR training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segmentation.augmentation import (
    ROBUST_CT_AUGMENTATION,
    AugmentationSettings,
    IntensityRemapSettings,
    augment_batch,
    change_soft_tissue,
    coarsen_pixels,
    remap_intensities,
)
from segmentation.config import ModelConfig
from segmentation.ct_robustness import score_slices
from segmentation.datasets import find_cases
from segmentation.slice_data import CaseSlices, SliceSet, sample_batch, slab_weights, thick_slice
from segmentation.training import TrainConfig, split_and_prepare
from tests.seg_support import phantom_dataset

torch.set_num_threads(1)


def test_slab_weights_follow_the_overlap_of_each_neighbour():
    # A 3 mm slab on a 2 mm step: the slice's own 2 mm plus 0.5 mm of each neighbour.
    assert slab_weights(2.0, 3.0) == pytest.approx({-1: 2 / 3 * 0.25, 0: 2 / 3, 1: 2 / 3 * 0.25})
    five = slab_weights(2.0, 5.0)
    assert five == pytest.approx({-1: 0.3, 0: 0.4, 1: 0.3})
    assert sum(slab_weights(1.0, 5.0).values()) == pytest.approx(1.0)
    assert sorted(slab_weights(1.0, 5.0)) == [-2, -1, 0, 1, 2]
    assert slab_weights(2.0, 2.0) == {0: 1.0}  # a slab no thicker than the step is the slice


def _case(values, label_rows, positions) -> CaseSlices:
    """Slices whose pixels all equal ``values[i]`` and whose label covers ``label_rows[i]`` rows."""
    count = len(values)
    images = torch.tensor(values, dtype=torch.float16).view(count, 1, 1, 1).expand(count, 1, 8, 8)
    labels = torch.zeros(count, 1, 8, 8, dtype=torch.uint8)
    for index, rows in enumerate(label_rows):
        labels[index, 0, :rows] = 1
    return CaseSlices("c", images.clone(), labels, (8, 8), slice_mm=2.0, positions=positions)


def test_thick_slice_averages_neighbours_and_skips_held_out_ones():
    case = _case([0.0, 60.0, 120.0, 300.0], [0, 4, 8, 8], (0, 1, 2, 5))
    image, label = thick_slice(case, 1, 5.0)
    assert float(image.mean()) == pytest.approx(0.3 * 0 + 0.4 * 60 + 0.3 * 120)
    # label fractions 0.3*0 + 0.4*1 + 0.3*1 = 0.7 on rows 0-3, 0.3 on rows 4-7
    assert label[0, :4].all() and not label[0, 4:].any()
    # Slice 2's next neighbour is position 5 (3-4 are missing): only 1 and 2 count.
    image, _ = thick_slice(case, 2, 5.0)
    assert float(image.mean()) == pytest.approx((0.3 * 60 + 0.4 * 120) / 0.7, rel=1e-3)


def test_coarse_pixels_keep_the_mean_and_wipe_out_detail_finer_than_the_pixel():
    rows = torch.arange(60).view(-1, 1)
    cols = torch.arange(60).view(1, -1)
    fine = (((rows + cols) % 2) * 200.0 - 100.0).view(1, 1, 60, 60)  # 1-pixel checkerboard
    coarse = coarsen_pixels(fine, 2.5)  # 2 mm grid -> 5 mm pixels
    assert coarse.shape == fine.shape
    assert float(coarse.mean()) == pytest.approx(float(fine.mean()), abs=2.0)
    assert float(coarse.std()) < 0.1 * float(fine.std())
    assert torch.equal(coarsen_pixels(fine, 1.0), fine)


def test_soft_tissue_changes_while_air_fat_and_bone_stay():
    hu = torch.tensor([-1000.0, -200.0, 40.0, 100.0, 250.0, 600.0, 1200.0])
    changed = change_soft_tissue(hu, scale=1.3, shift=50.0)
    assert changed[[0, 1, 5, 6]].tolist() == hu[[0, 1, 5, 6]].tolist()
    assert float(changed[2]) == pytest.approx(90.0)  # 40 HU: the shift alone
    assert float(changed[3]) == pytest.approx((100 - 40) * 1.3 + 40 + 50)
    assert float(changed[4]) == pytest.approx((250 - 40) * 1.3 + 40 + 50)


def test_robust_augmentation_changes_the_image_never_the_label_on_an_identity_geometry():
    still = AugmentationSettings(
        rotation_degrees=0.0,
        scale_range=(1.0, 1.0),
        anisotropy=0.0,
        translation_fraction=0.0,
        coarse_pixel_probability=1.0,
        soft_tissue_probability=1.0,
    )
    images = torch.full((4, 1, 64, 64), -1000.0)
    images[:, :, 16:48, 16:48] = 110.0
    labels = torch.zeros(4, 1, 64, 64)
    labels[:, :, 20:44, 20:44] = 1.0
    out_images, out_labels = augment_batch(images, labels, still, torch.Generator().manual_seed(1))
    assert torch.equal(out_labels, labels)
    assert torch.isfinite(out_images).all()
    spleen_change = (out_images[:, 0, 30, 30] - 110.0).abs()
    assert float(spleen_change.max()) > 5.0  # contrast phase moved the organ
    # zoom-out down to 0.55 shows small cross-sections: the label can shrink to a third
    labels_big = torch.zeros(16, 1, 96, 96)
    labels_big[:, :, 24:72, 24:72] = 1.0
    _, warped = augment_batch(
        torch.zeros(16, 1, 96, 96), labels_big, ROBUST_CT_AUGMENTATION,
        torch.Generator().manual_seed(2),
    )  # fmt: skip
    ratios = warped.flatten(1).sum(1) / labels_big.flatten(1).sum(1)
    assert float(ratios.min()) < 0.6


def test_small_cross_sections_are_drawn_more_often():
    case = _case([100.0, 100.0, 0.0], [1, 8, 0], (0, 1, 2))  # areas 8 and 64 pixels
    data = SliceSet([case])
    pairs, foreground = data.index()
    generator = torch.Generator().manual_seed(0)
    picks = []
    for _ in range(300):
        _, labels = sample_batch(
            data, pairs, foreground, 1, 8, 1.0, generator, small_section_power=1.0
        )
        picks.append(int(labels.sum()))
    small, big = picks.count(8), picks.count(64)
    # weights 1/8 : 1/64 -> the small section 8 times as often (about 267 of 300)
    assert small > 5 * big and small + big == 300


def test_the_inferior_block_can_be_held_out(tmp_path):
    cases = find_cases(phantom_dataset(tmp_path, cases=1))
    model_config = ModelConfig(target_spacing_mm=4.0, depth=2, pad_multiple=4)
    split = {}
    for block in ("superior", "inferior"):
        config = TrainConfig(patch_size=32, val_fraction=0.2, val_slice_block=block)
        train_set, val_set, split[block] = split_and_prepare(cases, config, model_config)
        held = split[block]["val_slices"]
        assert val_set.count == held[1] - held[0] + 1
        assert not set(range(held[0], held[1] + 1)) & set(train_set.cases[0].positions)
    assert split["inferior"]["val_slices"][0] < split["superior"]["val_slices"][0]


def test_score_slices_reports_the_smallest_cross_sections():
    ref = np.zeros((10, 10, 4), np.uint8)
    ref[:2, :2, 0] = 1  # 4 pixels: the smallest section
    ref[:5, :5, 1] = 1
    ref[:8, :8, 2] = 1
    pred = ref.copy()
    pred[..., 0] = 0  # the tip is missed
    row = score_slices(pred, ref, voxel_ml=1.0)
    assert [s["slice"] for s in row["smallest_sections"]] == [0, 1]
    assert row["smallest_sections"][0]["dice"] == 0.0
    assert row["volume_ml"] == 89.0 and row["reference_ml"] == 93.0
    assert row["per_slice_dice"][3] is None  # neither mask has spleen there


def test_intensity_curves_keep_or_swap_the_order_and_leave_the_background():
    window = (-175.0, 250.0)
    image = torch.tensor([-1024.0, -175.0, -100.0, 0.0, 60.0, 120.0, 200.0, 240.0])
    inside = image > window[0]
    monotonic = IntensityRemapSettings(non_monotonic_probability=0.0, inversion_probability=0.0)
    inverted = IntensityRemapSettings(non_monotonic_probability=0.0, inversion_probability=1.0)
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        kept = remap_intensities(image, window, monotonic, generator)
        flipped = remap_intensities(image, window, inverted, generator)
        for out in (kept, flipped):
            assert torch.equal(out[~inside], image[~inside])  # air and padding stay
            assert float(out.min()) >= -1024.0 and float(out[inside].max()) <= window[1]
        assert torch.all(torch.diff(kept[inside]) >= -1e-3)  # brighter stays brighter
        assert torch.all(torch.diff(flipped[inside]) <= 1e-3)  # inverted: darker
    # non-monotonic curves do happen: some draw swaps the order of two tissues
    free = IntensityRemapSettings(non_monotonic_probability=1.0, inversion_probability=0.0)
    swapped = [
        bool(torch.any(torch.diff(remap_intensities(image, window, free,
                                                    torch.Generator().manual_seed(seed))[inside]) < 0))
        for seed in range(20)
    ]  # fmt: skip
    assert any(swapped)
