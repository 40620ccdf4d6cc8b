"""Read an export folder back: the volume from its 16-bit PNGs, masks from their layers.

The manifest is checked first (:func:`viewer.image_export.manifest.read_manifest`),
then every PNG of the chosen images: each must be there and have the exported size.
Pixels changed by an outside tool in a mask layer land on the voxels that slice came
from. Nothing is written here; the caller writes the result with ``viewer.io``'s
writers, which check the output before writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError
from viewer.image_export.manifest import layer_names, read_manifest
from viewer.image_export.slices import place, read_png, slice_name
from viewer.volume import Volume


@dataclass(frozen=True)
class ImportedImages:
    """The rebuilt volume, its mask layers by name (canonical grid), and notices."""

    volume: Volume
    layers: dict[str, np.ndarray]
    manifest: dict
    notices: tuple[str, ...]


def _read_stack(folder: Path, manifest: dict, *, sixteen_bit: bool, dtype) -> np.ndarray:
    shape = tuple(int(s) for s in manifest["shape"])
    axis = int(manifest["axis"])
    rows, columns = (int(v) for v in manifest["png_shape"])
    array = np.zeros(shape, dtype=dtype, order="F")
    limit = 65535 if sixteen_bit else 255
    for k in range(int(manifest["slice_count"])):
        path = folder / slice_name(k)
        pixels = read_png(path, sixteen_bit=sixteen_bit)
        if pixels.shape != (rows, columns):
            raise SpleenScopeError(
                f"{folder.name}/{path.name}: {pixels.shape[1]} x {pixels.shape[0]} pixels, but the "
                f"export was {columns} x {rows}; keep the image size when editing"
            )
        if pixels.size and (pixels.min() < 0 or pixels.max() > limit):
            raise SpleenScopeError(f"{folder.name}/{path.name}: values outside 0..{limit}")
        place(pixels.astype(dtype), array, axis, k)
    return array


def import_images(folder: str | Path, *, layers: list[str] | None = None) -> ImportedImages:
    """Rebuild the exported volume and the mask ``layers`` (all when None) exactly."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    known = layer_names(manifest)
    wanted = known if layers is None else list(layers)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        offered = ", ".join(known) or "none"
        raise SpleenScopeError(
            f"{folder.name}: has no mask layer {unknown[0]} (layers: {offered}); choose one of them"
        )
    stored = manifest["stored"]
    raw = _read_stack(
        folder / manifest["stored_folder"], manifest, sixteen_bit=True, dtype=np.uint16
    )
    values = (raw.astype(np.float64) * float(stored["slope"]) + float(stored["intercept"])).astype(
        np.dtype(stored["dtype"])
    )
    volume = Volume(
        array=np.asfortranarray(values),
        affine=np.asarray(manifest["affine"], float),
        source_affine=np.asarray(manifest["source_affine"], float),
        source_shape=tuple(int(s) for s in manifest["source_shape"]),
        modality=str(manifest["modality"]),
        window=(float(manifest["window"]["center"]), float(manifest["window"]["width"])),
        description="imported images",
        source_path=str(folder),
    )
    notices = []
    if not stored["exact"]:
        notices.append(
            "the 16-bit images hold the values to within "
            f"{float(stored['max_abs_error']):.3g} (the volume had more levels than 16 bits)"
        )
    folders = {layer["name"]: layer["folder"] for layer in manifest["layers"]}
    masks = {
        name: _read_stack(folder / folders[name], manifest, sixteen_bit=False, dtype=np.uint8)
        for name in wanted
    }
    return ImportedImages(volume, masks, manifest, tuple(notices))
