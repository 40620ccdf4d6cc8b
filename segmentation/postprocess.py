"""Turn a probability map into a clean spleen mask: threshold, largest 3D component, fill holes.

A spleen is one solid organ, so anything disconnected from the largest blob is a
false positive (often a loop of contrast-filled bowel or a piece of the liver tip),
and any enclosed hole is a vessel or a cyst the user still counts as spleen.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FULL_CONNECTIVITY = ndimage.generate_binary_structure(3, 3)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 26-connected component of a boolean 3D mask."""
    labels, count = ndimage.label(mask, structure=FULL_CONNECTIVITY)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray, axis: int = 2) -> np.ndarray:
    """Fill enclosed holes in 3D, then slice by slice along ``axis``.

    The 2D pass also closes holes that open onto a neighbouring slice (a vessel
    running through the hilum), which the 3D pass alone leaves open.
    """
    filled = ndimage.binary_fill_holes(mask)
    moved = np.moveaxis(filled, axis, 0)
    for index in np.flatnonzero(moved.reshape(moved.shape[0], -1).any(axis=1)):
        moved[index] = ndimage.binary_fill_holes(moved[index])
    return filled


def postprocess(
    probabilities: np.ndarray,
    threshold: float = 0.5,
    axis: int = 2,
    keep_largest: bool = True,
    fill: bool = True,
) -> np.ndarray:
    """Probabilities (any float array) to a uint8 mask (1 = spleen) on the same grid."""
    mask = np.asarray(probabilities) > threshold
    if not mask.any():
        return mask.astype(np.uint8)
    if keep_largest:
        mask = largest_component(mask)
    if fill:
        mask = fill_holes(mask, axis)
    return mask.astype(np.uint8)
