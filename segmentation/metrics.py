"""Agreement between a predicted and a reference mask, in physical units.

Surface distances use scipy's Euclidean distance transform with the voxel spacing
(the norms of the affine's columns), so they are in mm on anisotropic grids; a
residual shear in the affine is ignored (it is a small angle on real scanners).
Conventions follow MONAI / medpy: HD95 is the larger of the two directed 95th
percentiles of surface-to-surface distance; ASSD is the mean of the two directed
mean surface distances.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from segmentation.measurements import voxel_volume_mm3
from viewer.volume import spacing_from_affine


@dataclass(frozen=True)
class Evaluation:
    dice: float
    iou: float
    hd95_mm: float
    assd_mm: float
    volume_pred_ml: float
    volume_ref_ml: float
    volume_diff_ml: float
    volume_diff_pct: float

    def as_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else round(float(v), 6))
            for k, v in asdict(self).items()
        }


def dice_iou(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Dice and IoU of two boolean masks; both empty counts as perfect agreement (1, 1)."""
    pred, ref = pred.astype(bool), ref.astype(bool)
    intersection = int(np.count_nonzero(pred & ref))
    total = int(np.count_nonzero(pred)) + int(np.count_nonzero(ref))
    if total == 0:
        return 1.0, 1.0
    union = total - intersection
    return 2.0 * intersection / total, intersection / union


def surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels: in the mask with at least one 6-neighbour outside it (or at the edge)."""
    mask = mask.astype(bool)
    eroded = ndimage.binary_erosion(
        mask, structure=ndimage.generate_binary_structure(3, 1), border_value=0
    )
    return mask & ~eroded


def directed_surface_distances(
    from_mask: np.ndarray, to_mask: np.ndarray, spacing: tuple[float, ...]
) -> np.ndarray:
    """Distance in mm from each surface voxel of ``from_mask`` to the nearest of ``to_mask``."""
    to_surface = surface(to_mask)
    distance_map = ndimage.distance_transform_edt(~to_surface, sampling=spacing)
    return distance_map[surface(from_mask)]


def surface_distances(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]
) -> tuple[float, float]:
    """``(hd95_mm, assd_mm)``; NaN when either mask is empty (distance undefined)."""
    if not pred.any() or not ref.any():
        return math.nan, math.nan
    pred_to_ref = directed_surface_distances(pred, ref, spacing)
    ref_to_pred = directed_surface_distances(ref, pred, spacing)
    hd95 = max(float(np.percentile(pred_to_ref, 95)), float(np.percentile(ref_to_pred, 95)))
    assd = 0.5 * (float(pred_to_ref.mean()) + float(ref_to_pred.mean()))
    return hd95, assd


def evaluate_masks(pred: np.ndarray, ref: np.ndarray, affine: np.ndarray) -> Evaluation:
    """All metrics of ``pred`` against ``ref`` (same grid, voxel->mm ``affine``)."""
    pred = np.asarray(pred) > 0
    ref = np.asarray(ref) > 0
    if pred.shape != ref.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} vs {ref.shape}")
    dice, iou = dice_iou(pred, ref)
    hd95, assd = surface_distances(pred, ref, spacing_from_affine(affine))
    voxel_ml = voxel_volume_mm3(affine) / 1000.0
    volume_pred = int(np.count_nonzero(pred)) * voxel_ml
    volume_ref = int(np.count_nonzero(ref)) * voxel_ml
    diff = volume_pred - volume_ref
    diff_pct = 100.0 * diff / volume_ref if volume_ref > 0 else math.nan
    return Evaluation(dice, iou, hd95, assd, volume_pred, volume_ref, diff, diff_pct)


def per_slice_dice(pred: np.ndarray, ref: np.ndarray, axis: int = 2) -> np.ndarray:
    """Dice of each slice along ``axis``; NaN where both masks are empty on that slice."""
    pred = np.moveaxis(np.asarray(pred) > 0, axis, 0).reshape(pred.shape[axis], -1)
    ref = np.moveaxis(np.asarray(ref) > 0, axis, 0).reshape(ref.shape[axis], -1)
    intersection = np.count_nonzero(pred & ref, axis=1).astype(float)
    total = (np.count_nonzero(pred, axis=1) + np.count_nonzero(ref, axis=1)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(total > 0, 2.0 * intersection / np.maximum(total, 1), np.nan)
    return dice


def difference_map(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """uint8 map: 0 background, 1 agreement, 2 false positive, 3 false negative."""
    pred = np.asarray(pred) > 0
    ref = np.asarray(ref) > 0
    out = np.zeros(pred.shape, dtype=np.uint8)
    out[pred & ref] = 1
    out[pred & ~ref] = 2
    out[~pred & ref] = 3
    return out
