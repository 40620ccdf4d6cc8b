"""Training and validation slices on the model grid, held in memory.

Every case is preprocessed once: slices along the model's axis are resampled in HU
to the model's pixel size (the same :mod:`segmentation.preprocessing` steps as
inference) and padded with air to at least the training patch size. Batches then
crop fixed-size patches, preferring slices that contain spleen (optionally the ones
with the smallest spleen cross-sections, the tip and dome, more often) and optionally
averaging neighbours into a thick slice. Cases may belong to groups drawn with a fixed
share of the batch (joint CT+MR training: the MR slices, shapes only, get a set share
and a random intensity curve of their own; :mod:`segmentation.joint_mr`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from segmentation.augmentation import AIR_HU, IntensityRemapSettings, remap_intensities
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
    slice_mm: float = 0.0  # spacing along the slicing axis
    positions: tuple[int, ...] = ()  # each slice's index in its volume
    # A group other than "" is drawn with the share SliceSet.group_shares gives it.
    group: str = ""
    # Each drawn slice of this case goes through a random intensity curve on this window.
    remap: IntensityRemapSettings | None = None
    remap_window: tuple[float, float] = (0.0, 1.0)

    def neighbour(self, slice_index: int, offset: int) -> int | None:
        """Where the slice ``offset`` steps away lies in this set, or None when it is absent."""
        target = slice_index + offset
        if not self.positions or not 0 <= target < len(self.positions):
            return None
        if self.positions[target] != self.positions[slice_index] + offset:
            return None
        return target

    @property
    def foreground(self) -> torch.Tensor:
        return self.labels.flatten(1).any(dim=1)


@dataclass
class SliceSet:
    """Slices of several cases with an index of (case, slice) pairs."""

    cases: list[CaseSlices] = field(default_factory=list)
    # Share of the draws that goes to each named group; the ungrouped cases get the rest.
    group_shares: dict[str, float] = field(default_factory=dict)

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
    return CaseSlices(
        name,
        image.to(torch.float16),
        target,
        (rows, cols),
        slice_mm=float(spacing_mm[axis]),
        positions=tuple(int(i) for i in slice_indices),
    )


def slab_weights(slice_mm: float, thickness_mm: float) -> dict[int, float]:
    """Weights of the neighbours (by offset) that a slab ``thickness_mm`` thick overlaps.

    Each slice stands for ``slice_mm`` of tissue around its centre; a neighbour counts
    by the share of it inside the slab. Weights sum to 1.
    """
    if slice_mm <= 0 or thickness_mm <= slice_mm:
        return {0: 1.0}
    half = thickness_mm / 2.0
    reach = int(math.ceil(half / slice_mm - 0.5))
    weights = {}
    for offset in range(-reach, reach + 1):
        low, high = offset * slice_mm - slice_mm / 2, offset * slice_mm + slice_mm / 2
        overlap = max(0.0, min(high, half) - max(low, -half))
        if overlap > 0:
            weights[offset] = overlap
    total = sum(weights.values())
    return {offset: weight / total for offset, weight in weights.items()}


def thick_slice(case: CaseSlices, slice_index: int, thickness_mm: float):
    """``(image, label)`` of a slab around the slice: neighbours averaged by overlap.

    Neighbours missing from the set (held out, or past the volume's end) are left out
    and the rest re-weighted. The label is the averaged fraction > 0.5, as a reference
    drawn on the thick slice would be.
    """
    image = torch.zeros(case.images[slice_index].shape)
    label = torch.zeros(case.labels[slice_index].shape)
    used = 0.0
    for offset, weight in slab_weights(case.slice_mm, thickness_mm).items():
        index = case.neighbour(slice_index, offset)
        if index is None:
            continue
        image += weight * case.images[index].float()
        label += weight * case.labels[index].float()
        used += weight
    return image / used, (label / used > 0.5).to(torch.uint8)


def foreground_weights(data: SliceSet, pairs: np.ndarray, fg_indices: np.ndarray, power: float):
    """Drawing weights for spleen slices: spleen area ** -power (0: all alike)."""
    if power <= 0 or len(fg_indices) == 0:
        return None
    areas = np.array(
        [float(data.cases[pairs[i][0]].labels[pairs[i][1]].sum()) for i in fg_indices]
    )
    weights = np.maximum(areas, 1.0) ** -power
    return torch.from_numpy(weights / weights.sum())


def sample_batch(
    data: SliceSet,
    pairs: np.ndarray,
    foreground: np.ndarray,
    batch_size: int,
    patch_size: int,
    foreground_fraction: float,
    generator: torch.Generator,
    small_section_power: float = 0.0,
    thick_slice_probability: float = 0.0,
    thick_slice_mm: tuple[float, float] = (3.0, 5.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of ``patch_size`` crops; about ``foreground_fraction`` of them hold spleen.

    For a spleen slice the crop is placed so that a random spleen pixel lies inside it,
    so large fields of view still show the organ. ``small_section_power`` > 0 draws
    spleen slices with weight area ** -power, so the smallest cross-sections (tip,
    dome) come up more often; ``thick_slice_probability`` makes that share of the
    crops slabs ``thick_slice_mm`` thick (:func:`thick_slice`).
    """
    pools = _group_pools(data, pairs, foreground, small_section_power)
    shares = torch.tensor([pool[0] for pool in pools], dtype=torch.float64)
    images, labels = [], []
    for _ in range(batch_size):
        # One group only (every run without joint data): no draw, the batches stay as before.
        group = 0 if len(pools) == 1 else int(torch.multinomial(shares, 1, generator=generator))
        _, members, fg_indices, fg_weights = pools[group]
        want_fg = len(fg_indices) > 0 and float(torch.rand(1, generator=generator)) < (
            foreground_fraction
        )
        pool = fg_indices if want_fg else members
        if want_fg and fg_weights is not None:
            pick = pool[int(torch.multinomial(fg_weights, 1, generator=generator))]
        else:
            pick = pool[int(torch.randint(len(pool), (1,), generator=generator))]
        case_index, slice_index = pairs[pick]
        case = data.cases[case_index]
        image, label = case.images[slice_index], case.labels[slice_index]
        if thick_slice_probability > 0 and (
            float(torch.rand(1, generator=generator)) < thick_slice_probability
        ):
            low, high = thick_slice_mm
            thickness = low + (high - low) * float(torch.rand(1, generator=generator))
            image, label = thick_slice(case, slice_index, thickness)
        if case.remap is not None:
            image = remap_intensities(image, case.remap_window, case.remap, generator)
        rows, cols = image.shape[-2:]
        top = _crop_start(rows, patch_size, label.any(dim=(0, 2)), generator)
        left = _crop_start(cols, patch_size, label.any(dim=(0, 1)), generator)
        images.append(image[:, top : top + patch_size, left : left + patch_size])
        labels.append(label[:, top : top + patch_size, left : left + patch_size])
    return torch.stack(images).float(), torch.stack(labels).float()


def _group_pools(data: SliceSet, pairs: np.ndarray, foreground: np.ndarray, power: float):
    """Per group with slices: ``(share, pair indices, spleen pair indices, spleen weights)``.

    The ungrouped cases come first and get the share the named groups leave.
    """
    groups = np.array([data.cases[case_index].group for case_index in pairs[:, 0]])
    pools = []
    for name in [""] + sorted(set(groups.tolist()) - {""}):
        members = np.flatnonzero(groups == name)
        if len(members) == 0:
            continue
        fg_indices = members[foreground[members]]
        weights = foreground_weights(data, pairs, fg_indices, power)
        pools.append([data.group_shares.get(name, 0.0), members, fg_indices, weights])
    if pools and pools[0][0] == 0.0:  # the ungrouped cases (or a lone group) take the rest
        pools[0][0] = max(0.0, 1.0 - sum(pool[0] for pool in pools[1:]))
    return pools


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
