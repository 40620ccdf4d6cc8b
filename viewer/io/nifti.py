"""NIfTI-1 and NIfTI-2 reading (nibabel), brought to the canonical grid.

The affine is chosen the way nibabel does (sform, else qform, else pixdim), with a
warning when sform and qform disagree; 4D input is reduced to its first volume with a
warning; NaN/inf voxels load with a warning; an absurd declared size is refused
before any voxel is allocated; truncated or non-gzip ``.gz`` files give one-line
errors. The whole file is read into memory (no memory map left open on the file).
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

try:  # ISA-L gzip: a drop-in, much faster gunzip (optional)
    from isal import igzip as _fast_gzip
except ImportError:  # pragma: no cover - plain zlib works, only slower
    _fast_gzip = gzip

from viewer.errors import UnreadableFileError, VolumeTooLargeError
from viewer.volume import Volume, to_canonical

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
# Refuse before allocating: 2^31 voxels is 8 GiB as float32, far beyond any CT.
MAX_VOXELS = 2**31
# sform and qform "disagree" when any affine entry differs by more than this (mm).
AFFINE_TOLERANCE_MM = 1e-3


def choose_affine(header) -> tuple[np.ndarray, list[str]]:
    """The affine nibabel would use (sform if code > 0, else qform, else pixdim).

    Returns the affine and warnings (e.g. sform and qform both set but different).
    """
    warnings: list[str] = []
    sform, sform_code = header.get_sform(coded=True)
    qform, qform_code = header.get_qform(coded=True)
    if sform_code and qform_code and not np.allclose(sform, qform, atol=AFFINE_TOLERANCE_MM):
        largest = float(np.abs(sform - qform).max())
        warnings.append(
            f"sform and qform disagree (largest difference {largest:.3g}); using the sform "
            "(it may hold a gantry-tilt shear the qform cannot express)"
        )
    if sform_code:
        return np.asarray(sform, float), warnings
    if qform_code:
        return np.asarray(qform, float), warnings
    warnings.append("header has neither sform nor qform; geometry comes from pixdim only")
    return np.asarray(header.get_base_affine(), float), warnings


def _check_declared_size(header, path: Path) -> tuple[int, ...]:
    shape = tuple(int(s) for s in header.get_data_shape())
    if len(shape) < 3:
        shape = shape + (1,) * (3 - len(shape))
    voxels = int(np.prod(shape, dtype=np.int64))
    if any(s <= 0 for s in shape) or voxels > MAX_VOXELS:
        raise VolumeTooLargeError(
            f"{path.name}: header declares an impossible size {shape}; the file is corrupt "
            "or not an image volume"
        )
    return shape


def _gunzip(raw: bytes, path: Path) -> bytes:
    """Decompress a whole .gz at once: ISA-L (isal) when installed, about 3x faster
    than zlib, which is what keeps .nii.gz loading close to SimpleITK's speed."""
    try:
        return _fast_gzip.decompress(raw)
    except EOFError:
        raise UnreadableFileError(
            f"{path.name}: the compressed data ends early (the file is truncated); "
            "copy or download it again"
        ) from None
    except Exception as error:  # noqa: BLE001 - zlib and isal raise their own error types
        raise UnreadableFileError(
            f"{path.name}: corrupt gzip data ({type(error).__name__}); copy or download it again"
        ) from None


def _open_image(path: Path):
    """The header and the whole (decompressed) file in memory.

    Nothing stays open or memory-mapped on the file. The header's own size field
    decides between NIfTI-1 and NIfTI-2, so names other than ``.nii``/``.nii.gz``
    (``scan.img``, ``volume_gz``) work too.
    """
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        raw = _gunzip(raw, path)
    elif path.name.lower().endswith(".gz"):
        raise UnreadableFileError(
            f"{path.name}: named .gz but not gzip-compressed; rename it or re-export it"
        )
    if len(raw) < 348:
        raise UnreadableFileError(f"{path.name}: too short to be a NIfTI file ({len(raw)} bytes)")
    size = int.from_bytes(raw[:4], "little")
    if size not in (348, 540):
        size = int.from_bytes(raw[:4], "big")
    if size not in (348, 540):
        raise UnreadableFileError(
            f"{path.name}: not a NIfTI file (no NIfTI header); open a .nii/.nii.gz file "
            "or a DICOM file or folder"
        )
    header_class = nib.Nifti2Header if size == 540 else nib.Nifti1Header
    return header_class.from_fileobj(io.BytesIO(raw)), raw


def load_nifti(path: Path) -> Volume:
    """Read a NIfTI-1/2 file (``.nii`` or ``.nii.gz``) as a canonical :class:`Volume`."""
    path = Path(path)
    try:
        header, raw = _open_image(path)
    except UnreadableFileError:
        raise
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as error:
        raise UnreadableFileError(
            f"{path.name}: not a readable NIfTI file ({type(error).__name__}); "
            "re-export or re-download it"
        ) from None
    except Exception as error:  # nibabel raises HeaderDataError, ValueError, ...
        raise UnreadableFileError(
            f"{path.name}: not a NIfTI header nibabel can read ({error}); check the file"
        ) from None
    shape = _check_declared_size(header, path)
    affine, warnings = choose_affine(header)
    data = _read_first_volume(header, raw, path)
    del raw  # the voxels are either a view of it or already copied
    volumes = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    if volumes > 1:
        warnings.append(f"4D input with {volumes} volumes; showing the first one")
    data = _native_numeric(data)
    if data.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            warnings.append(f"{bad} voxels are NaN or infinite; statistics and windows ignore them")
    canonical, canonical_affine = to_canonical(data, affine)
    # Fortran order: NIfTI stores X fastest, so a canonical file needs no copy and a
    # flipped one only a cheap flip copy (no transpose); axial slices are contiguous.
    canonical = np.asfortranarray(canonical)
    if not canonical.flags.writeable:  # still a view of the file's bytes
        canonical = canonical.copy(order="F")
    return Volume(
        array=canonical,
        affine=canonical_affine,
        source_affine=affine,
        source_shape=tuple(data.shape),
        modality="",
        window=_header_window(header),
        description=path.name,
        warnings=tuple(warnings),
        source_path=str(path),
    )


def _read_first_volume(header, raw: bytes, path: Path) -> np.ndarray:
    """The first 3D volume as stored, scaled to float32 only when scl_slope/scl_inter
    say so (unscaled int16 CT stays int16; nibabel would give float64).

    A view of ``raw`` where possible: no copy of the voxels is made here.
    """
    dtype = header.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise UnreadableFileError(
            f"{path.name}: voxel type {dtype} (colour or complex) is not supported; "
            "convert it to a single-channel image"
        )
    shape = tuple(int(s) for s in header.get_data_shape())
    first = (shape + (1, 1, 1))[:3]
    offset = int(header.get_data_offset())
    needed = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < needed:
        raise UnreadableFileError(
            f"{path.name}: the file ends before its image data does ({len(raw)} of {needed} "
            "bytes); it is truncated, copy or download it again"
        )
    count = int(np.prod(first, dtype=np.int64))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(first, order="F")
    slope, inter = header.get_slope_inter()
    if slope is not None and (slope != 1.0 or (inter or 0.0) != 0.0):
        data = data.astype(np.float32)
        data *= np.float32(slope)
        data += np.float32(inter or 0.0)
    return data


def _native_numeric(data: np.ndarray) -> np.ndarray:
    """Native byte order; float64 narrowed to float32 (display and models need no more)."""
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    return data


def _header_window(header) -> tuple[float, float] | None:
    try:
        low, high = float(header["cal_min"]), float(header["cal_max"])
    except (KeyError, ValueError):
        return None
    if high > low:
        return ((low + high) / 2.0, high - low)
    return None
