"""The header values of one DICOM image plane, and how they are read.

A :class:`SliceRecord` holds the few values that grouping, geometry and decoding
need, and nothing that identifies the patient. Classic files give one record;
enhanced multi-frame CT/MR files give one per frame, with geometry and rescale from
the per-frame functional groups, falling back on the shared ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pydicom


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
    extra: dict = field(default_factory=dict, compare=False, repr=False)


# ------------------------------------------------------------------ header values
def _floats(value, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == count else None


def _first_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _window(item) -> tuple[float, float] | None:
    center = _first_float(item.get("WindowCenter"))
    width = _first_float(item.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return (center, width)


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


def records_from_dataset(ds: pydicom.Dataset, path: Path) -> list[SliceRecord]:
    """One record per image plane in the dataset (one, or one per frame)."""
    frames = _int_or_none(ds.get("NumberOfFrames")) or 1
    common = dict(
        path=path,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        series_number=_int_or_none(ds.get("SeriesNumber")),
        description=str(ds.get("SeriesDescription", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2"),
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        pixel_representation=int(ds.get("PixelRepresentation", 0) or 0),
        number_of_frames=frames,
        transfer_syntax=str(getattr(ds.get("file_meta", None), "TransferSyntaxUID", "") or ""),
    )
    if "PerFrameFunctionalGroupsSequence" not in ds:
        slope = _first_float(ds.get("RescaleSlope"))
        intercept = _first_float(ds.get("RescaleIntercept"))
        record = SliceRecord(
            frame=None if frames == 1 else 0,
            position=_floats(ds.get("ImagePositionPatient"), 3),
            orientation=_floats(ds.get("ImageOrientationPatient"), 6),
            pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
            rescale_slope=1.0 if slope in (None, 0.0) else slope,
            rescale_intercept=intercept or 0.0,
            instance_number=_int_or_none(ds.get("InstanceNumber")),
            window=_window(ds),
            slice_thickness=_first_float(ds.get("SpacingBetweenSlices"))
            or _first_float(ds.get("SliceThickness")),
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
    records = []
    window = None
    center = _group_item(ds, 0, "FrameVOILUTSequence", "WindowCenter")
    width = _group_item(ds, 0, "FrameVOILUTSequence", "WindowWidth")
    if center is not None and width is not None and _first_float(width):
        window = (_first_float(center), _first_float(width))
    for frame in range(frames):
        slope = _first_float(
            _group_item(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")
        )
        intercept = _first_float(
            _group_item(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")
        )
        records.append(
            SliceRecord(
                frame=frame,
                position=_floats(
                    _group_item(ds, frame, "PlanePositionSequence", "ImagePositionPatient"), 3
                ),
                orientation=_floats(
                    _group_item(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
                ),
                pixel_spacing=_floats(
                    _group_item(ds, frame, "PixelMeasuresSequence", "PixelSpacing"), 2
                ),
                rescale_slope=1.0 if slope in (None, 0.0) else slope,
                rescale_intercept=intercept or 0.0,
                instance_number=frame + 1,
                window=window,
                slice_thickness=_first_float(
                    _group_item(ds, frame, "PixelMeasuresSequence", "SpacingBetweenSlices")
                )
                or _first_float(_group_item(ds, frame, "PixelMeasuresSequence", "SliceThickness")),
                **common,
            )
        )
    return records
