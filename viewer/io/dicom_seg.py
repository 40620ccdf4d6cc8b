"""DICOM SEG in, a label map on an open volume's canonical grid out.

OHIF, 3D Slicer and PACS exchange masks as DICOM Segmentation objects: one or more
segments, each stored as frames (2D planes) with their own position in the patient.
We place every frame by its per-frame PlanePositionSequence and the (shared or
per-frame) orientation and pixel spacing, through the volume's affine, onto the
volume's canonical voxels. A frame that does not fall exactly on the volume's
voxels means the SEG was drawn on another series or grid, and is refused rather
than resampled: a SEG on the wrong grid silently shifted would be a wrong mask.

Segment number N becomes label value N, named by its SegmentLabel. Where segments
overlap, the smaller segment wins (ties: the higher segment number), so a small
structure drawn inside a larger one stays visible; a notice says how many voxels
overlap. FRACTIONAL segments are thresholded at half their maximum value; LABELMAP
SEGs (pixel value = segment number) are read too.

Only pydicom is used here: decoding the frames one at a time keeps memory to one
frame plus the voxel indices, and the geometry must be checked against *our*
volume's grid anyway, which highdicom's own volume helpers do not know about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import iter_pixels

from viewer.errors import GeometryError, SpleenScopeError, UnreadableFileError
from viewer.grid import lps_to_ras
from viewer.io.validation import (
    HeaderValueError,
    check_direction_cosines,
    check_frame_count,
    check_spacing,
    finite_floats,
    positive_int,
)
from viewer.volume import Volume

log = logging.getLogger(__name__)

SEG_SOP_CLASS_UIDS = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")
# A frame pixel must land within this many voxels of a voxel centre.
ON_GRID_TOLERANCE_VOXELS = 0.1


def is_dicom_seg(path: str | Path) -> bool:
    """True when ``path`` is a DICOM file holding a Segmentation object."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"]
        )
    except Exception:  # noqa: BLE001 - any non-DICOM bytes may break the parser
        return False
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not sop_class:
        sop_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""))
    return sop_class in SEG_SOP_CLASS_UIDS or str(ds.get("Modality", "")).upper() == "SEG"


@dataclass(frozen=True)
class FramePlane:
    """Where one SEG frame lies: its segment and its pixel-to-canonical-voxel map."""

    segment: int
    origin_ijk: np.ndarray  # canonical voxel of pixel (row 0, column 0)
    column_step_ijk: np.ndarray  # voxel step for one column to the right
    row_step_ijk: np.ndarray  # voxel step for one row down


def _functional_item(frame_group, shared_group, sequence: str):
    """The first item of a functional group sequence, per-frame first, then shared."""
    for group in (frame_group, shared_group):
        if group is not None and sequence in group and len(group[sequence].value):
            return group[sequence].value[0]
    return None


def _frame_planes(ds: pydicom.Dataset, volume: Volume, name: str) -> list[FramePlane]:
    """Map each frame onto the volume's canonical grid, or refuse with one line."""
    rows = positive_int(ds.get("Rows"), source=name, field="Rows")
    columns = positive_int(ds.get("Columns"), source=name, field="Columns")
    bits = positive_int(ds.get("BitsAllocated", 1), source=name, field="BitsAllocated", maximum=64)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    frames = check_frame_count(
        ds.get("NumberOfFrames", 1) or 1,
        max(1, rows * columns * bits // 8),
        _file_size(ds),
        source=name,
        compressed=bool(getattr(syntax, "is_compressed", False)),
    )
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    if per_frame is None or len(per_frame) != frames:
        raise UnreadableFileError(
            f"{name}: the SEG has no per-frame positions (PerFrameFunctionalGroupsSequence), "
            "so its frames cannot be placed; export it again with 3D Slicer, OHIF or highdicom"
        )
    world_to_voxel = np.linalg.inv(volume.affine)
    labelmap = _is_labelmap(ds)
    planes = []
    for index, group in enumerate(per_frame):
        position = _functional_item(group, shared, "PlanePositionSequence")
        orientation = _functional_item(group, shared, "PlaneOrientationSequence")
        measures = _functional_item(group, shared, "PixelMeasuresSequence")
        identification = _functional_item(group, shared, "SegmentIdentificationSequence")
        if identification is None and labelmap:
            identification = pydicom.Dataset()
            identification.ReferencedSegmentNumber = 0  # pixel values are the segment numbers
        if position is None or orientation is None or measures is None or identification is None:
            raise UnreadableFileError(
                f"{name}: frame {index + 1} lacks its position, orientation, pixel spacing or "
                "segment number, so it cannot be placed; export the SEG again"
            )
        origin = lps_to_ras(
            _values(position.get("ImagePositionPatient"), 3, name, "ImagePositionPatient")
        )
        cosines = check_direction_cosines(
            _values(orientation.get("ImageOrientationPatient"), 6, name, "ImageOrientationPatient"),
            source=name,
        )
        row_spacing, column_spacing = check_spacing(
            _values(measures.get("PixelSpacing"), 2, name, "PixelSpacing"),
            source=name,
            field="PixelSpacing",
        )
        along_row = lps_to_ras(cosines[:3]) * column_spacing
        down_column = lps_to_ras(cosines[3:]) * row_spacing
        origin_ijk = world_to_voxel[:3, :3] @ origin + world_to_voxel[:3, 3]
        column_step = world_to_voxel[:3, :3] @ along_row
        row_step = world_to_voxel[:3, :3] @ down_column
        corners = np.asarray(
            [
                origin_ijk + c * column_step + r * row_step
                for r in (0, rows - 1)
                for c in (0, columns - 1)
            ]
        )
        steps = np.stack([column_step, row_step])
        on_grid = (
            np.abs(corners - np.rint(corners)).max() <= ON_GRID_TOLERANCE_VOXELS
            and np.abs(steps - np.rint(steps)).max() * max(rows, columns)
            <= ON_GRID_TOLERANCE_VOXELS
            and np.all(np.abs(np.rint(steps)).sum(axis=1) == 1)
        )
        inside = np.all(np.rint(corners) >= 0) and np.all(
            np.rint(corners) <= np.asarray(volume.shape) - 1
        )
        if not (on_grid and inside):
            where = ", ".join(f"{v:.2f}" for v in origin_ijk)
            raise GeometryError(
                f"{name}: SEG frame {index + 1} does not lie on this volume's slices (its corner "
                f"falls at voxel {where}); the SEG belongs to another series or grid, so open "
                "the series it was drawn on"
            )
        planes.append(
            FramePlane(
                segment=positive_int(
                    identification.get("ReferencedSegmentNumber", 0) or 0,
                    source=name,
                    field="ReferencedSegmentNumber",
                )
                if not labelmap
                else 0,
                origin_ijk=np.rint(origin_ijk).astype(np.int64),
                column_step_ijk=np.rint(column_step).astype(np.int64),
                row_step_ijk=np.rint(row_step).astype(np.int64),
            )
        )
    return planes


def _values(value, count: int, name: str, field: str) -> tuple[float, ...]:
    numbers = finite_floats(
        list(value) if value is not None and not isinstance(value, (str, bytes)) else value,
        count,
        source=name,
        field=field,
    )
    if numbers is None:
        raise HeaderValueError(name, field, "is missing")
    return numbers


def _file_size(ds: pydicom.Dataset) -> int:
    try:
        return Path(ds.filename).stat().st_size
    except (OSError, TypeError, AttributeError):
        return 2**62  # not a file on disk: the frame count cannot be checked against it


def _is_labelmap(ds: pydicom.Dataset) -> bool:
    """LABELMAP SEGs (DICOM 2024) store segment numbers as pixel values, frames not per segment."""
    return str(ds.get("SegmentationType", "")).upper() == "LABELMAP"


def _frame_threshold(ds: pydicom.Dataset) -> float:
    """Pixel value at or above which a frame pixel is inside its segment."""
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        return float(ds.get("MaximumFractionalValue", 255) or 255) / 2.0
    return 1.0


def _segment_voxels(
    path: Path, ds: pydicom.Dataset, planes: list[FramePlane], shape: tuple[int, int, int]
) -> dict[int, np.ndarray]:
    """Flat canonical voxel indices of every segment, decoding one frame at a time."""
    threshold = _frame_threshold(ds)
    labelmap = _is_labelmap(ds)
    pieces: dict[int, list[np.ndarray]] = {}
    try:
        for plane, frame in zip(planes, iter_pixels(path), strict=True):
            frame = np.asarray(frame)
            numbers = [int(n) for n in np.unique(frame) if n] if labelmap else [plane.segment]
            for number in numbers:
                rows, cols = np.nonzero(frame == number if labelmap else frame >= threshold)
                if rows.size == 0:
                    continue
                ijk = (
                    plane.origin_ijk[:, None]
                    + plane.column_step_ijk[:, None] * cols
                    + plane.row_step_ijk[:, None] * rows
                )
                flat = np.ravel_multi_index(tuple(ijk), shape)
                pieces.setdefault(number, []).append(flat)
    except (ValueError, RuntimeError, NotImplementedError) as error:
        raise UnreadableFileError(
            f"{path.name}: the SEG's pixel data cannot be decoded ({error}); export it again"
        ) from error
    return {number: np.unique(np.concatenate(parts)) for number, parts in pieces.items()}


def _label_names(ds: pydicom.Dataset) -> dict[int, str]:
    """``{segment number: SegmentLabel}`` for every segment the file describes."""
    return {
        int(item.SegmentNumber): str(
            item.get("SegmentLabel", "") or f"segment {int(item.SegmentNumber)}"
        )
        for item in ds.get("SegmentSequence", [])
    }


def _overlap_count(voxels: dict[int, np.ndarray], size: int) -> int:
    """How many voxels more than one segment claims (each segment's indices are unique)."""
    if len(voxels) < 2:
        return 0
    seen = np.zeros(size, dtype=bool)
    overlap = np.zeros(size, dtype=bool)
    for indices in voxels.values():
        overlap[indices[seen[indices]]] = True
        seen[indices] = True
    return int(np.count_nonzero(overlap))


def load_seg_for_volume(
    path: str | Path, volume: Volume
) -> tuple[np.ndarray, dict[int, str], list[str]]:
    """Read a DICOM SEG onto ``volume``'s canonical grid.

    Returns ``(labels, label_names, notices)``: ``labels`` has the volume's shape,
    uint8 (uint16 when a segment number exceeds 255), value N where segment N is;
    ``label_names`` maps every segment number described in the file to its
    SegmentLabel (empty segments included); ``notices`` are one-line remarks for
    the user (overlaps resolved, fractional thresholding).

    Raises :class:`GeometryError` when the SEG's frames are not on the volume's
    slices, :class:`UnreadableFileError` when the file is not a usable SEG.
    """
    path = Path(path)
    try:
        return _load_seg_for_volume(path, volume)
    except SpleenScopeError:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as error:  # noqa: BLE001 - damaged SEGs break pydicom anywhere,
        # the Rust decoders even with a PanicException; name the field, never the value
        from viewer.log_file import field_of

        field = field_of(error)
        what = f"its {field} is unusable" if field else "it is damaged"
        raise UnreadableFileError(
            f"{path.name}: the SEG cannot be read ({what}, {type(error).__name__}); export it again"
        ) from None


def _load_seg_for_volume(path: Path, volume: Volume):
    name = path.name
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # noqa: BLE001 - arbitrary bytes can break the parser anywhere
        raise UnreadableFileError(
            f"{name}: not a readable DICOM file ({type(error).__name__})"
        ) from error
    if not is_dicom_seg(path) or "SegmentSequence" not in ds:
        raise UnreadableFileError(f"{name}: not a DICOM SEG object; open a segmentation file")
    label_names = _label_names(ds)
    planes = _frame_planes(ds, volume, name)
    voxels = _segment_voxels(path, ds, planes, volume.shape)
    largest = max([*label_names, *voxels], default=0)
    labels = np.zeros(volume.shape, dtype=np.uint8 if largest <= 255 else np.uint16)
    flat = labels.reshape(-1)
    notices: list[str] = []
    # Paint the largest segment first, so smaller ones (drawn later) win overlaps.
    for number in sorted(voxels, key=lambda n: (-voxels[n].size, n)):
        flat[voxels[number]] = number
    overlapping = _overlap_count(voxels, flat.size)
    if overlapping:
        notices.append(
            f"{name}: {overlapping} voxels belong to more than one segment; each shows "
            "the smallest segment that covers it"
        )
    if str(ds.get("SegmentationType", "")).upper() == "FRACTIONAL":
        notices.append(f"{name}: fractional segments shown where they reach at least 50%")
    log.info(
        "SEG %s: %d frames, %d segments on grid %s", name, len(planes), len(voxels), volume.shape
    )
    return labels, label_names, notices


def seg_label_names(path: str | Path) -> dict[int, str]:
    """``{segment number: SegmentLabel}`` of a DICOM SEG (headers only), ``{}`` for other files.

    Lets a caller that got labels through :func:`load_mask_for_volume`-style code
    name them from the file instead of guessing.
    """
    if not is_dicom_seg(path):
        return {}
    try:
        return _label_names(pydicom.dcmread(Path(path), stop_before_pixels=True))
    except Exception:  # noqa: BLE001 - names only decorate; a damaged list gives none
        log.warning("%s: the segment names cannot be read", Path(path).name)
        return {}


def load_label_volumes(*paths: str | Path) -> list[Volume]:
    """Load mask files where any may be a DICOM SEG, each SEG on the grid of the first
    other mask (a SEG carries frames, not a whole grid). For ``evaluate PRED REF``."""
    from viewer.io.load import load_volume

    is_seg = [is_dicom_seg(p) for p in paths]
    grids = [load_volume(p) if not seg else None for p, seg in zip(paths, is_seg, strict=True)]
    grid = next((v for v in grids if v is not None), None)
    if grid is None:
        raise UnreadableFileError(
            "every mask given is a DICOM SEG, which has no grid of its own; give one of them "
            "as NIfTI (e.g. the prediction from spleenscope segment)"
        )
    return [
        v if v is not None else grid.with_array(load_seg_for_volume(p, grid)[0])
        for p, v in zip(paths, grids, strict=True)
    ]


def seg_label_colors(path: str | Path) -> dict[int, tuple[int, int, int]]:
    """``{segment number: (r, g, b)}`` from each segment's RecommendedDisplayCIELabValue,
    so the overlay shows the colours the SEG's author chose (as OHIF and Slicer do);
    ``{}`` for other files or segments without one."""
    if not is_dicom_seg(path):
        return {}
    from highdicom.color import CIELabColor

    colors = {}
    try:
        items = pydicom.dcmread(Path(path), stop_before_pixels=True).get("SegmentSequence", [])
        for item in items:
            value = item.get("RecommendedDisplayCIELabValue")
            if value is not None and len(value) == 3:
                rgb = CIELabColor.from_dicom_value([int(v) for v in value]).to_rgb()
                colors[int(item.SegmentNumber)] = tuple(int(c) for c in rgb)
    except Exception:  # noqa: BLE001 - colours only decorate; damaged ones give defaults
        log.warning("%s: the segment colours cannot be read", Path(path).name)
        return {}
    return colors
