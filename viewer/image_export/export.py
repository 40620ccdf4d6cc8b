"""Write a volume and its masks as per-slice PNG images plus one manifest.

Folder layout (file names carry no identifiers, only a slice number)::

    OUT/manifest.json
    OUT/image8/slice_0001.png    8-bit windowed, to look at and annotate
    OUT/image16/slice_0001.png   16-bit, the stored values (see manifest "stored")
    OUT/mask_1/slice_0001.png    one folder per mask layer, pixel value = label

Everything is written into a hidden staging folder beside ``OUT`` and renamed into
place at the end, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError
from viewer.grid import view_of_axis
from viewer.image_export import manifest as manifest_module
from viewer.image_export.slices import (
    SLICE_NAME,
    cut,
    pixel_to_voxel,
    png_shape,
    slice_name,
    write_png,
)
from viewer.volume import Volume

UINT16_LEVELS = 65535


@dataclass(frozen=True)
class StoredEncoding:
    """``value = png * slope + intercept`` in ``dtype``; ``exact`` when every voxel
    comes back bit for bit, else ``max_abs_error`` says how far off it can be."""

    slope: float
    intercept: float
    dtype: str
    exact: bool
    max_abs_error: float

    def encode(self, values: np.ndarray) -> np.ndarray:
        scaled = np.rint((values.astype(np.float64) - self.intercept) / self.slope)
        return np.clip(scaled, 0, UINT16_LEVELS).astype(np.uint16)

    def decode(self, png: np.ndarray) -> np.ndarray:
        return (png.astype(np.float64) * self.slope + self.intercept).astype(self.dtype)

    def to_dict(self) -> dict:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "dtype": self.dtype,
            "exact": self.exact,
            "max_abs_error": self.max_abs_error,
        }


def stored_encoding(array: np.ndarray) -> StoredEncoding:
    """The 16-bit encoding of ``array``: exact for integers (and float values on an
    even grid) spanning at most 65,536 levels; otherwise the finest linear one."""
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if finite.size != array.size:
        raise SpleenScopeError(
            "the volume holds NaN or infinite voxels, which a PNG cannot store; "
            "convert it to NIfTI or NRRD instead"
        )
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    dtype = str(array.dtype)
    candidates = []
    if array.dtype.kind in "iub" or np.all(finite == np.rint(finite)):
        candidates.append(1.0)
    if array.dtype.kind == "f":
        steps = np.diff(np.unique(finite))
        if steps.size:
            candidates.append(float(steps.min()))
        candidates.append((high - low) / UINT16_LEVELS if high > low else 1.0)
    for slope in candidates:
        if slope <= 0 or (high - low) / slope > UINT16_LEVELS + 0.5:
            continue
        encoding = StoredEncoding(slope, low, dtype, True, 0.0)
        error = np.abs(encoding.decode(encoding.encode(array)).astype(np.float64) - array)
        largest = float(error.max()) if error.size else 0.0
        if largest == 0.0:
            return encoding
    slope = (high - low) / UINT16_LEVELS if high > low else 1.0
    encoding = StoredEncoding(slope, low, dtype, False, 0.0)
    error = np.abs(encoding.decode(encoding.encode(array)).astype(np.float64) - array)
    return StoredEncoding(slope, low, dtype, False, float(error.max()))


def display_window(volume: Volume, window: tuple[float, float] | None) -> tuple[float, float]:
    """The window asked for, else the header's, else the 1st to 99th percentile."""
    if window is not None:
        if not window[1] > 0:
            raise SpleenScopeError("the window width must be positive; give --window CENTER WIDTH")
        return float(window[0]), float(window[1])
    if volume.window:
        return float(volume.window[0]), float(volume.window[1])
    low, high = np.percentile(volume.array, [1, 99]) if volume.array.size else (0.0, 1.0)
    return float((low + high) / 2), float(max(high - low, 1e-6))


def windowed(plane: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    center, width = window
    scaled = (plane.astype(np.float64) - (center - width / 2)) / width * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _check_masks(volume: Volume, masks: list[np.ndarray]) -> list[np.ndarray]:
    checked = []
    for number, mask in enumerate(masks, start=1):
        mask = np.asarray(mask)
        if tuple(mask.shape) != volume.shape:
            raise SpleenScopeError(
                f"mask {number} has shape {mask.shape}, not the volume's grid {volume.shape}; "
                "give a mask drawn on this volume"
            )
        if mask.dtype.kind == "f" and not np.all(mask == np.rint(mask)):
            raise SpleenScopeError(f"mask {number} holds fractional values; it is not a label map")
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise SpleenScopeError(
                f"mask {number} holds values outside 0..255; an 8-bit PNG layer cannot hold them"
            )
        checked.append(mask.astype(np.uint8))
    return checked


def check_export_folder(folder: Path, source_path: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SpleenScopeError(
            f"{folder}: already exists and is not an empty folder; choose a new folder"
        )
    if not folder.parent.is_dir():
        raise SpleenScopeError(f"{folder.parent}: no such folder; create it or choose another path")
    if source_path:
        source = Path(source_path).resolve()
        if source.is_dir() and source in folder.resolve().parents:
            raise SpleenScopeError(f"{folder}: inside the input folder; choose another folder")


def export_images(
    volume: Volume,
    folder: str | Path,
    *,
    masks: list[np.ndarray] | tuple = (),
    axis: int = 2,
    window: tuple[float, float] | None = None,
    source_kind: str = "file",
) -> dict:
    """Write ``volume`` (and ``masks`` on its canonical grid) as PNG slices along ``axis``.

    Returns the manifest (as written). ``source_kind`` is ``"dicom"`` when the volume
    came from DICOM (then ``import-images`` can write a DICOM SEG for it).
    """
    folder = Path(folder)
    check_export_folder(folder, volume.source_path)
    masks = _check_masks(volume, list(masks))
    encoding = stored_encoding(volume.array)
    chosen_window = display_window(volume, window)
    shape = volume.shape
    matrix = pixel_to_voxel(shape, axis)
    count = shape[axis]
    pixel_to_world = volume.affine @ matrix
    positions = [
        [round(float(v), 6) for v in pixel_to_world[:3] @ np.array([0, 0, k, 1.0])]
        for k in range(count)
    ]
    layers = [{"name": f"mask_{n}", "folder": f"mask_{n}"} for n in range(1, len(masks) + 1)]
    for layer, mask in zip(layers, masks, strict=True):
        layer["labels"] = [int(v) for v in np.unique(mask) if v > 0]
    manifest = {
        "format": manifest_module.FORMAT_NAME,
        "version": manifest_module.FORMAT_VERSION,
        "axis": int(axis),
        "view": view_of_axis(axis),
        "slice_count": int(count),
        "png_shape": list(png_shape(shape, axis)),
        "shape": [int(s) for s in shape],
        "affine": volume.affine.tolist(),
        "spacing": [float(s) for s in volume.spacing],
        "source_shape": [int(s) for s in volume.source_shape[:3]],
        "source_affine": volume.source_affine.tolist(),
        "pixel_to_voxel": matrix.tolist(),
        "slice_positions_mm": positions,
        "stored": encoding.to_dict(),
        "window": {"center": chosen_window[0], "width": chosen_window[1]},
        "modality": volume.modality if volume.modality in ("CT", "MR") else "",
        "source_kind": source_kind,
        "display_folder": manifest_module.DISPLAY_FOLDER,
        "stored_folder": manifest_module.STORED_FOLDER,
        "slice_file_pattern": SLICE_NAME,
        "layers": layers,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        subfolders = [manifest_module.DISPLAY_FOLDER, manifest_module.STORED_FOLDER]
        subfolders += [layer["folder"] for layer in layers]
        for name in subfolders:
            (staging / name).mkdir()
        for k in range(count):
            plane = cut(volume.array, axis, k)
            name = slice_name(k)
            write_png(
                staging / manifest_module.DISPLAY_FOLDER / name, windowed(plane, chosen_window)
            )
            write_png(staging / manifest_module.STORED_FOLDER / name, encoding.encode(plane))
            for layer, mask in zip(layers, masks, strict=True):
                write_png(staging / layer["folder"] / name, cut(mask, axis, k))
        (staging / manifest_module.MANIFEST_NAME).write_text(
            manifest_module.to_text(manifest), encoding="utf-8"
        )
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
