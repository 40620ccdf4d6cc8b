"""NIfTI-1 and NIfTI-2 reading (nibabel), brought to the canonical grid.

The affine is chosen the way nibabel does (sform, else qform, else pixdim), with a
warning when sform and qform disagree; 4D input is reduced to its first volume with a
warning; NaN/inf voxels load with a warning; an absurd declared size is refused
before any voxel is allocated; truncated or non-gzip ``.gz`` files give one-line
errors. Every header field used passes :mod:`viewer.io.validation` first. The file
is read into memory up to the end of its first volume (no memory map left open on
the file), and a ``.gz`` is never inflated past the size its header declares.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path

import nibabel as nib
import numpy as np

from viewer.errors import UnreadableFileError
from viewer.io.source_volume import native_numeric
from viewer.io.validation import (
    HeaderValueError,
    check_affine,
    check_allocation,
    check_data_size,
    check_shape,
    check_spacing,
    finite_float,
    inflate_gzip,
    positive_int,
)
from viewer.volume import Volume, to_canonical

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
# sform and qform "disagree" when any affine entry differs by more than this (mm).
AFFINE_TOLERANCE_MM = 1e-3


def choose_affine(header, source: str = "header") -> tuple[np.ndarray, list[str]]:
    """The affine nibabel would use (sform if code > 0, else qform, else pixdim).

    Returns the affine and warnings (e.g. sform and qform both set but different).
    The chosen affine passes :func:`viewer.io.validation.check_affine` (finite,
    invertible); an unusable one raises a one-line error naming its field.
    """
    warnings: list[str] = []
    sform, sform_code = _coded_affine(header.get_sform, source, "sform (srow_x/y/z)")
    try:
        qform, qform_code = _coded_affine(header.get_qform, source, "qform (quatern_*, pixdim)")
    except HeaderValueError:
        if not sform_code:
            raise
        qform, qform_code = None, 0
        warnings.append("the qform fields are unusable; using the sform")
    if sform_code:
        sform = check_affine(sform, source=source, field="sform (srow_x/y/z)")
    if qform_code and not sform_code:
        qform = check_affine(qform, source=source, field="qform (quatern_*, pixdim)")
    if (
        sform_code
        and qform_code
        and qform is not None
        and np.all(np.isfinite(qform))
        and not np.allclose(sform, qform, atol=AFFINE_TOLERANCE_MM)
    ):
        largest = float(np.abs(sform - qform).max())
        warnings.append(
            f"sform and qform disagree (largest difference {largest:.3g}); using the sform "
            "(it may hold a gantry-tilt shear the qform cannot express)"
        )
    if sform_code:
        return sform, warnings
    if qform_code:
        return qform, warnings
    warnings.append("header has neither sform nor qform; geometry comes from pixdim only")
    check_spacing(header["pixdim"][1:4], source=source, field="pixdim")
    base = _coded_affine(lambda coded: (header.get_base_affine(), 1), source, "pixdim")[0]
    return check_affine(base, source=source, field="pixdim"), warnings


def _coded_affine(getter, source: str, field: str) -> tuple[np.ndarray, int]:
    """nibabel's (affine, code), turning its errors on nonsense values into ours."""
    try:
        with np.errstate(all="ignore"):
            affine, code = getter(coded=True)
    except Exception:  # noqa: BLE001 - nibabel raises ValueError, KeyError, ... on bad values
        raise HeaderValueError(source, field, "cannot be turned into a geometry") from None
    return (np.asarray(affine, float) if affine is not None else None), int(code or 0)


def _declared_shape(header, source: str) -> tuple[int, ...]:
    """The dim field, checked: 1..7 axes, each 1..65,535, product under the voxel limit."""
    dim = header["dim"]
    axes = positive_int(dim[0], source=source, field="dim[0]", maximum=7)
    shape = check_shape(dim[1 : axes + 1], source=source, field="dim")
    return shape + (1,) * (3 - len(shape)) if len(shape) < 3 else shape


def _declared_dtype(header, source: str) -> np.dtype:
    try:
        dtype = header.get_data_dtype()
    except Exception:  # noqa: BLE001 - nibabel: "data code ... not recognized"
        raise HeaderValueError(source, "datatype", "is not a known NIfTI voxel type") from None
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise UnreadableFileError(
            f"{source}: voxel type {dtype} (colour or complex) is not supported; "
            "convert it to a single-channel image"
        )
    return dtype


def _data_offset(header, source: str, header_size: int) -> int:
    """vox_offset, checked: finite, not inside the header, not beyond 2 GiB."""
    offset = finite_float(header["vox_offset"], source=source, field="vox_offset", default=0.0)
    if offset == 0:  # unset in some writers; the data follows the header (+4 extension bytes)
        return header_size + 4
    if offset < header_size or offset != int(offset) or offset > 2**31:
        raise HeaderValueError(source, "vox_offset", "does not point past the header")
    return int(offset)


def _header_size(raw: bytes, source: str) -> int:
    if len(raw) < 348:
        raise UnreadableFileError(f"{source}: too short to be a NIfTI file ({len(raw)} bytes)")
    for order in ("little", "big"):
        size = int.from_bytes(raw[:4], order)
        if size in (348, 540):
            return size
    raise UnreadableFileError(
        f"{source}: not a NIfTI file (no NIfTI header); open a .nii/.nii.gz file "
        "or a DICOM file or folder"
    )


def _parse_header(raw: bytes, source: str):
    size = _header_size(raw, source)
    if len(raw) < size:
        raise UnreadableFileError(
            f"{source}: the file ends inside its NIfTI header; it is truncated"
        )
    header_class = nib.Nifti2Header if size == 540 else nib.Nifti1Header
    try:
        # check=False: nibabel's own "fixes" would turn a zero pixdim into 1 mm (a wrong
        # number that looks right) and log to stderr; the validation gate decides instead.
        header = header_class.from_fileobj(io.BytesIO(raw[:size]), check=False)
        if header["pixdim"][0] not in (-1, 1):  # qfac: the standard reads anything else as 1
            header["pixdim"][0] = 1
        return header, size
    except Exception:  # noqa: BLE001 - nibabel raises HeaderDataError, ValueError, ...
        raise UnreadableFileError(
            f"{source}: not a NIfTI header nibabel can read; check the file"
        ) from None


def _open_image(path: Path) -> tuple[object, bytes, list[str]]:
    """The checked header and the bytes up to the end of the first volume.

    Nothing stays open or memory-mapped on the file, and nothing past the first
    volume is read or inflated: a gzip bomb (a small file that inflates to
    gigabytes) stops at the size the header declares. The header's own size field
    decides between NIfTI-1 and NIfTI-2, so names other than ``.nii``/``.nii.gz``
    (``scan.img``, ``volume_gz``) work too.
    """
    source = path.name
    notes: list[str] = []
    with open(path, "rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        if head == GZIP_MAGIC:
            compressed = handle.read()
            start, _ = inflate_gzip(compressed, 540, source=source)
            header, size = _parse_header(start, source)
            needed = _first_volume_end(header, source, size)
            raw, more = inflate_gzip(compressed, needed, source=source)
            del compressed
            if more and not _is_4d(header):
                notes.append(
                    "the compressed file holds more data than the header declares; "
                    "the extra data was ignored"
                )
        elif path.name.lower().endswith(".gz"):
            raise UnreadableFileError(
                f"{source}: named .gz but not gzip-compressed; rename it or re-export it"
            )
        else:
            header, size = _parse_header(handle.read(540), source)
            needed = _first_volume_end(header, source, size)
            handle.seek(0)
            raw = handle.read(needed)
    check_data_size(needed, len(raw), source=source)
    return header, raw, notes


def _is_4d(header) -> bool:
    return int(header["dim"][0]) > 3 and math.prod(int(d) for d in header["dim"][4:8]) > 1


def _first_volume_end(header, source: str, header_size: int) -> int:
    """Byte offset where the first 3D volume ends; every field used is checked here."""
    shape = _declared_shape(header, source)
    dtype = _declared_dtype(header, source)
    offset = _data_offset(header, source, header_size)
    check_allocation(shape[:3], np.float32 if dtype.itemsize <= 4 else dtype, source=source)
    return offset + math.prod(shape[:3]) * dtype.itemsize


def load_nifti(path: Path) -> Volume:
    """Read a NIfTI-1/2 file (``.nii`` or ``.nii.gz``) as a canonical :class:`Volume`."""
    path = Path(path)
    source = path.name
    try:
        header, raw, warnings = _open_image(path)
    except OSError as error:
        raise UnreadableFileError(
            f"{source}: cannot be read ({error.strerror or type(error).__name__}); "
            "check the file and its permissions"
        ) from None
    shape = _declared_shape(header, source)
    affine, affine_warnings = choose_affine(header, source)
    warnings.extend(affine_warnings)
    data = _read_first_volume(header, raw, path)
    del raw  # the voxels are either a view of it or already copied
    volumes = math.prod(shape[3:]) if len(shape) > 3 else 1
    if volumes > 1:
        warnings.append(f"4D input with {volumes} volumes; showing the first one")
    data = native_numeric(data, source)
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

    A view of ``raw`` where possible: no copy of the voxels is made here. ``raw``
    ends at the first volume's end (checked by :func:`_open_image`).
    """
    source = path.name
    dtype = _declared_dtype(header, source)
    first = _declared_shape(header, source)[:3]
    offset = _data_offset(header, source, 540 if isinstance(header, nib.Nifti2Header) else 348)
    count = math.prod(first)
    check_data_size(offset + count * dtype.itemsize, len(raw), source=source)
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(first, order="F")
    # NIfTI: a slope of 0 means "no scaling", and nibabel writes NaN for the same
    # (the intercept is then ignored too); infinity is refused.
    slope = _unset_if_nan(header["scl_slope"])
    slope = finite_float(slope, source=source, field="scl_slope", default=0.0)
    inter = 0.0
    if slope:
        inter = _unset_if_nan(header["scl_inter"])
        inter = finite_float(inter, source=source, field="scl_inter", default=0.0)
    if slope and (slope != 1.0 or inter != 0.0):
        data = data.astype(np.float32)
        data *= np.float32(slope)
        data += np.float32(inter)
    return data


def _unset_if_nan(value):
    number = float(value)
    return None if math.isnan(number) else number


def _header_window(header) -> tuple[float, float] | None:
    """cal_min/cal_max as a display window; absent or non-finite values give none."""
    try:
        low, high = float(header["cal_min"]), float(header["cal_max"])
    except (KeyError, ValueError):
        return None
    if math.isfinite(low) and math.isfinite(high) and math.isfinite(high - low) and high > low:
        return ((low + high) / 2.0, high - low)
    return None
