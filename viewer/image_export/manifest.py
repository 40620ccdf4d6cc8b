"""``manifest.json``: everything needed to put the PNG slices back on their grid.

What it holds (and nothing that identifies a patient: no names, IDs, dates, UIDs,
descriptions or source paths):

- ``axis`` and ``view``: the canonical voxel axis the slices step through;
- ``shape``, ``affine``, ``spacing``: the canonical grid (voxel to RAS+ mm);
- ``source_shape``, ``source_affine``: the grid of the file that was exported, so
  masks are written back on it voxel for voxel;
- ``pixel_to_voxel``: (column, row, slice, 1) to canonical voxel, and
  ``slice_positions_mm``: the RAS+ position of pixel (0, 0) of every slice;
- ``stored``: how 16-bit PNG values map to the volume's values
  (``value = png * slope + intercept`` in ``dtype``) and whether that is exact;
- ``window``: the window of the 8-bit images; ``modality``; ``source_kind``;
- ``layers``: one folder of PNGs per mask;
- ``checksum``: SHA-256 of all of the above, so a hand-edited manifest is refused
  instead of silently putting the slices in the wrong place.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError
from viewer.io.validation import check_affine

MANIFEST_NAME = "manifest.json"
# Folders a manifest may name: plain names inside the export folder.
SAFE_FOLDER = re.compile(r"[A-Za-z0-9_]{1,64}")
FORMAT_NAME = "spleenscope-image-slices"
FORMAT_VERSION = 1
DISPLAY_FOLDER = "image8"
STORED_FOLDER = "image16"
REQUIRED_KEYS = (
    "format", "version", "axis", "view", "slice_count", "png_shape", "shape", "affine",
    "spacing", "source_shape", "source_affine", "pixel_to_voxel", "slice_positions_mm",
    "stored", "window", "modality", "source_kind", "display_folder", "stored_folder",
    "slice_file_pattern", "layers", "checksum",
)  # fmt: skip


def checksum(manifest: dict) -> str:
    """SHA-256 over every field but ``checksum`` itself, in a canonical JSON form."""
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_text(manifest: dict) -> str:
    sealed = dict(manifest)
    sealed["checksum"] = checksum(manifest)
    return json.dumps(sealed, indent=1, allow_nan=False) + "\n"


def _refuse(problem: str) -> SpleenScopeError:
    return SpleenScopeError(
        f"{MANIFEST_NAME}: {problem}; export the images again instead of editing the manifest"
    )


def read_manifest(folder: Path) -> dict:
    """The manifest of an export folder, checked; a one-line error for anything wrong."""
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise SpleenScopeError(f"{folder}: no such folder; give the folder export-images wrote")
    if not path.is_file():
        raise SpleenScopeError(
            f"{Path(folder).name}: holds no {MANIFEST_NAME}; give the folder export-images wrote"
        )
    try:
        manifest = json.loads(
            path.read_text(encoding="utf-8"),
            parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)),
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise _refuse(f"not valid JSON ({type(error).__name__})") from None
    if not isinstance(manifest, dict):
        raise _refuse("not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise _refuse(f"lacks {', '.join(missing[:3])}")
    if manifest["format"] != FORMAT_NAME or manifest["version"] != FORMAT_VERSION:
        raise _refuse(f"not a version {FORMAT_VERSION} {FORMAT_NAME} manifest")
    if manifest["checksum"] != checksum(manifest):
        raise _refuse("it was changed after export (its checksum does not match)")
    _check_consistent(manifest)
    return manifest


def _check_consistent(manifest: dict) -> None:
    """The sealed values must still describe one grid (guards against a bad writer too)."""
    try:
        shape = tuple(int(s) for s in manifest["shape"])
        axis = int(manifest["axis"])
        check_affine(np.asarray(manifest["affine"], float), source=MANIFEST_NAME)
        check_affine(np.asarray(manifest["source_affine"], float), source=MANIFEST_NAME)
        matrix = np.asarray(manifest["pixel_to_voxel"], int)
    except (TypeError, ValueError) as error:
        raise _refuse(f"holds a malformed geometry field ({type(error).__name__})") from None
    if len(shape) != 3 or axis not in (0, 1, 2) or matrix.shape != (4, 4):
        raise _refuse("describes no 3D grid")
    if int(manifest["slice_count"]) != shape[axis]:
        raise _refuse("slice_count does not match the grid")
    folders = [manifest["display_folder"], manifest["stored_folder"]]
    folders += [layer.get("folder") for layer in manifest["layers"]]
    if not all(isinstance(f, str) and SAFE_FOLDER.fullmatch(f) for f in folders):
        raise _refuse("names a folder outside the export")


def layer_names(manifest: dict) -> list[str]:
    return [str(layer["name"]) for layer in manifest["layers"]]
