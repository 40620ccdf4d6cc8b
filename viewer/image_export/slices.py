"""How a slice of the canonical grid becomes a PNG image, and how PNG files are read back.

Each PNG shows a slice the way the window does in radiological mode: patient left on
the image's right, anterior (axial) or superior (coronal, sagittal) at the top,
anterior on the left of sagittal. On the canonical grid (voxel axes toward R, A, S)
that is both in-plane axes reversed: pixel (row r, column c) of slice k is voxel
``h = H-1-c`` and ``v = V-1-r`` along the view's (horizontal, vertical) axes. The
manifest writes this down as an integer matrix (:func:`pixel_to_voxel`), so nothing
needs to know the convention to place a pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError
from viewer.grid import IN_PLANE_AXES, view_of_axis

SLICE_NAME = "slice_{index:04d}.png"


def slice_name(index: int) -> str:
    """File name of slice ``index`` (0-based in canonical order; names count from 1)."""
    return SLICE_NAME.format(index=index + 1)


def in_plane_axes(axis: int) -> tuple[int, int]:
    return IN_PLANE_AXES[view_of_axis(axis)]


def png_shape(shape: tuple[int, int, int], axis: int) -> tuple[int, int]:
    """(rows, columns) of every PNG of a volume of ``shape`` cut along ``axis``."""
    horizontal, vertical = in_plane_axes(axis)
    return int(shape[vertical]), int(shape[horizontal])


def pixel_to_voxel(shape: tuple[int, int, int], axis: int) -> np.ndarray:
    """4 x 4 integer matrix from (column, row, slice, 1) to canonical voxel (i, j, k, 1)."""
    horizontal, vertical = in_plane_axes(axis)
    matrix = np.zeros((4, 4), dtype=int)
    matrix[horizontal, 0], matrix[horizontal, 3] = -1, shape[horizontal] - 1
    matrix[vertical, 1], matrix[vertical, 3] = -1, shape[vertical] - 1
    matrix[axis, 2] = 1
    matrix[3, 3] = 1
    return matrix


def cut(array: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` along ``axis`` as a (rows, columns) image."""
    horizontal, vertical = in_plane_axes(axis)
    plane = np.take(array, index, axis=axis)  # axes (horizontal, vertical) remain in order
    return np.ascontiguousarray(plane[::-1, ::-1].T)


def place(image: np.ndarray, array: np.ndarray, axis: int, index: int) -> None:
    """Write a (rows, columns) image back into slice ``index`` of ``array`` (inverse of cut)."""
    plane = image.T[::-1, ::-1]
    selector = [slice(None)] * 3
    selector[axis] = index
    array[tuple(selector)] = plane


# ------------------------------------------------------------------ PNG files
def write_png(path: Path, image: np.ndarray) -> None:
    """An 8-bit (uint8) or 16-bit (uint16) greyscale PNG, lossless, no text chunks."""
    from PIL import Image

    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG slices are uint8 or uint16, not {image.dtype}")
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<")))
    if picture.mode not in ("L", "I;16"):
        raise TypeError(f"Pillow made a {picture.mode} image of {image.dtype} pixels")
    picture.save(path, format="PNG", compress_level=1)


def read_png(path: Path, *, sixteen_bit: bool) -> np.ndarray:
    """The pixel values of one PNG slice; a one-line error for what cannot be a slice.

    Mask layers edited by an outside tool come back in many modes: greyscale,
    palette (the indices are the labels), or RGB/RGBA with equal channels. A layer
    painted in colour has no single label per pixel, so it is refused.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened
    except FileNotFoundError:
        raise SpleenScopeError(
            f"{path.parent.name}/{path.name}: missing; every slice of the export must be there"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise SpleenScopeError(
            f"{path.parent.name}/{path.name}: not a readable PNG ({type(error).__name__}); "
            "save it again as PNG"
        ) from None
    mode = image.mode
    if sixteen_bit:
        if mode not in ("I;16", "I"):
            raise SpleenScopeError(
                f"{path.parent.name}/{path.name}: the stored-value images must stay 16-bit "
                f"greyscale PNG (found mode {mode}); export again instead of editing them"
            )
        return np.asarray(image).astype(np.int64)
    if mode in ("L", "P", "1"):
        return np.asarray(image).astype(np.int64)
    if mode in ("I;16", "I"):
        return np.asarray(image).astype(np.int64)
    if mode in ("RGB", "RGBA", "LA"):
        pixels = np.asarray(image).astype(np.int64)
        colour = pixels[..., :3] if mode != "LA" else pixels[..., :1]
        if not np.all(colour == colour[..., :1]):
            raise SpleenScopeError(
                f"{path.parent.name}/{path.name}: a colour image; save mask layers as greyscale "
                "(or palette) PNG whose values are the labels"
            )
        return colour[..., 0]
    raise SpleenScopeError(
        f"{path.parent.name}/{path.name}: PNG mode {mode} is not a greyscale slice; "
        "save it as greyscale PNG"
    )
