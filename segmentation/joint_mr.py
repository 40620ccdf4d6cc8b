"""Joint CT+MR training: MR spleens as extra shapes for a CT model.

The shared CT holds the middle ~40 mm of one spleen; the 12 T2-SPIR MR patients of
``mr_spleen_chaos`` hold whole spleens, tips and domes included. Their slices join a
CT model's training set as shape examples only:

- each MR volume is normalized on its own (its 0.5-99.5 percentile range,
  :func:`segmentation.preprocessing.robust_range`) and that range is laid onto the CT
  model's HU window, so after windowing an MR slice spans 0..1 like a CT slice, and
  the MR background sits at the window's bottom like air;
- every drawn MR slice goes through a random intensity curve (monotonic or not,
  inverted, gamma: :data:`segmentation.augmentation.MR_SHAPE_REMAP`), so MR's
  appearance carries no information and only the outline is worth learning;
- the MR slices are a group with a fixed share of each batch
  (``TrainConfig.joint_mr_share``); the CT slices keep the rest, so the CT is still drawn
  most often although it has far fewer slices;
- they are training data only: validation stays on the CT's held-out slices.

The MR data are CC BY-NC-SA 4.0; a CT model trained with them inherits those terms
(:data:`LICENCE_NOTE`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from segmentation.augmentation import MR_SHAPE_REMAP, IntensityRemapSettings
from segmentation.config import ModelConfig
from segmentation.datasets import find_cases, load_case
from segmentation.preprocessing import robust_range
from segmentation.slice_data import CaseSlices, case_slices

log = logging.getLogger(__name__)

MR_GROUP = "MR"
LICENCE_NOTE = (
    "trained with the CHAOS T2-SPIR MR cases (CC BY-NC-SA 4.0): the weights inherit "
    "those terms (non-commercial, attribution, share-alike)"
)


def onto_window(array: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """An MR volume with its own robust range laid onto ``window`` (float32)."""
    low, high = robust_range(array)
    scale = (float(window[1]) - float(window[0])) / (high - low)
    scaled = np.asarray(array, dtype=np.float32) - np.float32(low)
    scaled *= np.float32(scale)
    scaled += np.float32(window[0])
    return scaled


def mr_shape_slices(
    folder: str | Path,
    config: ModelConfig,
    patch_size: int,
    remap: IntensityRemapSettings = MR_SHAPE_REMAP,
) -> list[CaseSlices]:
    """Every slice of every MR case in an MSD-layout ``folder``, ready to join a CT training set.

    Slices are taken along the CT model's axis on its pixel grid; each case is in
    group :data:`MR_GROUP` and carries ``remap`` for the sampler.
    """
    window = tuple(float(v) for v in config.hu_window)
    slices = []
    for case in find_cases(Path(folder)):
        volume, label = load_case(case)
        item = case_slices(
            case.name, onto_window(volume.array, window), label, volume.spacing, config, patch_size
        )
        item.group, item.remap, item.remap_window = MR_GROUP, remap, window
        slices.append(item)
    log.info(
        "joint MR: %d cases, %d slices (%d with spleen)",
        len(slices),
        sum(len(item.images) for item in slices),
        sum(int(item.foreground.sum()) for item in slices),
    )
    return slices
