"""Inference end to end on phantoms: geometry, volume, progress, cancel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from segmentation.config import ModelConfig
from segmentation.inference import SegmentationCancelled, segment_volume
from segmentation.metrics import dice_iou
from segmentation.model_file import LoadedModel, default_metadata, save_model
from segmentation.preprocessing import window_to_unit
from segmentation.unet import build_network
from tests.seg_support import IntensityOracle
from viewer.phantom import SOFT_TISSUE_HU, SPLEEN_HU, make_phantom

torch.set_num_threads(2)
CONFIG = ModelConfig(target_spacing_mm=2.0)


def oracle_model() -> LoadedModel:
    """Calls 'spleen' halfway between soft tissue and spleen and above: perfect on the phantom."""
    low = float(window_to_unit(np.array([(SOFT_TISSUE_HU + SPLEEN_HU) / 2]), CONFIG.hu_window)[0])
    high = float(window_to_unit(np.array([SPLEEN_HU + 60.0]), CONFIG.hu_window)[0])
    return LoadedModel(IntensityOracle(low, high), CONFIG, default_metadata("oracle"))


# The oracle calls a pixel spleen above 75 HU, halfway between soft tissue (40) and
# spleen (110): unbiased where the spleen borders soft tissue, as in the abdomen. In
# the narrow first field of view the default spleen pokes through the body wall into
# the fat (-100 HU) and almost to the air; a 2 mm model pixel half spleen, half fat
# averages 5 HU, so the band oracle (not the engine) shaves that side and the volume
# comes out 1.1 % low. That case keeps its grid with the spleen moved 15 mm medially and
# 10 mm anteriorly, wholly in soft tissue; test_native_grid_... keeps the original geometry.
# Measured on that grid: spleen touching fat -1.13 % (resampled to 2 mm) but +0.03 %
# on the native grid; spleen in soft tissue -0.36 % as moved here, -0.22 % with the
# spleen left in place and a 10 % wider body, so the engine's round trip is not
# what loses the volume.
@pytest.mark.parametrize(
    "spacing, axcodes, fov, centre",
    [
        ((0.83, 1.37, 2.9), "LPS", (301, 263, 149), (-70.0, -20.0, 10.0)),
        ((1.9, 1.1, 2.0), "RAS", (333, 271, 180), (-85.0, -30.0, 10.0)),
    ],
)
def test_oracle_segmentation_recovers_the_phantom_spleen(spacing, axcodes, fov, centre):
    phantom = make_phantom(
        spacing=spacing,
        field_of_view_mm=fov,
        axcodes=axcodes,
        spleen_center_mm=centre,
        noise_hu=5.0,
    )
    volume = phantom.volume()
    result = segment_volume(volume, model=oracle_model(), device="cpu", return_probabilities=True)
    truth = phantom.canonical_mask()
    assert result.mask.shape == volume.shape and result.mask.dtype == np.uint8
    assert result.probabilities.shape == volume.shape
    assert result.probabilities.dtype == np.float32
    dice, _ = dice_iou(result.mask, truth)
    assert dice > 0.98
    assert result.measurements.volume_ml == pytest.approx(phantom.spleen_volume_ml, rel=0.01)
    assert result.slices == volume.shape[2]
    assert result.device.startswith("CPU")


def test_native_grid_round_trip_is_exact_even_where_the_spleen_touches_fat():
    """Without resampling (target spacing 0) the pipeline adds no error: 0.1 % or better."""
    phantom = make_phantom(
        spacing=(0.83, 1.37, 2.9), field_of_view_mm=(301, 263, 149), axcodes="LPS", noise_hu=5.0
    )
    native = oracle_model()
    native = LoadedModel(native.network, replace(CONFIG, target_spacing_mm=0.0), native.metadata)
    result = segment_volume(phantom.volume(), model=native, device="cpu")
    assert result.measurements.volume_ml == pytest.approx(phantom.spleen_volume_ml, rel=0.001)
    dice, _ = dice_iou(result.mask, phantom.canonical_mask())
    assert dice > 0.999


def test_progress_reports_each_batch_and_cancel_stops_within_one(tmp_path):
    phantom = make_phantom(spacing=(2.0, 2.0, 2.0), field_of_view_mm=(200, 160, 60))
    volume = phantom.volume()  # 30 slices -> 8 batches of 4
    calls: list[tuple[int, int]] = []
    result = segment_volume(
        volume,
        model=oracle_model(),
        device="cpu",
        batch_size=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(min(4 * n, 30), 30) for n in range(1, 9)]
    assert result.slices == 30

    seen: list[int] = []
    with pytest.raises(SegmentationCancelled):
        segment_volume(
            volume,
            model=oracle_model(),
            device="cpu",
            batch_size=4,
            progress=lambda done, total: seen.append(done),
            cancel=lambda: len(seen) >= 2,
        )
    assert seen == [4, 8]  # the cancel set after batch 2 stopped batch 3


def test_model_file_is_used_from_a_path_and_axis_override(tmp_path):
    config = ModelConfig(base_channels=4, depth=2, pad_multiple=4)
    path = save_model(
        tmp_path / "tiny.pt", build_network(config), config, default_metadata("tiny-untrained")
    )
    volume = make_phantom(spacing=(4.0, 4.0, 4.0), field_of_view_mm=(200, 160, 60)).volume()
    result = segment_volume(volume, model=path, device="cpu", axis="coronal")
    assert result.model_name == "tiny-untrained"
    assert result.slices == volume.shape[1] and result.axis == 1
    assert result.mask.shape == volume.shape


def test_bundled_model_on_a_simulated_other_geometry_keeps_dice_090():
    """The sample CT resampled to 0.74 mm pixels, 3 mm slices, 360 mm field of view.

    Same patient, so an upper bound, but it guards the spacing normalization: a model
    that only fit the training grid falls apart here. Measured 0.966 (model card).
    """
    from segmentation.registry import bundled_model_path
    from segmentation.train_bundled import other_geometry
    from tests.seg_support import require_sample
    from viewer.io import load_volume

    volume = load_volume(require_sample("ct_spleen_dicom"))
    label = load_volume(require_sample("ct_spleen_dicom_label.nii.gz"))
    other, reference = other_geometry(volume, (label.array > 0).astype(np.uint8))
    assert other.shape[2] == 13 and other.spacing[2] == pytest.approx(3.0)
    result = segment_volume(other, model=bundled_model_path(), device="cpu")
    dice, _ = dice_iou(result.mask, reference)
    assert dice >= 0.9, dice
    assert result.measurements.volume_ml == pytest.approx(
        float(reference.sum()) * abs(np.linalg.det(other.affine[:3, :3])) / 1000.0, rel=0.08
    )


def test_model_cache_keeps_ct_and_mr_and_rereads_a_changed_file(tmp_path):
    """Alternating CT and MR studies reads each model file once; a file rewritten on disk
    is read again (its old weights dropped), and the cache stays small."""
    import os
    import shutil

    from segmentation.inference import MODEL_CACHE_SIZE, cached_model_keys, resolve_model
    from segmentation.registry import bundled_model_path

    sources = [bundled_model_path("CT"), bundled_model_path("MR")]
    if not all(path.is_file() for path in sources):
        pytest.skip("no bundled models")
    ct, mr = (shutil.copy(path, tmp_path / path.name) for path in sources)
    first_ct, first_mr = resolve_model(ct), resolve_model(mr)
    assert first_ct.config.modality == "CT" and first_mr.config.modality == "MR"
    for _ in range(3):
        assert resolve_model(ct) is first_ct
        assert resolve_model(mr) is first_mr

    # The CT file is replaced (as training over an old name or a copy would do).
    stat = os.stat(ct)
    os.utime(ct, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    reread = resolve_model(ct)
    assert reread is not first_ct
    assert [key[0] for key in cached_model_keys()].count(str(Path(ct).resolve())) == 1
    assert resolve_model(mr) is first_mr  # the other modality's model stayed

    # More models than the cache holds: the least recently used goes first.
    extra = []
    for index in range(MODEL_CACHE_SIZE):
        extra.append(shutil.copy(sources[0], tmp_path / f"extra_{index}.pt"))
        resolve_model(extra[-1])
    keys = [key[0] for key in cached_model_keys()]
    assert len(keys) == MODEL_CACHE_SIZE
    assert str(Path(mr).resolve()) not in keys
    assert keys[-1] == str(Path(extra[-1]).resolve())
