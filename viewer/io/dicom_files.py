"""Find DICOM image slices among files and folders, reading headers only.

Everything that is not an image slice is skipped, never fatal: empty or non-DICOM
files, DICOMDIR, structured reports, RT structures, segmentations, presentation
states. Each image slice (or each frame of an enhanced multi-frame file) becomes a
:class:`SliceRecord` holding the few header values that grouping, geometry and
decoding need, and nothing that identifies the patient.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from viewer.errors import UnreadableFileError

log = logging.getLogger(__name__)
# pydicom warns about malformed files as it reads them; we report such files in our
# own one-line errors, and a stray UserWarning would break the CLI's one-line stderr.
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")
logging.getLogger("pydicom").setLevel(logging.ERROR)

# Storage classes that hold no image volume (SEG, SR, RT objects, presentation
# states, key objects, encapsulated documents, waveforms, raw data, DICOMDIR).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, SEG, fiducials
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects (structures, plans, doses)
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated PDF / CDA
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms
)
NON_IMAGE_MODALITIES = {
    "SEG",
    "SR",
    "RTSTRUCT",
    "RTPLAN",
    "RTDOSE",
    "RTRECORD",
    "PR",
    "KO",
    "REG",
    "DOC",
}


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


@dataclass
class ScanResult:
    """Slices found, and how many files were skipped and why (for messages)."""

    slices: list[SliceRecord] = field(default_factory=list)
    not_dicom: int = 0
    non_image: int = 0
    files_seen: int = 0


def candidate_files(inputs: Path | Iterable[Path]) -> list[Path]:
    """Every regular file under the inputs (folders are searched recursively), sorted."""
    if isinstance(inputs, (str, Path)):
        inputs = [Path(inputs)]
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for root, dirs, names in os.walk(item):
                dirs.sort()
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        elif item.is_file():
            files.append(item)
        else:
            raise UnreadableFileError(f"{item}: no such file or folder; check the path")
    return files


def read_header(path: Path) -> pydicom.Dataset | None:
    """The dataset without pixel data, or None when the file is not DICOM."""
    try:
        if path.stat().st_size < 132:
            return None
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return _read_without_preamble(path)
    except (OSError, ValueError, EOFError, TypeError, KeyError, AttributeError):
        return None


def _read_without_preamble(path: Path) -> pydicom.Dataset | None:
    """Old files without the 128-byte preamble: accept only if they look like images."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        if "Rows" in ds and "Columns" in ds and "ImagePositionPatient" in ds:
            return ds
    except Exception:  # noqa: BLE001 - arbitrary bytes can break the parser anywhere
        pass
    return None


def is_image(ds: pydicom.Dataset) -> bool:
    sop_class = str(
        ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", {}), "MediaStorageSOPClassUID", "")
    )
    if sop_class.startswith(NON_IMAGE_SOP_PREFIXES):
        return False
    if str(ds.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return False
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return False  # colour screenshots and secondary captures are not volumes
    return "Rows" in ds and "Columns" in ds


def scan(inputs: Path | Iterable[Path]) -> ScanResult:
    """Read the headers of every candidate file and keep the image slices."""
    result = ScanResult()
    for path in candidate_files(inputs):
        result.files_seen += 1
        ds = read_header(path)
        if ds is None:
            result.not_dicom += 1
            log.debug("skipping %s: not DICOM", path.name)
            continue
        if not is_image(ds):
            result.non_image += 1
            log.debug("skipping %s: not an image object", path.name)
            continue
        try:
            result.slices.extend(records_from_dataset(ds, path))
        except (ValueError, TypeError, IndexError, AttributeError) as error:
            log.debug("skipping %s: unusable header (%s)", path.name, error)
            result.non_image += 1
    return result


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
