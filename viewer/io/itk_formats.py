"""MetaImage (``.mha``, ``.mhd`` + ``.raw``) and NRRD (``.nrrd``, ``.nhdr`` + data) via SimpleITK.

ITK describes geometry in LPS (origin, spacing, direction cosines); it is turned into
a voxel to RAS+ affine here, once, with :data:`viewer.grid.LPS_TO_RAS`, and from then
on the volume takes the same path as every other reader
(:func:`viewer.io.source_volume.build_volume`).

Before SimpleITK reads any voxel, the header is checked against its data file: a
missing ``.raw``, or an uncompressed data file shorter than the header declares,
is a one-line error (ITK itself would print to stderr and fail, or read garbage).

Writing (``convert`` to ``.nrrd``/``.nhdr``/``.mha``/``.mhd``, masks as NRRD, as 3D
Slicer users exchange them) is atomic: a header and its data file are written into a
temporary folder beside the target and moved into place, data file first.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError, UnreadableFileError
from viewer.grid import LPS_TO_RAS
from viewer.io.file_names import check_output_path
from viewer.io.source_volume import build_volume, check_data_file_size
from viewer.io.validation import check_allocation, check_data_size, check_shape
from viewer.volume import Volume

METAIMAGE_SUFFIXES = (".mha", ".mhd")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
# Bytes per element of MetaImage ElementType values (MetaIO's own table).
METAIMAGE_ELEMENT_BYTES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
    "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4, "MET_DOUBLE": 8,
}  # fmt: skip
# A header is text and small; reading more than this to find its end means it is not one.
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class ItkHeader:
    """What the header says, read without touching the voxels."""

    shape: tuple[int, ...]  # x, y, z[, t]
    affine_ras: np.ndarray  # voxel (x, y, z) to RAS+ mm
    dtype: str
    components: int


def _sitk():
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return sitk


# ------------------------------------------------------------------ data file checks
def _header_text(path: Path) -> tuple[str, int]:
    """The text header and the byte offset where attached data would start."""
    with open(path, "rb") as handle:
        head = handle.read(MAX_HEADER_BYTES)
    if path.suffix.lower() in (".mha", ".mhd"):
        match = re.search(rb"^ElementDataFile\s*=\s*[^\r\n]*\r?\n?", head, re.MULTILINE)
        end = match.end() if match else len(head)
    else:
        match = re.search(rb"\r?\n\r?\n", head)
        end = match.end() if match else len(head)
    return head[:end].decode("latin-1"), end


def _fields(text: str, separator: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or separator not in line:
            continue
        key, value = line.split(separator, 1)
        fields[key.strip().lower()] = value.strip()
    return fields


def _nrrd_element_bytes(type_name: str) -> int | None:
    name = type_name.lower()
    if "char" in name or "int8" in name:
        return 1
    if "short" in name or "16" in name:
        return 2
    if "long" in name or "64" in name or "double" in name:
        return 8
    if "float" in name or "int" in name or "32" in name:
        return 4
    return None


def _data_file(header: Path, name: str) -> Path | None:
    """The detached data file a header names, or None for attached/listed/patterned data."""
    if not name or name.upper() in ("LOCAL", "LIST") or "%" in name or " " in name.strip():
        return None
    data = Path(name)
    return data if data.is_absolute() else header.parent / data


def check_data_file(path: Path) -> None:
    """Refuse, with one line, a header whose data file is missing or too short."""
    text, header_end = _header_text(path)
    if path.suffix.lower() in METAIMAGE_SUFFIXES:
        fields = _fields(text, "=")
        data_name = fields.get("elementdatafile", "")
        if not data_name:
            raise UnreadableFileError(
                f"{path.name}: not a MetaImage header (no ElementDataFile line); check the file"
            )
        compressed = fields.get("compresseddata", "false").lower() == "true"
        element_bytes = METAIMAGE_ELEMENT_BYTES.get(fields.get("elementtype", "").upper())
        sizes = fields.get("dimsize", "")
        channels = fields.get("elementnumberofchannels", "1")
        skip = int(fields.get("headersize", "0") or 0) if data_name.upper() != "LOCAL" else 0
    else:
        fields = _fields(text, ":")
        data_name = fields.get("data file", fields.get("datafile", ""))
        if path.suffix.lower() == ".nhdr" and not data_name:
            raise UnreadableFileError(
                f"{path.name}: a detached NRRD header without a 'data file' line; check the file"
            )
        compressed = fields.get("encoding", "raw").lower() not in ("raw",)
        element_bytes = _nrrd_element_bytes(fields.get("type", ""))
        sizes = fields.get("sizes", "")
        channels = "1"
        skip = int(fields.get("byte skip", "0") or 0)
    data_path = _data_file(path, data_name)
    if data_path is not None and not data_path.is_file():
        raise UnreadableFileError(
            f"{path.name}: its data file {data_path.name} is missing; put it beside the header "
            "(as it was exported) and open the header again"
        )
    try:
        shape = check_shape(sizes.split(), source=path.name, field="size")
        count = int(np.prod(shape, dtype=np.int64)) * int(channels)
    except (ValueError, SpleenScopeError):
        return  # SimpleITK will judge the header itself; this check is only about the data
    if compressed or element_bytes is None or skip < 0:
        return
    needed = count * element_bytes + skip
    if data_path is None:
        if data_name.upper() == "LIST" or "%" in data_name:
            return
        present = path.stat().st_size - header_end
    else:
        present = data_path.stat().st_size
    if data_path is None:
        check_data_size(needed, present, source=path.name)
    else:
        check_data_file_size(path.name, data_path, needed, present)


# ------------------------------------------------------------------ reading
def _affine_ras(spacing, origin, direction, dimension: int) -> np.ndarray:
    """Voxel (x, y, z) to RAS+ from ITK's LPS spacing, origin and direction cosines."""
    rows = np.asarray(direction, float).reshape(dimension, dimension)
    affine = np.eye(4)
    n = min(dimension, 3)
    affine[:n, :n] = rows[:n, :n] * np.asarray(spacing[:n], float)
    affine[:n, 3] = np.asarray(origin[:n], float)
    return LPS_TO_RAS @ affine


def _reader(path: Path):
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    return sitk, reader


def _library_error(path: Path, error: Exception) -> UnreadableFileError:
    reason = str(error).strip().splitlines()
    detail = next((line for line in reversed(reason) if line.strip()), type(error).__name__)
    detail = detail.replace(str(path), path.name)[:160]
    return UnreadableFileError(
        f"{path.name}: SimpleITK cannot read it ({detail}); check that it is a complete "
        "MetaImage/NRRD file"
    )


def _header_reader(path: Path):
    """``(sitk, reader)`` with the header read: data file checked, no voxels read yet."""
    check_data_file(path)
    sitk, reader = _reader(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise _library_error(path, error) from None
    return sitk, reader


def read_itk_header(path: str | Path) -> ItkHeader:
    """Shape, geometry and voxel type from the header alone (no voxels are read)."""
    path = Path(path)
    sitk, reader = _header_reader(path)
    dimension = reader.GetDimension()
    shape = tuple(int(s) for s in reader.GetSize())
    return ItkHeader(
        shape=shape,
        affine_ras=_affine_ras(
            reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection(), dimension
        ),
        dtype=_numpy_name(sitk, reader.GetPixelID()),
        components=int(reader.GetNumberOfComponents()),
    )


def _numpy_name(sitk, pixel_id: int) -> str:
    """numpy's name for an ITK pixel type (``int16``), as the other readers report it."""
    names = {
        sitk.sitkInt8: "int8", sitk.sitkUInt8: "uint8", sitk.sitkInt16: "int16",
        sitk.sitkUInt16: "uint16", sitk.sitkInt32: "int32", sitk.sitkUInt32: "uint32",
        sitk.sitkInt64: "int64", sitk.sitkUInt64: "uint64", sitk.sitkFloat32: "float32",
        sitk.sitkFloat64: "float64",
    }  # fmt: skip
    return names.get(pixel_id, str(sitk.GetPixelIDValueAsString(pixel_id)))


def load_itk(path: str | Path) -> Volume:
    """Read a MetaImage or NRRD file as a canonical :class:`Volume`."""
    path = Path(path)
    sitk, reader = _header_reader(path)
    # The gate, before ITK allocates anything: a plausible size that fits in memory.
    shape = check_shape(reader.GetSize(), source=path.name, field="DimSize/sizes")
    dtype = _numpy_name(sitk, reader.GetPixelID())
    check_allocation(
        shape, np.dtype(dtype) if dtype in np.sctypeDict else np.float64, source=path.name
    )
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise _library_error(path, error) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UnreadableFileError(
            f"{path.name}: {image.GetNumberOfComponentsPerPixel()} values per voxel (colour or "
            "vector image); convert it to a single-channel image"
        )
    dimension = image.GetDimension()
    affine = _affine_ras(image.GetSpacing(), image.GetOrigin(), image.GetDirection(), dimension)
    modality = _modality(image)
    # A view of ITK's buffer in (x, y, z[, t]) order; build_volume makes the one copy.
    view = sitk.GetArrayViewFromImage(image).T
    warnings: list[str] = []
    volume = build_volume(
        view, affine, path=str(path), source=path.name, warnings=warnings, modality=modality
    )
    if np.may_share_memory(volume.array, view):
        volume = volume.with_array(volume.array.copy(order="F"))
    del image
    return volume


def _modality(image) -> str:
    """MetaImage ``Modality = MET_MOD_CT`` / ``MET_MOD_MR``; NRRD has no standard field."""
    for key in ("Modality", "modality"):
        if image.HasMetaDataKey(key):
            value = image.GetMetaData(key).upper()
            for modality in ("CT", "MR"):
                if value.endswith(modality) or value == modality:
                    return modality
    return ""


# ------------------------------------------------------------------ writing
def _image(array_xyz: np.ndarray, affine_ras: np.ndarray):
    sitk = _sitk()
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array_xyz).T))
    affine_lps = LPS_TO_RAS @ np.asarray(affine_ras, float)
    linear = affine_lps[:3, :3]
    spacing = np.sqrt((linear**2).sum(axis=0))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(v) for v in affine_lps[:3, 3]))
    image.SetDirection(tuple(float(v) for v in (linear / spacing).ravel()))
    return image


def write_itk(
    array_xyz: np.ndarray,
    affine_ras: np.ndarray,
    path: str | Path,
    *,
    input_path: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an (x, y, z) array and its RAS+ affine as NRRD or MetaImage, by suffix.

    Compressed (gzip), as 3D Slicer writes them. A sheared affine (gantry tilt) is
    written as non-orthogonal direction cosines, which both formats can carry.
    """
    path = Path(path)
    check_output_path(path, input_path, overwrite)
    image = _image(array_xyz, affine_ras)
    sitk = _sitk()
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        try:
            sitk.WriteImage(image, str(staging / path.name), True)
        except RuntimeError as error:
            raise SpleenScopeError(
                f"{path.name}: SimpleITK could not write it ({str(error).strip().splitlines()[-1][:120]})"
            ) from None
        written = sorted(staging.iterdir(), key=lambda p: p.name == path.name)  # header last
        for item in written:
            target = path.parent / item.name
            if item.name != path.name and target.exists() and not overwrite:
                raise SpleenScopeError(
                    f"{target}: the data file of {path.name} already exists; choose another "
                    "name or pass --overwrite"
                )
        for item in written:
            os.chmod(item, 0o666 & ~_umask())
            target = path.parent / item.name
            if overwrite:
                os.replace(item, target)
                continue
            try:
                os.link(item, target)  # fails if the name appeared meanwhile: never replaced
            except FileExistsError:
                raise SpleenScopeError(
                    f"{target}: already exists; choose another name or pass --overwrite"
                ) from None
            item.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
