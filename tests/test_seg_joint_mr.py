"""Joint CT+MR training: MR slices join a CT model's training set as shapes, never as validation."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from segmentation.augmentation import MR_SHAPE_REMAP
from segmentation.config import ModelConfig
from segmentation.datasets import find_cases, load_case
from segmentation.joint_mr import MR_GROUP, onto_window
from segmentation.slice_data import CaseSlices, SliceSet, sample_batch
from segmentation.training import TrainConfig, split_and_prepare
from tests.seg_support import phantom_dataset

torch.set_num_threads(1)
WINDOW = (-175.0, 250.0)


def mr_like_dataset(folder):
    """Phantom cases on an arbitrary positive MR-like scale (no HU), MSD layout."""
    data = phantom_dataset(folder, cases=2)
    for path in sorted((data / "imagesTr").iterdir()):
        image = nib.load(path)
        values = (np.asarray(image.dataobj, dtype=np.float32) + 1024.0) * 3.7
        nib.save(nib.Nifti1Image(values, image.affine), path)
    return data


def test_an_mr_volume_is_laid_onto_the_ct_window():
    generator = np.random.default_rng(0)
    mr = generator.uniform(200.0, 3000.0, size=(40, 40, 10)).astype(np.float32)
    mapped = onto_window(mr, WINDOW)
    low, high = np.percentile(mapped, (0.5, 99.5))
    assert low == pytest.approx(WINDOW[0], abs=1.0) and high == pytest.approx(WINDOW[1], abs=1.0)
    # monotonic: brighter stays brighter
    order = np.argsort(mr.ravel())
    assert np.all(np.diff(mapped.ravel()[order]) >= -1e-3)


def test_joint_training_set_adds_mr_shapes_to_training_only(tmp_path):
    ct_cases = find_cases(phantom_dataset(tmp_path / "ct", cases=1))
    mr_folder = mr_like_dataset(tmp_path / "mr")
    model_config = ModelConfig(target_spacing_mm=4.0, depth=2, pad_multiple=4)
    config = TrainConfig(patch_size=32, val_fraction=0.2, joint_mr=str(mr_folder))
    train_set, val_set, split = split_and_prepare(ct_cases, config, model_config)

    # validation is the CT's superior block alone; every MR case is training data
    assert [case.name for case in val_set.cases] == [ct_cases[0].name]
    assert split["by"] == "slices" and split["val_slices"]
    assert split["joint_mr_cases"] == ["spleen_0", "spleen_1"]
    ct, *mr = train_set.cases
    assert ct.group == "" and ct.remap is None
    assert [case.group for case in mr] == [MR_GROUP, MR_GROUP]
    assert all(case.remap == MR_SHAPE_REMAP for case in mr)
    assert train_set.group_shares == {MR_GROUP: config.joint_mr_share}

    for case, source in zip(mr, find_cases(mr_folder), strict=True):
        volume, label = load_case(source)
        # every slice, with its label: spleen slices and pixels where the label has them
        assert len(case.images) == volume.shape[2]
        assert case.foreground.tolist() == label.any(axis=(0, 1)).tolist()
        spleen_mm2 = float(label.sum()) * volume.spacing[0] * volume.spacing[1]
        assert float(case.labels.sum()) * 16.0 == pytest.approx(spleen_mm2, rel=0.05)
        # MR values now sit on the CT window (not 1000s of arbitrary units); the
        # padding and MR background are at or below its bottom, as air is in CT
        body = case.images[case.images > -1000.0].float()
        assert float(torch.quantile(body, 0.99)) <= WINDOW[1] + 1.0
        assert float(body.min()) >= WINDOW[0] - 20.0


def _uniform_case(value: float, spleen: bool, group: str = "", remap=None) -> CaseSlices:
    images = torch.full((3, 1, 8, 8), value, dtype=torch.float16)
    labels = torch.full((3, 1, 8, 8), int(spleen), dtype=torch.uint8)
    return CaseSlices(
        group or "ct", images, labels, (8, 8), 2.0, (0, 1, 2), group, remap, WINDOW
    )


def test_the_mr_group_gets_its_share_of_the_batch_and_a_new_look_each_draw():
    ct = _uniform_case(100.0, spleen=True)
    mr = _uniform_case(100.0, spleen=False, group=MR_GROUP, remap=MR_SHAPE_REMAP)
    data = SliceSet([ct, mr], group_shares={MR_GROUP: 0.3})
    pairs, foreground = data.index()
    generator = torch.Generator().manual_seed(0)
    images, labels = sample_batch(data, pairs, foreground, 600, 8, 0.7, generator)
    from_ct = labels.flatten(1).any(dim=1)
    # MR's spleen-free slices are drawn only through its own 30 % share
    assert 0.64 < float(from_ct.float().mean()) < 0.76
    assert torch.all(images[from_ct] == 100.0)  # CT slices keep their HU
    mr_values = images[~from_ct][:, 0, 0, 0]
    assert float(mr_values.std()) > 50.0  # each MR draw looks different
    assert float(mr_values.min()) >= WINDOW[0] and float(mr_values.max()) <= WINDOW[1]
