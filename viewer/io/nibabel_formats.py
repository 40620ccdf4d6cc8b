"""Analyze 7.5 (``.hdr`` + ``.img``), NIfTI pairs, MINC 1/2 (``.mnc``) and MGH/MGZ via nibabel.

nibabel gives each format's affine (voxel to RAS+) exactly as it reads it; the array
and that affine then take the same path as every other reader
(:func:`viewer.io.source_volume.build_volume`). A NIfTI pair (``.hdr`` + ``.img``
with the ``ni1`` magic) picks its affine as the single-file NIfTI reader does, with
the same sform/qform warning.

Before nibabel reads any voxel, the data file is checked: an ``.img`` without its
``.hdr`` (or the reverse), or a data file shorter than the header declares, is a
one-line error. An uncompressed file is memory-mapped only while its voxels are
copied once onto the canonical grid (one pass instead of a read and then a
reordering copy); no memory map is left on the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import UnreadableFileError
from viewer.io.source_volume import build_volume, check_data_file_size
from viewer.io.validation import check_allocation, check_data_size, check_shape
from viewer.volume import Volume

ANALYZE_HEADER_BYTES = 348
NIFTI_SINGLE_MAGICS = (b"n+1\x00", b"n+2\x00")
NIFTI_PAIR_MAGICS = (b"ni1\x00", b"ni2\x00")
MINC1_MAGIC = b"CDF"
MINC2_MAGIC = b"\x89HDF"
GZIP_MAGIC = b"\x1f\x8b"
MGH_HEADER_BYTES = 284


@dataclass(frozen=True)
class NibabelHeader:
    """What the header says, read without touching the voxels."""

    shape: tuple[int, ...]
    affine_ras: np.ndarray
    dtype: str
    kind: str  # "analyze", "nifti_pair", "minc1", "minc2", "mgh"


# ------------------------------------------------------------------ which file is which
def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _sibling(path: Path, suffix: str) -> Path | None:
    """``x.img`` -> ``x.hdr`` (or ``x.HDR``) when it exists."""
    for candidate in (suffix, suffix.upper()):
        other = path.with_suffix(candidate)
        if other.is_file():
            return other
    return None


def is_single_file_nifti(path: Path) -> bool:
    """A NIfTI-1/2 file under another name (``scan.img``): the magic says ``n+1``/``n+2``."""
    head = _head(path, 548)
    if head[:2] == GZIP_MAGIC:
        return False
    return head[344:348] in NIFTI_SINGLE_MAGICS or head[4:8] in NIFTI_SINGLE_MAGICS


def analyze_pair(path: Path) -> tuple[Path, Path]:
    """``(header, image)`` of an Analyze/NIfTI pair given either file, or a one-line error."""
    suffix = path.suffix.lower()
    if suffix == ".img":
        header = _sibling(path, ".hdr")
        if header is None:
            raise UnreadableFileError(
                f"{path.name}: an Analyze image file without its header {path.stem}.hdr; "
                "put the .hdr beside it and open either file"
            )
        return header, path
    image = _sibling(path, ".img")
    if image is None:
        raise UnreadableFileError(
            f"{path.name}: an Analyze header without its image file {path.stem}.img; "
            "put the .img beside it and open either file"
        )
    return path, image


def pair_kind(header_path: Path) -> str:
    """``"nifti_pair"`` for the ``ni1``/``ni2`` magic, ``"analyze"`` for a plain 348-byte
    header; anything else is not an Analyze header."""
    head = _head(header_path, 548)
    if head[344:348] in NIFTI_PAIR_MAGICS or head[4:8] in NIFTI_PAIR_MAGICS:
        return "nifti_pair"
    if len(head) >= ANALYZE_HEADER_BYTES and ANALYZE_HEADER_BYTES in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    ):
        return "analyze"
    raise UnreadableFileError(
        f"{header_path.name}: not an Analyze or NIfTI header (no 348-byte header); check the file"
    )


def minc_kind(path: Path) -> str:
    head = _head(path, 4)
    if head.startswith(MINC1_MAGIC):
        return "minc1"
    if head.startswith(MINC2_MAGIC):
        return "minc2"
    raise UnreadableFileError(
        f"{path.name}: not a MINC file (neither MINC 1 netCDF nor MINC 2 HDF5); check the file"
    )


# ------------------------------------------------------------------ opening
def _open(path: Path):
    """The nibabel image (lazy: header only), its kind, and the data file to check."""
    import nibabel as nib

    suffix = path.suffix.lower()
    if suffix in (".hdr", ".img"):
        header_path, image_path = analyze_pair(path)
        kind = pair_kind(header_path)
        # nibabel.load reads a plain Analyze header as SPM2 Analyze (its scale factor
        # and origin fields); with them unset it is identical to plain Analyze.
        image_class = nib.Nifti1Pair if kind == "nifti_pair" else nib.Spm2AnalyzeImage
        if kind == "nifti_pair" and _head(header_path, 4) in (
            (540).to_bytes(4, "little"),
            (540).to_bytes(4, "big"),
        ):
            image_class = nib.Nifti2Pair
        image = image_class.from_filename(str(header_path), mmap="r")
        return image, kind, image_path
    if suffix == ".mnc":
        kind = minc_kind(path)
        image_class = nib.Minc1Image if kind == "minc1" else nib.Minc2Image
        if kind == "minc2":
            _require_h5py(path)
        return image_class.from_filename(str(path)), kind, None
    if suffix in (".mgh", ".mgz"):
        return nib.MGHImage.from_filename(str(path), mmap="r"), "mgh", path
    raise UnreadableFileError(f"{path.name}: not an Analyze, MINC or MGH file; check the file")


def _require_h5py(path: Path) -> None:
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise UnreadableFileError(
            f"{path.name}: MINC 2 files need the h5py package; install it (pip install h5py)"
        ) from None


def _check_data(image, kind: str, data_path: Path | None, path: Path) -> None:
    """An uncompressed data file must hold what the header declares."""
    if data_path is None or data_path.name.lower().endswith(".mgz"):
        return
    header = image.header
    needed = (
        int(header.get_data_offset())
        + int(np.prod(header.get_data_shape(), dtype=np.int64)) * header.get_data_dtype().itemsize
    )
    if data_path == path:
        check_data_size(needed, data_path.stat().st_size, source=path.name)
    else:
        check_data_file_size(path.name, data_path, needed, data_path.stat().st_size)


def _non_spatial_axes(image, kind: str) -> list[int]:
    """MINC stores time (or vector) dimensions first; the affine covers the spatial ones."""
    if not kind.startswith("minc"):
        return []
    names = [str(n) for n in getattr(image.dataobj.minc_file, "_dim_names", ())]
    return [i for i, name in enumerate(names) if not name.endswith("space")]


def _spatial_first(array_or_shape, axes: list[int]):
    """Move non-spatial axes behind the three spatial ones (x, y, z, t as elsewhere)."""
    if not axes:
        return array_or_shape
    if isinstance(array_or_shape, tuple):
        spatial = [s for i, s in enumerate(array_or_shape) if i not in axes]
        return tuple(spatial + [array_or_shape[i] for i in axes])
    return np.moveaxis(array_or_shape, axes, list(range(-len(axes), 0)))


def _library_error(path: Path, error: Exception) -> UnreadableFileError:
    detail = (str(error).strip().splitlines() or [type(error).__name__])[-1]
    detail = detail.replace(str(path), path.name)[:160]
    return UnreadableFileError(
        f"{path.name}: nibabel cannot read it ({detail}); check that the file is complete"
    )


def _opened(path: Path, notes: list[str] | None = None):
    """Open lazily; nibabel's own warnings become the volume's warnings, not stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image, kind, data_path = _open(path)
        except UnreadableFileError:
            raise
        except Exception as error:  # noqa: BLE001 - nibabel, scipy.io and h5py raise many types
            raise _library_error(path, error) from None
    if notes is not None:
        notes.extend(_unique_messages(caught, path))
    _check_data(image, kind, data_path, path)
    return image, kind


def _unique_messages(caught, path: Path) -> list[str]:
    messages: list[str] = []
    for item in caught:
        text = str(item.message).replace(str(path), path.name).splitlines()[0][:160]
        if text and text not in messages:
            messages.append(text)
    return messages


def _affine(image, kind: str, notes: list[str]) -> np.ndarray:
    if kind == "nifti_pair":
        from viewer.io.nifti import choose_affine

        affine, choice_notes = choose_affine(image.header)
        notes.extend(choice_notes)
        return affine
    return np.asarray(image.affine, float)


def read_nibabel_header(path: str | Path) -> NibabelHeader:
    """Shape, geometry and voxel type from the header alone (no voxels are read)."""
    path = Path(path)
    image, kind = _opened(path)
    return NibabelHeader(
        shape=_spatial_first(tuple(int(s) for s in image.shape), _non_spatial_axes(image, kind)),
        affine_ras=_affine(image, kind, []),
        dtype=str(image.get_data_dtype()),
        kind=kind,
    )


def load_nibabel(path: str | Path) -> Volume:
    """Read an Analyze, NIfTI pair, MINC or MGH/MGZ file as a canonical :class:`Volume`."""
    path = Path(path)
    notes: list[str] = []
    image, kind = _opened(path, notes)
    affine = _affine(image, kind, notes)
    shape = check_shape(image.shape, source=path.name, field="dim")  # before any voxel is read
    check_allocation(shape, image.get_data_dtype(), source=path.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = np.asarray(np.asanyarray(image.dataobj))
        except Exception as error:  # noqa: BLE001 - truncated gzip, netCDF or HDF5 errors
            raise _library_error(path, error) from None
    notes.extend(m for m in _unique_messages(caught, path) if m not in notes)
    data = _spatial_first(data, _non_spatial_axes(image, kind))
    volume = build_volume(data, affine, path=str(path), source=path.name, warnings=notes)
    if np.may_share_memory(volume.array, data):  # still the file's memory map: copy it
        volume = volume.with_array(np.array(volume.array, order="F"))
    del data, image  # nothing stays mapped on the file
    return volume
