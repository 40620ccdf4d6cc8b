"""The header values of one DICOM image plane, and how they are read.

A :class:`SliceRecord` holds the few values that grouping, geometry and decoding
need, and nothing that identifies the patient. Classic files give one record;
enhanced multi-frame CT/MR files give one per frame, with geometry and rescale from
the per-frame functional groups, falling back on the shared ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import pydicom
from pydicom.datadict import tag_for_keyword

from viewer.io.validation import (
    HeaderValueError,
    check_direction_cosines,
    check_frame_count,
    check_rescale,
    check_spacing,
    finite_float,
    finite_floats,
    positive_int,
)


@dataclass(frozen=True)
class SliceRecord:
    """One 2D image plane: a single-frame file, or one frame of a multi-frame file.

    Positions and directions are in DICOM's LPS patient frame, as stored.
    """

    path: Path
    frame: int | None  # None for a single-frame file; 0-based frame index otherwise
    rows: int
    columns: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None  # row direction (3) then column direction (3)
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) in mm
    rescale_slope: float
    rescale_intercept: float
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    instance_number: int | None
    photometric: str
    bits_stored: int
    pixel_representation: int
    window: tuple[float, float] | None
    slice_thickness: float | None
    number_of_frames: int = 1
    transfer_syntax: str = ""
    bits_allocated: int = 16
    # where the file's defined-length Pixel Data value lies (offset, length in bytes),
    # when the header was read by viewer.io.dicom_header; None otherwise
    pixel_location: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    extra: dict = field(default_factory=dict, compare=False, repr=False)


# Every top-level element the series readers take from a header: what
# :func:`records_from_dataset` and ``viewer.io.dicom_files.is_image`` read. Folders
# are scanned by reading only these (``viewer.io.dicom_header``), so a reader that
# starts using another element adds it here (a test checks each one read is listed).
HEADER_KEYWORDS = (
    "SOPClassUID", "Modality", "SamplesPerPixel", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "PixelRepresentation", "NumberOfFrames", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "PhotometricInterpretation", "RescaleSlope",
    "RescaleIntercept", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "InstanceNumber", "WindowCenter", "WindowWidth", "SpacingBetweenSlices", "SliceThickness",
    "EchoNumbers", "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
)  # fmt: skip
HEADER_TAGS = frozenset(int(tag_for_keyword(keyword)) for keyword in HEADER_KEYWORDS)


# ------------------------------------------------------------------ header values
# Values that only decorate (window, thickness, numbers used for sorting labels)
# degrade to None when unusable; values that place or scale voxels go through the
# validation gate and make the slice unusable, with a message naming the field.
def _floats(value, count: int, source: str, field: str) -> tuple[float, ...] | None:
    return finite_floats(_plain(value), count, source=source, field=field)


def _plain(value):
    """A pydicom value as a Python list/scalar (MultiValue, DSfloat, IS ...)."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return list(value)
    return value


def _first_float(value) -> float | None:
    """Best effort for decorative values: None when absent, not a number or not finite."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0]
        number = float(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _positive_or_none(value) -> float | None:
    number = _first_float(value)
    return number if number is not None and number > 0 else None


def _window(item) -> tuple[float, float] | None:
    center = _first_float(item.get("WindowCenter"))
    width = _first_float(item.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return (center, width)


def _rescale(slope_value, intercept_value, source: str) -> tuple[float, float]:
    slope = finite_float(_plain(slope_value), source=source, field="RescaleSlope")
    intercept = finite_float(_plain(intercept_value), source=source, field="RescaleIntercept")
    slope = 1.0 if slope in (None, 0.0) else slope
    return check_rescale(slope, intercept or 0.0, source=source)


def _pixel_spacing(value, source: str) -> tuple[float, float] | None:
    numbers = _floats(value, 2, source, "PixelSpacing")
    return None if numbers is None else check_spacing(numbers, source=source, field="PixelSpacing")


def _or_default(value, default):
    """``default`` only when the element is absent or empty (a stored 0 stays 0)."""
    return default if value is None or value == "" else value


def _bits(ds: pydicom.Dataset, source: str) -> tuple[int, int, int]:
    """(BitsAllocated, BitsStored, PixelRepresentation), checked against each other."""
    allocated = positive_int(
        _or_default(ds.get("BitsAllocated"), 16), source=source, field="BitsAllocated", maximum=64
    )
    if allocated not in (1, 8, 16, 32, 64):
        raise HeaderValueError(source, "BitsAllocated", "is not 1, 8, 16, 32 or 64")
    stored = positive_int(
        _or_default(ds.get("BitsStored"), allocated),
        source=source,
        field="BitsStored",
        maximum=64,
    )
    if stored > allocated:
        raise HeaderValueError(source, "BitsStored", "is larger than BitsAllocated")
    representation = _int_or_none(ds.get("PixelRepresentation", 0)) or 0
    if representation not in (0, 1):
        raise HeaderValueError(source, "PixelRepresentation", "is neither 0 nor 1")
    return allocated, stored, representation


def _frame_count(ds: pydicom.Dataset, path: Path, rows: int, columns: int, bits: int) -> int:
    """NumberOfFrames, checked against the bytes in the file before any per-frame work."""
    value = ds.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    syntax = getattr(ds.get("file_meta", None), "TransferSyntaxUID", None)
    compressed = bool(getattr(syntax, "is_compressed", False))
    samples = _int_or_none(ds.get("SamplesPerPixel", 1)) or 1
    frame_bytes = rows * columns * samples * bits // 8
    return check_frame_count(
        _plain(value), frame_bytes, size, source=path.name, compressed=compressed
    )


def _group_item(ds: pydicom.Dataset, frame: int, sequence: str, attribute: str):
    """An attribute from the per-frame functional group, else from the shared one."""
    for groups, index in (
        ("PerFrameFunctionalGroupsSequence", frame),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        seq = ds.get(groups)
        if not seq or len(seq) <= index:
            continue
        inner = seq[index].get(sequence)
        if inner and attribute in inner[0]:
            return inner[0].get(attribute)
    return None


def records_from_dataset(
    ds: pydicom.Dataset, path: Path, pixel_location: tuple[int, int] | None = None
) -> list[SliceRecord]:
    """One record per image plane in the dataset (one, or one per frame).

    ``pixel_location`` is where the Pixel Data value lies in ``path`` (offset,
    length), when the caller knows it.

    Every value that places or scales voxels goes through :mod:`viewer.io.validation`;
    an unusable one raises :class:`viewer.io.validation.HeaderValueError` naming the field.
    """
    source = path.name
    rows = positive_int(ds.get("Rows"), source=source, field="Rows")
    columns = positive_int(ds.get("Columns"), source=source, field="Columns")
    bits_allocated, bits_stored, representation = _bits(ds, source)
    frames = _frame_count(ds, path, rows, columns, bits_allocated)
    common = dict(
        path=path,
        rows=rows,
        columns=columns,
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        series_number=_int_or_none(ds.get("SeriesNumber")),
        description=str(ds.get("SeriesDescription", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2"),
        bits_stored=bits_stored,
        pixel_representation=representation,
        number_of_frames=frames,
        transfer_syntax=str(getattr(ds.get("file_meta", None), "TransferSyntaxUID", "") or ""),
        bits_allocated=bits_allocated,
        pixel_location=pixel_location,
    )
    if "PerFrameFunctionalGroupsSequence" not in ds:
        slope, intercept = _rescale(ds.get("RescaleSlope"), ds.get("RescaleIntercept"), source)
        record = SliceRecord(
            frame=None if frames == 1 else 0,
            position=_floats(ds.get("ImagePositionPatient"), 3, source, "ImagePositionPatient"),
            orientation=check_direction_cosines(
                _plain(ds.get("ImageOrientationPatient")), source=source
            ),
            pixel_spacing=_pixel_spacing(ds.get("PixelSpacing"), source),
            rescale_slope=slope,
            rescale_intercept=intercept,
            instance_number=_int_or_none(ds.get("InstanceNumber")),
            window=_window(ds),
            slice_thickness=_positive_or_none(ds.get("SpacingBetweenSlices"))
            or _positive_or_none(ds.get("SliceThickness")),
            **common,
        )
        if frames > 1:  # a classic multi-frame without per-frame geometry (cine, NM)
            record.extra["classic_multiframe"] = True
        echo = _int_or_none(_first_float(ds.get("EchoNumbers")))
        if echo is not None:
            record.extra["echo"] = echo
        return [record]
    return _enhanced_records(ds, frames, common)


def _enhanced_records(ds: pydicom.Dataset, frames: int, common: dict) -> list[SliceRecord]:
    """Enhanced CT/MR: geometry and rescale live in the functional groups, per frame."""
    source = common["path"].name
    records = []
    window = None
    center = _first_float(_group_item(ds, 0, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_float(_group_item(ds, 0, "FrameVOILUTSequence", "WindowWidth"))
    if center is not None and width:
        window = (center, width)
    for frame in range(frames):
        slope, intercept = _rescale(
            _group_item(ds, frame, "PixelValueTransformationSequence", "RescaleSlope"),
            _group_item(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept"),
            source,
        )
        records.append(
            SliceRecord(
                frame=frame,
                position=_floats(
                    _group_item(ds, frame, "PlanePositionSequence", "ImagePositionPatient"),
                    3,
                    source,
                    "ImagePositionPatient",
                ),
                orientation=check_direction_cosines(
                    _plain(
                        _group_item(
                            ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient"
                        )
                    ),
                    source=source,
                ),
                pixel_spacing=_pixel_spacing(
                    _group_item(ds, frame, "PixelMeasuresSequence", "PixelSpacing"), source
                ),
                rescale_slope=slope,
                rescale_intercept=intercept,
                instance_number=frame + 1,
                window=window,
                slice_thickness=_positive_or_none(
                    _group_item(ds, frame, "PixelMeasuresSequence", "SpacingBetweenSlices")
                )
                or _positive_or_none(
                    _group_item(ds, frame, "PixelMeasuresSequence", "SliceThickness")
                ),
                **common,
            )
        )
    return records


# ------------------------------------------------------------------ one series, one conversion
# Header elements that differ from slice to slice of one series; every other element
# the readers use is, in practice, the same bytes across a series.
VARYING_TAGS = frozenset({0x00200032, 0x00200013})  # ImagePositionPatient, InstanceNumber


def template_key(ds: pydicom.Dataset) -> tuple | None:
    """The raw bytes of every element but :data:`VARYING_TAGS` (and of the file meta),
    or None when there is no shortcut (multi-frame, values already converted)."""
    if "NumberOfFrames" in ds or "PerFrameFunctionalGroupsSequence" in ds:
        return None  # per-frame values, and a frame count checked against the file size
    meta = ds.get("file_meta", None)
    parts: list = [ds.original_encoding, tuple(ds.original_character_set or ())]
    for tag in (0x00020002, 0x00020010):  # MediaStorageSOPClassUID, TransferSyntaxUID
        element = meta.get_item(tag) if meta is not None and tag in meta else None
        parts.append(None if element is None else element.value)
    for tag, element in ds.items():
        if int(tag) in VARYING_TAGS:
            continue
        value = element.value
        if not isinstance(value, (bytes, str, int, float, type(None))):
            return None  # already converted to something unhashable
        parts.append((int(tag), element.VR, value))
    return tuple(parts)


def record_from_template(
    template: SliceRecord,
    ds: pydicom.Dataset,
    path: Path,
    pixel_location: tuple[int, int] | None = None,
) -> SliceRecord:
    """The record of a slice whose other elements are byte for byte ``template``'s:
    only its position (through the validation gate) and instance number are read."""
    return replace(
        template,
        path=path,
        position=_floats(ds.get("ImagePositionPatient"), 3, path.name, "ImagePositionPatient"),
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        pixel_location=pixel_location,
        extra=dict(template.extra),
    )
