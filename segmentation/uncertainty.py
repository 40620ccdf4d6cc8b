"""How sure the model is, voxel by voxel and slice by slice, from its own probabilities.

The map is the binary entropy of the spleen probability, scaled to 0..1 (0: the
network is certain, 1: p = 0.5). It costs one pass over the probabilities the
inference already produced, nothing more, so it is always on, CPU included.
(Test-time augmentation or an ensemble would cost 4-8 more forward passes.)

From the same probabilities:

- the **volume range** in mL: low = the voxels the network is sure of (p >= 0.9)
  inside the mask, high = the mask plus every voxel with p >= 0.1 in a region that
  touches it, i.e. what the mask would be with a stricter or a looser threshold;
- **uncertain slices**: slices where the undecided voxels (0.1 < p < 0.9) near the
  spleen are at least as many as the voxels the mask is sure of. A missed tip (the
  network half sees the spleen but stays below 0.5) and a leak into a neighbour both
  show up this way.

Work happens inside the bounding box of ``p >= 0.1``, so a 512 x 512 CT costs a few
milliseconds per slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.measurements import voxel_volume_mm3
from segmentation.postprocess import FULL_CONNECTIVITY, foreground_box

SURE = 0.9
POSSIBLE = 0.1
UNCERTAIN_SLICE_RATIO = 1.0  # undecided voxels / sure voxels in the slice
MIN_UNCERTAIN_AREA_MM2 = 100.0


@dataclass(frozen=True)
class UncertaintySummary:
    """Per-slice figures along the slicing axis and the volume range."""

    volume_range_ml: tuple[float, float]
    undecided_per_slice: np.ndarray  # voxels with POSSIBLE < p < SURE near the spleen
    sure_per_slice: np.ndarray  # mask voxels with p >= SURE
    uncertain_slices: list[int]

    def slice_scores(self) -> np.ndarray:
        """Undecided over (undecided + sure) per slice, 0..1 (the curve the window draws)."""
        total = self.undecided_per_slice + self.sure_per_slice
        return np.where(total > 0, self.undecided_per_slice / np.maximum(total, 1), 0.0)


def entropy_map(probabilities: np.ndarray) -> np.ndarray:
    """Binary entropy of each voxel's probability, in bits (0 certain .. 1 at p = 0.5), float32."""
    p = np.clip(np.asarray(probabilities, dtype=np.float32), 1e-6, 1.0 - 1e-6)
    out = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
    out[np.asarray(probabilities) <= 1e-6] = 0.0
    return out.astype(np.float32, copy=False)


def summarize(
    probabilities: np.ndarray, mask: np.ndarray, affine: np.ndarray, axis: int
) -> UncertaintySummary:
    """Volume range, per-slice undecided / sure counts and the uncertain slices."""
    count = probabilities.shape[axis]
    undecided = np.zeros(count, dtype=np.int64)
    sure = np.zeros(count, dtype=np.int64)
    voxel_ml = voxel_volume_mm3(affine) / 1000.0
    possible = np.asarray(probabilities) >= POSSIBLE
    mask = np.asarray(mask, dtype=bool)
    if not possible.any() and not mask.any():
        return UncertaintySummary((0.0, 0.0), undecided, sure, [])
    box = foreground_box(possible | mask)
    p_box, m_box = probabilities[box], mask[box]
    possible_box = possible[box]
    # Only the regions that touch the mask count: a far-away blob is not this spleen.
    labels, _ = ndimage.label(possible_box | m_box, structure=FULL_CONNECTIVITY)
    touching = np.unique(labels[m_box])
    near = np.isin(labels, touching[touching > 0]) if m_box.any() else possible_box
    sure_box = m_box & (p_box >= SURE)
    undecided_box = near & (p_box > POSSIBLE) & (p_box < SURE)
    other_axes = tuple(a for a in range(3) if a != axis)
    start = box[axis].start
    stop = start + p_box.shape[axis]
    undecided[start:stop] = undecided_box.sum(axis=other_axes)
    sure[start:stop] = sure_box.sum(axis=other_axes)
    low = float(sure_box.sum()) * voxel_ml
    high = float((m_box | (near & possible_box)).sum()) * voxel_ml
    spacing = np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
    pixel_mm2 = float(np.prod([spacing[a] for a in other_axes]))
    flagged = (undecided * pixel_mm2 >= MIN_UNCERTAIN_AREA_MM2) & (
        undecided >= UNCERTAIN_SLICE_RATIO * sure
    )
    return UncertaintySummary(
        (round(low, 1), round(high, 1)), undecided, sure, [int(i) for i in np.flatnonzero(flagged)]
    )
