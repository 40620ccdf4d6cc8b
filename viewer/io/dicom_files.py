"""Find DICOM image slices among files and folders, reading headers only.

Everything that is not an image slice is skipped, never fatal: empty or non-DICOM
files, DICOMDIR, structured reports, RT structures, segmentations, presentation
states. Each image slice (or each frame of an enhanced multi-frame file) becomes a
:class:`viewer.io.dicom_records.SliceRecord`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from viewer.errors import SpleenScopeError, UnreadableFileError
from viewer.io.dicom_header import read_header_elements
from viewer.io.dicom_records import (
    HEADER_TAGS,
    SliceRecord,
    record_from_template,
    records_from_dataset,
    template_key,
)
from viewer.io.file_names import is_nifti_name

log = logging.getLogger(__name__)
# pydicom warns (and logs) about malformed files as it reads them; those go to the log
# file (viewer.log_file, with values blanked), and our own one-line errors to the user.

# A folder with more files than this is a disk or a home folder, not a study.
MAX_FILES = 50_000

# Storage classes that hold no image volume (SEG, SR, RT objects, presentation
# states, key objects, encapsulated documents, waveforms, raw data, DICOMDIR).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, SEG, fiducials
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects (structures, plans, doses)
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated PDF / CDA
    "1.2.840.10008.5.1.4.1.1.9",  # waveforms
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


@dataclass
class ScanResult:
    """Slices found, and how many files were skipped and why (for messages)."""

    slices: list[SliceRecord] = field(default_factory=list)
    not_dicom: int = 0
    non_image: int = 0
    files_seen: int = 0
    nifti_example: str = ""  # a NIfTI file met on the way, to point the user at it
    # DICOM files that could not be used, one line each naming the file and why
    # (never a header value): they become the volume's warnings, so nothing is
    # dropped without a word.
    unreadable: list[str] = field(default_factory=list)
    first_error: SpleenScopeError | None = None  # raised when no slice at all is usable

    def add(self, other: ScanResult) -> None:
        """Append what ``other`` found (files examined after ours)."""
        self.slices.extend(other.slices)
        self.not_dicom += other.not_dicom
        self.non_image += other.non_image
        self.files_seen += other.files_seen
        self.nifti_example = self.nifti_example or other.nifti_example
        self.unreadable.extend(other.unreadable)
        self.first_error = self.first_error or other.first_error


def candidate_files(inputs: Path | Iterable[Path]) -> list[Path]:
    """Every regular file under the inputs (folders are searched recursively), sorted."""
    if isinstance(inputs, (str, Path)):
        inputs = [Path(inputs)]
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for root, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
                if len(files) > MAX_FILES:
                    raise UnreadableFileError(
                        f"{item.name}: holds more than {MAX_FILES} files, too many for one "
                        "study; choose the folder of a single study or series"
                    )
        elif item.is_file():
            files.append(item)
        else:
            raise UnreadableFileError(f"{item}: no such file or folder; check the path")
    return files


def has_dicom_magic(path: Path) -> bool:
    """Whether the file carries the DICOM Part 10 marker ("DICM" after the preamble)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_header(path: Path, *, parse_every_element: bool = False) -> pydicom.Dataset | None:
    """The dataset without pixel data, or None when the file is not DICOM.

    Raises :class:`UnreadableFileError` for a Part 10 file (``DICM`` marker) whose
    header cannot be parsed: that is a damaged DICOM file, not a stray other file.

    pydicom converts values lazily. A caller that keeps the dataset and hands it to
    code reading arbitrary elements later (a DICOM SEG's source header) asks for
    ``parse_every_element`` so a bad value fails here, inside the per-file guard.
    Readers that take what they need right away inside the same guard (``scan``)
    skip it: converting every element made header reading about 4x slower.
    """
    try:
        if path.stat().st_size < 132:
            return None
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if parse_every_element:
            for _ in ds.iterall():
                pass
        return ds
    except InvalidDicomError:
        return _read_without_preamble(path)
    except Exception as error:  # noqa: BLE001 - arbitrary bytes can break the parser anywhere
        if has_dicom_magic(path):
            raise UnreadableFileError(
                f"{path.name}: its DICOM header cannot be read ({type(error).__name__}; "
                "truncated or damaged)"
            ) from None
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
    if any(sop_class == p or sop_class.startswith(p + ".") for p in NON_IMAGE_SOP_PREFIXES):
        return False
    if str(ds.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return False
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return False  # colour screenshots and secondary captures are not volumes
    return "Rows" in ds and "Columns" in ds


def scan(inputs: Path | Iterable[Path]) -> ScanResult:
    """Read the headers of every candidate file and keep the image slices.

    A file that is not DICOM is skipped quietly; a DICOM file that cannot be used
    (damaged header, a header value no image has) is skipped with a note in
    ``unreadable``, so one bad file never aborts a folder and never vanishes silently.

    Slices of one series differ only in position and instance number: their other
    header elements are byte for byte equal, so those are converted and checked once
    per distinct set of bytes (``template_key``) and each further slice only has its
    position (through the validation gate) and instance number read. Same bytes give
    the same values, so the records are the same.
    """
    result = ScanResult()
    templates: dict[tuple, SliceRecord] = {}
    for path in candidate_files(inputs):
        examine_file(result, path, templates)
    return result


def examine_file(
    result: ScanResult,
    path: Path,
    templates: dict[tuple, SliceRecord],
    header: tuple[pydicom.Dataset, tuple[int, int] | None] | None = None,
) -> None:
    """One file of :func:`scan`: its slices, or why it was skipped, go into ``result``.

    ``header`` is the file's ``(dataset, pixel location)`` when the caller already
    read it from the bytes it wrote there (a retrieve); otherwise it is read here.
    """
    result.files_seen += 1
    if is_nifti_name(path.name):
        result.not_dicom += 1
        result.nifti_example = result.nifti_example or path.name
        return
    try:
        ds, pixel_location = header if header is not None else _scan_header(path)
        if ds is None:
            result.not_dicom += 1
            log.debug("skipping %s: not DICOM", path.name)
            return
        key = template_key(ds)
        template = templates.get(key) if key is not None else None
        if template is not None:
            result.slices.append(record_from_template(template, ds, path, pixel_location))
            return
        if not is_image(ds):
            if (header is not None or has_dicom_magic(path)) and _claims_image_storage(ds):
                raise UnreadableFileError(
                    f"{path.name}: an image file whose header lacks Rows or Columns "
                    "(truncated or damaged)"
                )
            result.non_image += 1
            log.debug("skipping %s: not an image object", path.name)
            return
        records = records_from_dataset(ds, path, pixel_location)
        if key is not None and len(records) == 1:
            templates[key] = records[0]
        result.slices.extend(records)
    except SpleenScopeError as error:
        _note_unreadable(result, path, error)
    except Exception as error:  # noqa: BLE001 - a damaged header can fail anywhere
        _note_unreadable(
            result,
            path,
            UnreadableFileError(
                f"{path.name}: its DICOM header is unusable ({type(error).__name__})"
            ),
        )


def _scan_header(path: Path) -> tuple[pydicom.Dataset | None, tuple[int, int] | None]:
    """The header elements the readers use, and where uncompressed pixel data lies.

    Little endian Part 10 files are walked by :mod:`viewer.io.dicom_header` (about 4x
    faster than pydicom for a CT header); anything else is read by :func:`read_header`.
    """
    header = read_header_elements(path, HEADER_TAGS)
    if header is None:
        return read_header(path), None
    return header.dataset, header.native_pixel_location


def _claims_image_storage(ds: pydicom.Dataset) -> bool:
    sop_class = str(
        ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", {}), "MediaStorageSOPClassUID", "")
    )
    return sop_class.startswith("1.2.840.10008.5.1.4.1.1.") and not any(
        sop_class == p or sop_class.startswith(p + ".") for p in NON_IMAGE_SOP_PREFIXES
    )


def _note_unreadable(result: ScanResult, path: Path, error: SpleenScopeError) -> None:
    message = str(error)
    log.info("skipping a DICOM file: %s", message)
    result.unreadable.append(f"skipped {message}")
    if result.first_error is None:
        result.first_error = error
