"""From a canonical volume to network input and back, with an exact inverse.

The network sees slices along one canonical axis, with intensities windowed to
0..1, resampled in-plane to a fixed pixel size, and padded at the far edges to a
multiple of the network's stride. :class:`SliceGeometry` records every size involved
so :func:`from_model_grid` maps the output back onto the source pixels: forward and
backward resampling both use ``align_corners=False`` with explicit sizes, so the
first and last source pixel edges coincide with the first and last model pixel
edges and no half-pixel shift creeps in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from segmentation.config import ModelConfig


@dataclass(frozen=True)
class SliceGeometry:
    """Sizes of one slicing direction's in-plane grid before and after preprocessing.

    source_shape: in-plane shape on the volume's grid (rows, cols).
    source_spacing_mm: pixel size of those rows and columns.
    resampled_shape: shape after resampling to (about) the target spacing.
    padded_shape: resampled shape padded up to a multiple of the network stride.
    """

    source_shape: tuple[int, int]
    source_spacing_mm: tuple[float, float]
    resampled_shape: tuple[int, int]
    padded_shape: tuple[int, int]

    @property
    def model_spacing_mm(self) -> tuple[float, float]:
        """The exact pixel size the network sees (edge-to-edge extent over pixel count)."""
        return tuple(  # type: ignore[return-value]
            n * s / m
            for n, s, m in zip(
                self.source_shape, self.source_spacing_mm, self.resampled_shape, strict=False
            )
        )

    @property
    def needs_resampling(self) -> bool:
        return tuple(self.source_shape) != tuple(self.resampled_shape)


def in_plane_axes(axis: int) -> tuple[int, int]:
    """The two canonical axes that span a slice taken along ``axis``, in array order."""
    return tuple(a for a in range(3) if a != axis)  # type: ignore[return-value]


def slice_geometry(
    volume_shape: tuple[int, ...],
    spacing_mm: tuple[float, ...],
    axis: int,
    target_spacing_mm: float,
    pad_multiple: int,
) -> SliceGeometry:
    """Work out the resampled and padded in-plane shapes for slices along ``axis``."""
    rows, cols = in_plane_axes(axis)
    source_shape = (int(volume_shape[rows]), int(volume_shape[cols]))
    source_spacing = (float(spacing_mm[rows]), float(spacing_mm[cols]))
    if target_spacing_mm and target_spacing_mm > 0:
        resampled = tuple(
            max(1, int(round(n * s / target_spacing_mm)))
            for n, s in zip(source_shape, source_spacing, strict=False)
        )
    else:
        resampled = source_shape
    padded = tuple(int(math.ceil(n / pad_multiple) * pad_multiple) for n in resampled)
    return SliceGeometry(source_shape, source_spacing, resampled, padded)  # type: ignore[arg-type]


def window_to_unit(array: np.ndarray | torch.Tensor, hu_window: tuple[float, float]):
    """Map intensities ``low..high`` linearly to 0..1 and clip outside (numpy or torch)."""
    low, high = float(hu_window[0]), float(hu_window[1])
    scale = 1.0 / (high - low)
    if isinstance(array, torch.Tensor):
        return ((array.float() - low) * scale).clamp_(0.0, 1.0)
    return np.clip((np.asarray(array, dtype=np.float32) - low) * scale, 0.0, 1.0)


PERCENTILE_RANGE = (0.5, 99.5)
NORMALIZED_SCALE = 1000.0


def robust_range(array: np.ndarray) -> tuple[float, float]:
    """The volume's 0.5th and 99.5th intensity percentiles, from a subsample of at most 1 M voxels.

    When most of the image is exactly zero (MR background, a cropped field of view) the
    zeros are left out, so the range describes the body, not the empty border.
    """
    flat = np.asarray(array).ravel(order="K")
    sample = flat[:: max(1, flat.size // 1_000_000)].astype(np.float32, copy=False)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    nonzero = sample[sample != 0]
    if nonzero.size > 0.05 * sample.size:
        sample = nonzero
    low, high = (float(v) for v in np.percentile(sample, PERCENTILE_RANGE))
    return low, high if high > low else low + 1.0


def normalize_volume(array: np.ndarray, config: ModelConfig) -> np.ndarray:
    """The intensities the model's ``hu_window`` expects, for the whole volume at once.

    A ``"window"`` model (CT, HU) gets the array untouched (no copy). A ``"percentile"``
    model (MR) gets the volume rescaled so its own robust range spans 0..1000: one
    scanner's or patient's arbitrary MR scale then looks like another's. It is done per
    volume, never per slice, so a slice with little tissue is not stretched.
    """
    if config.intensity != "percentile":
        return array
    low, high = robust_range(array)
    scaled = np.asarray(array, dtype=np.float32) - np.float32(low)
    scaled *= np.float32(NORMALIZED_SCALE / (high - low))
    return scaled


def slice_stack(
    array: np.ndarray, axis: int, indices: np.ndarray | list[int], context_slices: int = 0
) -> np.ndarray:
    """Slices ``indices`` along ``axis`` as ``(N, C, rows, cols)`` float32 (C = 2*context+1).

    Neighbouring slices for 2.5D input are clamped at the volume's ends (the edge slice
    repeats), so every slice has a full stack.
    """
    indices = np.asarray(indices, dtype=int)
    count = array.shape[axis]
    offsets = np.arange(-context_slices, context_slices + 1)
    neighbours = np.clip(indices[:, None] + offsets[None, :], 0, count - 1)  # (N, C)
    taken = np.take(array, neighbours.ravel(), axis=axis)  # axis now holds N*C
    taken = np.moveaxis(taken, axis, 0)
    rows, cols = taken.shape[1], taken.shape[2]
    return np.ascontiguousarray(
        taken.reshape(len(indices), len(offsets), rows, cols), dtype=np.float32
    )


def to_model_grid(
    batch: torch.Tensor, geometry: SliceGeometry, pad_value: float = 0.0
) -> torch.Tensor:
    """Resample ``(N, C, rows, cols)`` windowed slices to the model grid and pad.

    Downsampling uses antialiasing so that a fine-pixel scanner and a coarse one give
    the network the same picture; padding goes at the far rows/columns only, so
    :func:`from_model_grid` simply crops it off.
    """
    if geometry.needs_resampling:
        downsampling = any(
            m < n for m, n in zip(geometry.resampled_shape, geometry.source_shape, strict=False)
        )
        batch = F.interpolate(
            batch,
            size=geometry.resampled_shape,
            mode="bilinear",
            align_corners=False,
            antialias=downsampling,
        )
    pad_rows = geometry.padded_shape[0] - geometry.resampled_shape[0]
    pad_cols = geometry.padded_shape[1] - geometry.resampled_shape[1]
    if pad_rows or pad_cols:
        batch = F.pad(batch, (0, pad_cols, 0, pad_rows), value=pad_value)
    return batch


def from_model_grid(output: torch.Tensor, geometry: SliceGeometry) -> torch.Tensor:
    """Exact inverse of :func:`to_model_grid` for ``(N, C, H, W)`` network output.

    Crops the padding, then resamples bilinearly back to the source in-plane shape
    with the same edge alignment as the forward step.
    """
    rows, cols = geometry.resampled_shape
    output = output[:, :, :rows, :cols]
    if geometry.needs_resampling:
        output = F.interpolate(
            output, size=geometry.source_shape, mode="bilinear", align_corners=False
        )
    return output


def prepare_batch(
    array: np.ndarray,
    indices: np.ndarray | list[int],
    config: ModelConfig,
    geometry: SliceGeometry,
) -> torch.Tensor:
    """Slices ``indices`` of a canonical volume as network input ``(N, C, H, W)`` on the CPU.

    Resampling happens on the raw intensities and the window afterwards, exactly as in
    training (where augmentation works in HU before windowing), so a pixel that blends
    spleen with air or bone looks the same to the network in both.
    """
    stack = slice_stack(array, config.axis, indices, config.context_slices)
    resampled = to_model_grid(torch.from_numpy(stack), geometry, pad_value=config.hu_window[0])
    return window_to_unit(resampled, config.hu_window)


def prepare_label_batch(
    mask: np.ndarray, indices: np.ndarray | list[int], config: ModelConfig, geometry: SliceGeometry
) -> torch.Tensor:
    """Label slices on the model grid as 0..1 soft targets ``(N, 1, H, W)`` (for training)."""
    stack = slice_stack((mask > 0).astype(np.float32), config.axis, indices, 0)
    return to_model_grid(torch.from_numpy(stack), geometry)


def place_slices(volume_like: np.ndarray, slices: np.ndarray, indices, axis: int) -> None:
    """Write ``(N, rows, cols)`` slices back into ``volume_like`` at ``indices`` along ``axis``."""
    moved = np.moveaxis(volume_like, axis, 0)
    moved[np.asarray(indices, dtype=int)] = slices
