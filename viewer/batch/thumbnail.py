"""A study's thumbnail for the worklist strip: the spleen's largest axial slice with its outline.

Drawn as the window draws an axial view in radiological convention (patient left on
screen right, anterior up) at the in-plane physical aspect. With no spleen found the
middle slice is shown without an outline, so an empty result looks empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

THUMBNAIL_NAME = "thumbnail.png"
THUMBNAIL_SIZE = 128
OUTLINE_RGB = (255, 210, 0)
CT_AIR_BELOW = -500.0  # a slice with values this low is in Hounsfield units
SOFT_TISSUE_WINDOW = (-160.0, 240.0)


def largest_slice(mask: np.ndarray) -> int | None:
    """Index of the axial slice (canonical axis 2) with the most mask voxels; None if empty."""
    per_slice = np.count_nonzero(mask.reshape(-1, mask.shape[2]), axis=0)
    return int(np.argmax(per_slice)) if per_slice.any() else None


def _to_screen(plane: np.ndarray) -> np.ndarray:
    # canonical (x toward R, y toward A) -> rows anterior at the top, patient left on the right
    return plane.T[::-1, ::-1]


def render_thumbnail(
    image: np.ndarray, mask: np.ndarray, spacing_mm: tuple[float, float, float],
    size: int = THUMBNAIL_SIZE,
) -> np.ndarray:  # fmt: skip
    """An RGB uint8 image at most ``size`` pixels on its longer side."""
    from PIL import Image
    from scipy.ndimage import binary_erosion

    index = largest_slice(mask)
    index = image.shape[2] // 2 if index is None else index
    plane = _to_screen(np.asarray(image[:, :, index], dtype=np.float32))
    if plane.size and float(plane.min()) < CT_AIR_BELOW:
        low, high = SOFT_TISSUE_WINDOW  # Hounsfield units: the abdominal window
    else:
        low, high = np.percentile(plane, (1.0, 99.0)) if plane.size else (0.0, 1.0)
    grey = np.clip((plane - low) / max(float(high - low), 1e-6), 0, 1)
    rows_mm, cols_mm = plane.shape[0] * spacing_mm[1], plane.shape[1] * spacing_mm[0]
    scale = size / max(rows_mm, cols_mm)
    shape = (max(1, round(cols_mm * scale)), max(1, round(rows_mm * scale)))
    small = Image.fromarray((grey * 255).astype(np.uint8)).resize(shape, Image.BILINEAR)
    rgb = np.repeat(np.asarray(small)[..., None], 3, axis=2)
    # The outline is drawn at the thumbnail's own resolution so it stays a closed line.
    region = _to_screen(mask[:, :, index] > 0).astype(np.uint8)
    region = np.asarray(Image.fromarray(region).resize(shape, Image.NEAREST)) > 0
    outline = region & ~binary_erosion(region)
    rgb[outline] = OUTLINE_RGB
    return rgb


def write_thumbnail(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    from viewer.atomic import atomic_path

    with atomic_path(path, suffix=".png") as temporary:
        Image.fromarray(rgb).save(temporary, format="PNG")
    return path
