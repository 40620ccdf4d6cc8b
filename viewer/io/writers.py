"""Write masks and volumes as NIfTI (or NRRD / MetaImage), atomically, never over the input.

A mask is written on the grid of the file the user opened (``Volume.source_affine``
and ``source_shape``): for a NIfTI input the result has that file's shape and
affine, so it overlays voxel for voxel in any other tool. A converted volume
(``spleenscope convert``) is written on the canonical grid, as dcm2niix does.

Every write goes to a temporary file in the destination folder and is renamed into
place with ``os.replace``, so a crash never leaves half a file under the real name.
Headers carry no patient-identifying values: ``descrip`` is a fixed generic string.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from viewer.atomic import atomic_path
from viewer.io.file_names import (
    METAIMAGE,
    NIFTI,
    NRRD,
    check_output_path,
    is_format,
    mask_path_beside,
    require_format,
    split_suffix,
)
from viewer.volume import Volume

log = logging.getLogger(__name__)

GENERIC_DESCRIPTION = b"SpleenScope"


def default_mask_path(volume: Volume) -> Path:
    """Beside the input with a ``_seg`` suffix (see :func:`file_names.mask_path_beside`)."""
    return mask_path_beside(volume.source_path)


def _check_destination(volume: Volume | None, path: Path, overwrite: bool) -> Path:
    path = Path(path)
    require_format(path, NIFTI.key, NRRD.key, METAIMAGE.key)
    check_output_path(path, volume.source_path if volume is not None else "", overwrite)
    return path


def _write_atomically(image: nib.Nifti1Image, path: Path, overwrite: bool = True) -> Path:
    _, suffix = split_suffix(path)
    with atomic_path(path, suffix=f".tmp{suffix}", overwrite=overwrite) as temporary:
        nib.save(image, temporary)
    log.info("wrote %s", path)
    return path


def _nifti(array: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(array, affine)
    image.header.set_qform(affine, code=1)  # nibabel keeps the nearest rigid part if sheared
    image.header.set_sform(affine, code=1)
    image.header["descrip"] = GENERIC_DESCRIPTION
    image.header.set_xyzt_units("mm", "sec")
    return image


def canonical_to_source_grid(volume: Volume, canonical_array: np.ndarray) -> np.ndarray:
    """Reorder an array on the volume's canonical grid back to the source file's grid.

    Only flips and axis permutations, so mask voxels are moved, never interpolated.
    """
    return volume.to_source_grid(canonical_array)


def _is_itk_name(path: Path) -> bool:
    return is_format(path, METAIMAGE.key, NRRD.key)


def save_mask(
    volume: Volume, canonical_mask: np.ndarray, path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write a mask (on the volume's canonical grid) as uint8 on the source grid: NIfTI,
    or NRRD / MetaImage (what 3D Slicer users exchange) by the name's suffix."""
    path = _check_destination(volume, Path(path), overwrite)
    source_mask = canonical_to_source_grid(volume, np.asarray(canonical_mask)).astype(np.uint8)
    if _is_itk_name(path):
        from viewer.io.itk_formats import write_itk

        return write_itk(source_mask, volume.source_affine, path, overwrite=overwrite)
    return _write_atomically(
        _nifti(np.ascontiguousarray(source_mask), volume.source_affine), path, overwrite
    )


def save_volume(volume: Volume, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the volume on its canonical grid (DICOM to NIfTI conversion): NIfTI, or
    NRRD / MetaImage by the name's suffix."""
    path = _check_destination(volume, Path(path), overwrite)
    if _is_itk_name(path):
        from viewer.io.itk_formats import write_itk

        return write_itk(volume.array, volume.affine, path, overwrite=overwrite)
    image = _nifti(volume.array, volume.affine)
    if volume.window:
        center, width = volume.window
        image.header["cal_min"], image.header["cal_max"] = center - width / 2, center + width / 2
    return _write_atomically(image, path, overwrite)
