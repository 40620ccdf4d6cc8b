"""Training and validation slices on the model grid, held in memory.

Every case is preprocessed once: slices along the model's axis are resampled in HU
to the model's pixel size (the same :mod:`segmentation.preprocessing` steps as
inference) and padded with air to at least the training patch size. Batches then
crop fixed-size patches, preferring slices that contain spleen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from segmentation.augmentation import AIR_HU
from segmentation.config import ModelConfig
from segmentation.preprocessing import slice_geometry, slice_stack, to_model_grid

log = logging.getLogger(__name__)


@dataclass
class CaseSlices:
    """One case's slices on the model grid: images in HU (float16), labels uint8."""

    name: str
    images: torch.Tensor  # (S, C, H, W) float16 HU
    labels: torch.Tensor  # (S, 1, H, W) uint8
    valid_shape: tuple[int, int]  # resampled size before padding

    @property
    def foreground(self) -> torch.Tensor:
        return self.labels.flatten(1).any(dim=1)


@dataclass
class SliceSet:
    """Slices of several cases with an index of (case, slice) pairs."""

    cases: list[CaseSlices] = field(default_factory=list)

    def add(self, case: CaseSlices) -> None:
        self.cases.append(case)

    @property
    def count(self) -> int:
        return sum(len(case.images) for case in self.cases)

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """All (case, slice) pairs and whether each slice holds spleen."""
        pairs, foreground = [], []
        for case_index, case in enumerate(self.cases):
            for slice_index, fg in enumerate(case.foreground.tolist()):
                pairs.append((case_index, slice_index))
                foreground.append(fg)
        return np.asarray(pairs, dtype=int).reshape(-1, 2), np.asarray(foreground, dtype=bool)


def case_slices(
    name: str,
    array: np.ndarray,
    label: np.ndarray,
    spacing_mm: tuple[float, float, float],
    config: ModelConfig,
    patch_size: int,
    slice_indices: np.ndarray | None = None,
) -> CaseSlices:
    """Preprocess the chosen slices of one canonical volume and its label."""
    axis = config.axis
    if slice_indices is None:
        slice_indices = np.arange(array.shape[axis])
    geometry = slice_geometry(array.shape, spacing_mm, axis, config.target_spacing_mm, 1)
    images, labels = [], []
    for start in range(0, len(slice_indices), 32):  # bounded memory for big volumes
        chunk = slice_indices[start : start + 32]
        stack = torch.from_numpy(slice_stack(array, axis, chunk, config.context_slices))
        images.append(to_model_grid(stack, geometry, pad_value=AIR_HU))
        mask = torch.from_numpy(slice_stack((label > 0).astype(np.float32), axis, chunk))
        labels.append(to_model_grid(mask, geometry) > 0.5)
    image = torch.cat(images)
    target = torch.cat(labels)
    rows, cols = image.shape[-2:]
    pad_rows = max(patch_size, int(math.ceil(rows / config.pad_multiple) * config.pad_multiple))
    pad_cols = max(patch_size, int(math.ceil(cols / config.pad_multiple) * config.pad_multiple))
    image = F.pad(image, (0, pad_cols - cols, 0, pad_rows - rows), value=AIR_HU)
    target = F.pad(target.to(torch.uint8), (0, pad_cols - cols, 0, pad_rows - rows))
    return CaseSlices(name, image.to(torch.float16), target, (rows, cols))


def sample_batch(
    data: SliceSet,
    pairs: np.ndarray,
    foreground: np.ndarray,
    batch_size: int,
    patch_size: int,
    foreground_fraction: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of ``patch_size`` crops; about ``foreground_fraction`` of them hold spleen.

    For a spleen slice the crop is placed so that a random spleen pixel lies inside it,
    so large fields of view still show the organ.
    """
    fg_indices = np.flatnonzero(foreground)
    images, labels = [], []
    for _ in range(batch_size):
        want_fg = len(fg_indices) > 0 and float(torch.rand(1, generator=generator)) < (
            foreground_fraction
        )
        pool = fg_indices if want_fg else np.arange(len(pairs))
        pick = pool[int(torch.randint(len(pool), (1,), generator=generator))]
        case_index, slice_index = pairs[pick]
        case = data.cases[case_index]
        image, label = case.images[slice_index], case.labels[slice_index]
        rows, cols = image.shape[-2:]
        top = _crop_start(rows, patch_size, label.any(dim=(0, 2)), generator)
        left = _crop_start(cols, patch_size, label.any(dim=(0, 1)), generator)
        images.append(image[:, top : top + patch_size, left : left + patch_size])
        labels.append(label[:, top : top + patch_size, left : left + patch_size])
    return torch.stack(images).float(), torch.stack(labels).float()


def _crop_start(length: int, patch: int, foreground_line: torch.Tensor, generator) -> int:
    if length <= patch:
        return 0
    hits = torch.nonzero(foreground_line).flatten()
    if len(hits):
        anchor = int(hits[int(torch.randint(len(hits), (1,), generator=generator))])
        low, high = max(0, anchor - patch + 1), min(length - patch, anchor)
    else:
        low, high = 0, length - patch
    return int(torch.randint(low, high + 1, (1,), generator=generator))
