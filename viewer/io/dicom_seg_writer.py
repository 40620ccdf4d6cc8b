"""Write a mask as a BINARY DICOM SEG that references the DICOM series it was drawn on.

A DICOM SEG is how OHIF, 3D Slicer and PACS exchange masks: it lives in the same
study as the images and names every source slice by its SOP Instance UID, so a
viewer overlays it on the right series without any grid guessing. highdicom builds
the object (functional groups, bit packing, derivation references); this module
finds the source slice of every mask plane, de-identifies the headers first, and
writes the file atomically.

Privacy: patient-identifying values never reach the written file. The patient and
study modules are rebuilt from scratch (name ``ANONYMOUS^``, an ID derived from the
Study Instance UID, no birth date, accession number, institution, physicians or
dates); only the UIDs that let a viewer match the SEG to its images (study, series,
SOP instance, frame of reference) are kept. highdicom only ever sees an allow-list
copy of each source header (:data:`KEPT_SOURCE_KEYWORDS`), so free text and private
tags of the source cannot reach the SEG either.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from viewer.atomic import atomic_path
from viewer.errors import SpleenScopeError
from viewer.grid import lps_to_ras
from viewer.io.dicom_files import scan
from viewer.io.dicom_records import SliceRecord
from viewer.io.file_names import DICOM, check_output_path, is_nifti_name, require_format
from viewer.io.validation import HeaderValueError
from viewer.volume import Volume

log = logging.getLogger(__name__)

# The trailing caret makes it a valid single-component person name (family name only).
ANONYMOUS_NAME = "ANONYMOUS^"
MANUFACTURER = "SpleenScope"
SOFTWARE_VERSION = "0.1.0"
# Position agreement (in voxels of the source grid) for a header to be "that slice".
SLICE_MATCH_TOLERANCE_VOXELS = 0.1

# The only source attributes highdicom sees: geometry, pixel description and the
# UIDs that let a viewer match the SEG to its images. An allow-list, not a deny-list,
# so names, IDs, dates, institutions, free text and private tags cannot slip through.
KEPT_SOURCE_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "SeriesNumber", "InstanceNumber", "Modality", "Manufacturer",
    "Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
    "SliceThickness", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "NumberOfFrames",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
)  # fmt: skip
# Numbers that only label a source slice: left out of the copy when unreadable.
OPTIONAL_NUMBER_KEYWORDS = ("InstanceNumber", "SeriesNumber")
# Type 2 patient and study attributes highdicom requires: present, and empty.
EMPTY_KEYWORDS = (
    "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate", "StudyTime",
    "ReferringPhysicianName",
)  # fmt: skip


def anonymous_patient_id(study_uid: str) -> str:
    """A stable pseudonym: SEGs of one study share it, and it reveals nothing new
    (the Study Instance UID is in the file anyway)."""
    return "SPLEENSCOPE-" + hashlib.sha256(study_uid.encode()).hexdigest()[:12].upper()


def anonymous_header(source: pydicom.Dataset) -> pydicom.Dataset:
    """A copy of a source header with only :data:`KEPT_SOURCE_KEYWORDS`, an anonymous
    patient (``ANONYMOUS^``, a pseudonymous ID) and empty type 2 study attributes."""
    header = pydicom.Dataset()
    for keyword in KEPT_SOURCE_KEYWORDS:
        if keyword in source:
            try:
                setattr(header, keyword, source.data_element(keyword).value)
            except (ValueError, TypeError, OverflowError):
                # A value of the wrong kind (text in InstanceNumber): never quoted back,
                # since it may be anything, a patient's name included.
                if keyword in OPTIONAL_NUMBER_KEYWORDS:
                    continue  # only labels the reference; the SEG is valid without it
                raise HeaderValueError(
                    Path(str(getattr(source, "filename", "") or "source")).name,
                    keyword,
                    "holds a value that is not valid for its type",
                ) from None
    syntax = getattr(getattr(source, "file_meta", None), "TransferSyntaxUID", None)
    if syntax:
        header.file_meta = pydicom.dataset.FileMetaDataset()
        header.file_meta.TransferSyntaxUID = syntax
    header.PatientName = ANONYMOUS_NAME
    header.PatientID = anonymous_patient_id(str(header.get("StudyInstanceUID", "")))
    for keyword in EMPTY_KEYWORDS:
        setattr(header, keyword, "")
    return header


def _source_uids(dataset: pydicom.Dataset, notices: list[str]) -> None:
    """Fill SOP UIDs from the file meta, and generate study/series UIDs when the
    export left them empty (then no viewer can match them, so say so)."""
    meta = getattr(dataset, "file_meta", None)
    if not dataset.get("SOPInstanceUID") and meta is not None:
        dataset.SOPInstanceUID = meta.get("MediaStorageSOPInstanceUID", "")
    if not dataset.get("SOPClassUID") and meta is not None:
        dataset.SOPClassUID = meta.get("MediaStorageSOPClassUID", "")
    if not dataset.get("SOPInstanceUID"):
        raise SpleenScopeError(
            "the source slices carry no SOP Instance UID, so a DICOM SEG cannot reference "
            "them; save the mask as NIfTI (.nii.gz) instead"
        )
    seed = str(dataset.get("FrameOfReferenceUID", "")) or "spleenscope"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        if not dataset.get(keyword):
            setattr(dataset, keyword, generate_uid(entropy_srcs=[seed, keyword]))
            notice = (
                f"the source series has no {keyword}; the SEG carries a generated one, so "
                "viewers will not link it to the images automatically"
            )
            if notice not in notices:
                notices.append(notice)


def _slice_records(volume: Volume, source_dicom_folder: Path) -> list[SliceRecord]:
    """The source record of each slice of the volume's source grid, in slice order."""
    columns, rows, slices = (int(n) for n in volume.source_shape[:3])
    to_source = np.linalg.inv(volume.source_affine)
    by_series: dict[str, dict[int, SliceRecord]] = {}
    for record in scan(source_dicom_folder).slices:
        if record.position is None or (record.rows, record.columns) != (rows, columns):
            continue
        world = lps_to_ras(record.position)
        ijk = to_source[:3, :3] @ world + to_source[:3, 3]
        k = int(np.rint(ijk[2]))
        if np.abs(ijk - [0, 0, k]).max() > SLICE_MATCH_TOLERANCE_VOXELS or not 0 <= k < slices:
            continue
        if record.frame is not None:
            raise SpleenScopeError(
                "the source is an enhanced multi-frame DICOM file; writing a SEG for it is not "
                "supported yet, so save the mask as NIfTI (.nii.gz)"
            )
        by_series.setdefault(record.series_uid, {}).setdefault(k, record)
    for found in by_series.values():
        if len(found) == slices:
            return [found[k] for k in range(slices)]
    raise SpleenScopeError(
        f"{source_dicom_folder.name}: holds no DICOM series with the {slices} slices of this "
        "volume's grid; choose the folder the volume was read from"
    )


def _segment_descriptions(labels: list[int], label_names: dict[int, str], algorithm: str | None):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm_type = hd.seg.SegmentAlgorithmTypeValues.MANUAL
    identification = None
    if algorithm:
        algorithm_type = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        identification = hd.AlgorithmIdentificationSequence(
            name=algorithm, family=codes.cid7162.ArtificialIntelligence, version=SOFTWARE_VERSION
        )
    descriptions = []
    # BINARY SEG numbers its segments 1..n; absent labels become empty segments so
    # label values survive the round trip unchanged.
    for number in range(1, max(labels) + 1):
        name = label_names.get(number, f"label {number}")
        property_type = getattr(codes.SCT, name.title().replace(" ", ""), None)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name[:64],
                segmented_property_category=codes.SCT.AnatomicalStructure,
                segmented_property_type=property_type or codes.SCT.Organ,
                algorithm_type=algorithm_type,
                algorithm_identification=identification,
            )
        )
    return descriptions


def _check_destination(volume: Volume, path: Path, overwrite: bool) -> None:
    require_format(path, DICOM.key, what="a DICOM SEG file name")
    check_output_path(path, volume.source_path, overwrite)


def require_dicom_source(source: str | Path) -> None:
    """Refuse a NIfTI source early (before a long segmentation): a DICOM SEG must
    reference DICOM images."""
    source = Path(source)
    if source.is_file() and (is_nifti_name(source) or source.name.lower().endswith(".gz")):
        raise SpleenScopeError(
            f"{source.name}: a DICOM SEG needs a DICOM source series to reference; "
            "save the mask as NIfTI (.nii.gz) instead"
        )
    first = _first_image_header(source)
    if first is not None:
        _require_frame_of_reference(first)


def _first_image_header(source: Path) -> pydicom.Dataset | None:
    """The header of the first DICOM image found (a few files at most are read)."""
    from viewer.io.dicom_files import candidate_files, is_image, read_header

    try:
        files = candidate_files(source)
    except SpleenScopeError:
        return None
    for path in files[:20]:
        try:
            header = read_header(path, parse_every_element=True)
        except SpleenScopeError:
            continue
        if header is not None and is_image(header):
            return header
    return None


def _require_frame_of_reference(header: pydicom.Dataset) -> None:
    if not str(header.get("FrameOfReferenceUID", "") or "").strip():
        raise SpleenScopeError(
            "the source series has no FrameOfReferenceUID, which a DICOM SEG must share "
            "with its images; save the mask as NIfTI (.nii.gz) instead"
        )


def save_mask_as_dicom_seg(
    volume: Volume,
    canonical_mask: np.ndarray,
    source_dicom_folder: str | Path,
    path: str | Path,
    label_names: dict[int, str] | None = None,
    *,
    algorithm: str | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Write ``canonical_mask`` (on ``volume``'s canonical grid) as a BINARY DICOM SEG.

    ``source_dicom_folder`` is the DICOM folder (or file) ``volume`` was read from;
    each mask plane references the slice at its position. Label N becomes segment N
    named ``label_names[N]``. ``algorithm`` (a model name) marks the segments as
    AUTOMATIC, else MANUAL. The written file is de-identified (see the module
    docstring) and replaced atomically. Returns one-line notices for the user.

    Raises :class:`SpleenScopeError` for a non-DICOM source (a DICOM SEG needs DICOM
    images to reference), a folder without the volume's series, or a bad path.
    """
    import highdicom as hd

    source = Path(source_dicom_folder)
    path = Path(path)
    require_dicom_source(source)
    _check_destination(volume, path, overwrite)
    mask = np.asarray(canonical_mask)
    volume.check_same_grid_shape(mask)
    if mask.min() < 0 or mask.max() > 255:
        raise SpleenScopeError("the mask holds values outside 0..255; it is not a label map")
    labels = [int(v) for v in np.unique(mask) if v > 0] or [1]
    records = _slice_records(volume, source)
    notices: list[str] = []
    headers = []
    for record in records:
        header = pydicom.dcmread(record.path, stop_before_pixels=True)
        _source_uids(header, notices)
        headers.append(anonymous_header(header))
    _require_frame_of_reference(headers[0])
    # source grid is (columns, rows, slices); SEG frames are (rows, columns) per slice
    source_mask = volume.to_source_grid(mask).astype(np.uint8)
    frames = np.ascontiguousarray(np.transpose(source_mask, (2, 1, 0)))
    seg = hd.seg.Segmentation(
        source_images=headers,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_segment_descriptions(labels, label_names or {}, algorithm),
        series_instance_uid=generate_uid(),
        series_number=int(headers[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=SOFTWARE_VERSION,
        device_serial_number="0",
        series_description="SpleenScope segmentation",
        content_label="SEGMENTATION",
        content_creator_name=ANONYMOUS_NAME,
    )
    seg.PatientName = ANONYMOUS_NAME  # belt and braces: highdicom copied the scrubbed headers
    _write_atomically(seg, path)
    for notice in notices:
        log.info("%s", notice)
    return notices


def _write_atomically(dataset: pydicom.Dataset, path: Path) -> None:
    with atomic_path(path) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
    log.info("wrote DICOM SEG %s", path)
