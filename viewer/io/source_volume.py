"""From a format library's array and RAS affine to a canonical :class:`Volume`.

The readers for MetaImage, NRRD, Analyze, MINC and MGH (``viewer.io.itk_formats``,
``viewer.io.nibabel_formats``) get a voxel array on the file's own grid and a voxel
to RAS+ affine from their library. Everything after that is the same for all of
them and the same as the NIfTI reader does: the geometry goes through the one
validation gate (``viewer.io.validation``), 4D input is reduced to its first volume
with a warning, colour or complex voxels are refused, NaN/inf voxels load with a
warning, float64 narrows to float32, and the array is brought to the closest
canonical (RAS+) grid in Fortran order so axial slices are contiguous.
"""

from __future__ import annotations

import numpy as np

from viewer.errors import UnreadableFileError
from viewer.io.validation import check_affine, check_shape
from viewer.volume import Volume, to_canonical


def check_data_file_size(header_name: str, data_path, needed: int, present: int) -> None:
    """Refuse a header whose separate data file is shorter than the header declares."""
    if present < needed:
        raise UnreadableFileError(
            f"{header_name}: its data file {data_path.name} holds {present:,} of the {needed:,} "
            "bytes the header declares (truncated, or the header does not belong to it); "
            "copy or export both files again"
        )


def first_volume(data: np.ndarray, warnings: list[str]) -> np.ndarray:
    """The first 3D volume of a 2D, 3D or 4D+ array (x, y, z[, t...]) on the file grid."""
    if data.ndim < 3:
        data = data.reshape(data.shape + (1,) * (3 - data.ndim))
    if data.ndim > 3:
        volumes = int(np.prod(data.shape[3:]))
        if volumes > 1:
            warnings.append(f"4D input with {volumes} volumes; showing the first one")
        data = data[(Ellipsis,) + (0,) * (data.ndim - 3)] if volumes else data
        data = data.reshape(data.shape[:3])
    return data


def native_numeric(data: np.ndarray, source: str) -> np.ndarray:
    """Native byte order, a single real channel, float64 narrowed to float32, bool to uint8."""
    if data.dtype.fields is not None or data.dtype.kind not in "biuf":
        raise UnreadableFileError(
            f"{source}: voxel type {data.dtype} (colour or complex) is not supported; "
            "convert it to a single-channel image"
        )
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    return data


def build_volume(
    data: np.ndarray,
    affine_ras: np.ndarray,
    *,
    path: str,
    source: str,
    warnings: list[str],
    modality: str = "",
    window: tuple[float, float] | None = None,
) -> Volume:
    """A canonical :class:`Volume` from ``data`` on the file grid (x, y, z[, t]) and its
    voxel to RAS+ affine. ``source`` names the file in messages (never a header value)."""
    affine_ras = check_affine(affine_ras, source=source)
    check_shape(data.shape, source=source, field="size")
    data = native_numeric(first_volume(data, warnings), source)
    if data.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            warnings.append(f"{bad} voxels are NaN or infinite; statistics and windows ignore them")
    canonical, canonical_affine = to_canonical(data, affine_ras)
    canonical = np.asfortranarray(canonical)
    if not canonical.flags.writeable:  # a read-only view of the library's buffer
        canonical = canonical.copy(order="F")
    return Volume(
        array=canonical,
        affine=canonical_affine,
        source_affine=affine_ras,
        source_shape=tuple(data.shape),
        modality=modality,
        window=window,
        description=source,
        warnings=tuple(warnings),
        source_path=path,
    )
