"""Walk a folder and make one :class:`SurveyRow` per DICOM series or volume file.

Headers only: DICOM through ``pydicom.dcmread(stop_before_pixels=True)`` and the
same slice records, series grouping and stack geometry the reader uses (so the
survey warns about exactly what loading would); the other formats through their
header readers (nibabel's lazy images, SimpleITK's ``ReadImageInformation``).
Pixels are read only with ``intensities=True``, from a few evenly spaced slices.

A file that is not an image is counted and skipped; a damaged one is listed in
``Survey.unreadable`` with its one-line reason; nothing aborts the walk.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewer.errors import GeometryError, SpleenScopeError
from viewer.io.file_names import format_of
from viewer.survey.rows import Survey, SurveyRow
from viewer.volume import orientation_codes, spacing_from_affine

log = logging.getLogger(__name__)

# Data files that belong to a header beside them (MetaImage, NRRD): not rows themselves.
COMPANION_SUFFIXES = (".raw", ".zraw", ".raw.gz")
# Slices read per series or volume for intensity percentiles (evenly spaced).
INTENSITY_SAMPLE_SLICES = 5
# A voxel grid whose axes are off square by more than this is sheared (gantry tilt).
SHEAR_WARNING_DEGREES = 0.05
# Below this many files forking a pool of header readers costs more than it saves
# (measured: at 240 files two workers were slower than one on a busy 2-core machine).
PARALLEL_MIN_FILES = 2000
CHUNK_FILES = 64
FORMAT_LABELS = {
    "nifti": "NIfTI", "metaimage": "MetaImage", "nrrd": "NRRD", "analyze": "Analyze",
    "minc": "MINC", "mgh": "MGH",
}  # fmt: skip

Progress = Callable[[int, int], None]


def walk(root: Path) -> list[Path]:
    """Every regular, non-hidden file under ``root``, sorted."""
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(folder) / n for n in sorted(names) if not n.startswith("."))
    return files


def _key(value) -> str:
    """A one-way key for counting (studies, patients); empty stays empty."""
    text = str(value or "").strip()
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return path.name


# ------------------------------------------------------------------ volume files
def _shear_degrees(affine: np.ndarray) -> float:
    columns = np.asarray(affine, float)[:3, :3]
    unit = columns / np.linalg.norm(columns, axis=0)
    worst = max(abs(float(unit[:, a] @ unit[:, b])) for a, b in ((0, 1), (0, 2), (1, 2)))
    return math.degrees(math.asin(min(1.0, worst)))


def _volume_header(path: Path, key: str) -> tuple[tuple[int, ...], np.ndarray, str, list[str]]:
    """(shape, voxel-to-RAS affine, dtype, warnings) from the header alone."""
    if key == "nifti":
        import nibabel as nib

        from viewer.io.nifti import choose_affine

        try:
            image = nib.load(path)
        except Exception as error:  # noqa: BLE001 - nibabel raises many types
            raise SpleenScopeError(f"{path.name}: not a NIfTI header nibabel can read") from error
        affine, warnings = choose_affine(image.header)
        return tuple(int(s) for s in image.shape), affine, str(image.get_data_dtype()), warnings
    if key in ("metaimage", "nrrd"):
        from viewer.io.itk_formats import read_itk_header

        header = read_itk_header(path)
        return header.shape, header.affine_ras, header.dtype, []
    from viewer.io.nibabel_formats import read_nibabel_header

    header = read_nibabel_header(path)
    return header.shape, header.affine_ras, header.dtype, []


def _dtype_name(dtype: str) -> str:
    """``int16`` for ``>i2`` too: the survey compares types, not byte orders."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return dtype


def volume_row(path: Path, key: str, root: Path) -> SurveyRow:
    shape, affine, dtype, warnings = _volume_header(path, key)
    spatial = tuple(shape[:3]) + (1,) * (3 - len(shape[:3]))
    if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
        warnings.append(f"4D: {int(np.prod(shape[3:]))} volumes (the first is shown)")
    shear = _shear_degrees(affine)
    if shear > SHEAR_WARNING_DEGREES:
        warnings.append(f"sheared grid (gantry tilt) of {shear:.1f} degrees")
    spacing = spacing_from_affine(affine)
    return SurveyRow(
        path=_relative(path, root),
        format=FORMAT_LABELS.get(key, key),
        shape=spatial,
        spacing_mm=tuple(round(s, 4) for s in spacing),
        slice_step_mm=round(spacing[2], 4),
        orientation="".join(orientation_codes(affine)),
        dtype=_dtype_name(dtype),
        warnings=warnings,
        open_path=str(path),
    )


# ------------------------------------------------------------------ DICOM series
def _slice_gaps(records, normal: np.ndarray) -> tuple[float | None, int, list[str]]:
    """(typical step, missing slices, warnings) from positions along the slice normal."""
    positions = np.asarray([r.position for r in records if r.position is not None], float)
    if len(positions) < 2:
        return None, 0, []
    distances = np.sort(positions @ normal)
    steps = np.diff(distances)
    warnings: list[str] = []
    same = int(np.count_nonzero(steps < 1e-3))
    if same:
        warnings.append(f"{same + 1} slices share a position (not one volume)")
    moving = steps[steps >= 1e-3]
    if moving.size == 0:
        return 0.0, 0, warnings
    values, counts = np.unique(np.round(moving, 2), return_counts=True)
    typical = float(values[counts == counts.max()].min())
    gaps = moving[moving > 1.5 * typical]
    missing = int(sum(max(0, round(g / typical) - 1) for g in gaps))
    if missing:
        warnings.append(
            f"{missing} missing slice(s): gaps up to {gaps.max():.3g} mm where the step is "
            f"{typical:.3g} mm"
        )
    return typical, missing, warnings


def _dicom_dtype(first) -> str:
    integer_rescale = (
        float(first.rescale_slope).is_integer() and float(first.rescale_intercept).is_integer()
    )
    if not integer_rescale:
        return "float32"
    signed = first.pixel_representation == 1 or first.rescale_intercept < 0
    return f"{'int' if signed else 'uint'}{8 if first.bits_stored <= 8 else 16}"


def series_row(series, meta: dict[Path, dict], root: Path) -> SurveyRow:
    from viewer.io.dicom_geometry import stack_geometry

    records = list(series.records)
    first = records[0]
    files = sorted({r.path for r in records})
    folder = files[0].parent
    info = meta.get(first.path, {})
    warnings: list[str] = []
    step = None
    missing = 0
    if first.orientation is not None:
        row = np.asarray(first.orientation[:3], float)
        column = np.asarray(first.orientation[3:], float)
        step, missing, gap_warnings = _slice_gaps(records, np.cross(row, column))
        warnings.extend(gap_warnings)
    try:
        geometry = stack_geometry(records)
        warnings.extend(w for w in geometry.warnings if w not in warnings)
        step = geometry.slice_step_mm
    except GeometryError as error:
        if not missing:
            warnings.append(f"not a regular volume: {error}")
    except SpleenScopeError as error:
        warnings.append(str(error))
    spacing: tuple[float, ...] = ()
    if first.pixel_spacing is not None:
        depth = step or first.slice_thickness
        spacing = (first.pixel_spacing[1], first.pixel_spacing[0])  # along a row, down a column
        spacing += (depth,) if depth else ()
    return SurveyRow(
        path=_relative(folder, root),
        format="DICOM",
        modality=first.modality,
        manufacturer=info.get("manufacturer", ""),
        model=info.get("model", ""),
        shape=(first.columns, first.rows, len(records)),
        spacing_mm=tuple(round(float(s), 4) for s in spacing),
        slice_step_mm=round(float(step), 4) if step is not None else None,
        missing_slices=missing,
        orientation=series.orientation,
        dtype=_dicom_dtype(first),
        warnings=warnings,
        open_path=str(folder),
        study_key=info.get("study", ""),
        patient_key=info.get("patient", ""),
        files=[str(p) for p in files],
    )


def _dicom_meta(ds) -> dict:
    """The few non-pixel values the survey shows or counts (hashed where identifying)."""
    return {
        "manufacturer": str(ds.get("Manufacturer", "") or "").strip(),
        "model": str(ds.get("ManufacturerModelName", "") or "").strip(),
        "study": _key(ds.get("StudyInstanceUID")),
        "patient": _key(ds.get("PatientID")),
    }


# The header elements the survey uses: what decides "is this an image slice", what the
# slice records hold (viewer.io.dicom_records), and the few values shown or counted.
# Reading only these keeps the survey at the speed of a bare header loop; the values
# read still go through the same record checks as when a series is loaded.
SURVEY_TAGS = (
    "SOPClassUID", "Modality", "SamplesPerPixel", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "NumberOfFrames", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "PhotometricInterpretation", "ImagePositionPatient",
    "ImageOrientationPatient", "PixelSpacing", "RescaleSlope", "RescaleIntercept",
    "InstanceNumber", "WindowCenter", "WindowWidth", "SpacingBetweenSlices", "SliceThickness",
    "EchoNumbers", "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
    "Manufacturer", "ManufacturerModelName", "StudyInstanceUID", "PatientID",
)  # fmt: skip


@functools.cache
def _survey_tags() -> list:
    """SURVEY_TAGS as pydicom tags, looked up once (not per file)."""
    from pydicom.tag import Tag

    return [Tag(keyword) for keyword in SURVEY_TAGS]


def read_survey_header(path: Path):
    """The survey's header elements of a DICOM file, or None when it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from viewer.io.dicom_files import read_header

    try:
        if path.stat().st_size < 132:
            return None
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_survey_tags())
    except InvalidDicomError:
        return read_header(path)  # no preamble: the reader's own careful fallback
    except Exception as error:  # noqa: BLE001 - arbitrary bytes can break the parser anywhere
        from viewer.io.dicom_files import has_dicom_magic

        if has_dicom_magic(path):
            raise SpleenScopeError(
                f"{path.name}: its DICOM header cannot be read ({type(error).__name__}; "
                "truncated or damaged)"
            ) from None
        return None


# ------------------------------------------------------------------ the walk
def _volume_key(path: Path) -> str | None:
    """The volume format a file is read as, "" for a companion data file, None for DICOM."""
    name = path.name.lower()
    if name.endswith(COMPANION_SUFFIXES):
        return ""
    fmt = format_of(path)
    if fmt is None or fmt.key == "dicom":
        return None
    if fmt.key == "analyze":
        from viewer.io.nibabel_formats import is_single_file_nifti

        if name.endswith(".img"):
            if is_single_file_nifti(path):
                return "nifti"
            if path.with_suffix(".hdr").exists() or path.with_suffix(".HDR").exists():
                return ""  # the .hdr makes the row
        return "analyze"
    return fmt.key


# Header elements that differ from slice to slice of one series; every other element
# the survey reads is the same raw bytes across a series.
VARYING_TAGS = frozenset({0x00200032, 0x00200013})  # ImagePositionPatient, InstanceNumber


class SeriesTemplates:
    """Slices of one series differ only in position and instance number: their other
    header elements are byte-for-byte equal. Those are converted and checked once
    (``records_from_dataset``, ``is_image``) per distinct set of raw bytes, and each
    further slice only has its position (through the validation gate) and instance
    number converted. Same bytes give the same values, so the rows are unchanged;
    the survey's header time drops to about that of parsing alone."""

    def __init__(self) -> None:
        self._known: dict[tuple, tuple[bool, dict, object]] = {}

    @staticmethod
    def key(ds) -> tuple | None:
        if "PerFrameFunctionalGroupsSequence" in ds or "NumberOfFrames" in ds:
            return None  # multi-frame: per-frame values, no shortcut
        meta = getattr(ds, "file_meta", None)
        parts: list = [
            str(getattr(meta, "TransferSyntaxUID", "") or ""),
            getattr(ds, "is_little_endian", None),
            getattr(ds, "is_implicit_VR", None),
        ]
        for tag, element in ds.items():
            if int(tag) in VARYING_TAGS:
                continue
            value = element.value
            if not isinstance(value, (bytes, str, int, float, type(None))):
                return None  # already converted to something unhashable: no shortcut
            parts.append((int(tag), value))
        return tuple(parts)

    def examine(self, ds, path: Path) -> tuple[str, object]:
        from dataclasses import replace

        from viewer.io.dicom_files import is_image
        from viewer.io.dicom_records import records_from_dataset
        from viewer.io.validation import finite_floats

        key = self.key(ds)
        known = self._known.get(key) if key is not None else None
        if known is None:
            image = is_image(ds)
            records = records_from_dataset(ds, path) if image else []
            meta = _dicom_meta(ds) if image else {}
            if key is not None and len(records) == 1:
                self._known[key] = (image, meta, records[0])
            return ("slices", (records, meta)) if image else ("non_image", None)
        image, meta, template = known
        if not image:
            return "non_image", None
        position = ds.get("ImagePositionPatient")
        position = finite_floats(
            list(position) if position is not None else None,
            3,
            source=path.name,
            field="ImagePositionPatient",
        )
        instance = ds.get("InstanceNumber")
        try:
            instance = int(instance) if instance not in (None, "") else None
        except (TypeError, ValueError, OverflowError):
            instance = None
        record = replace(
            template, path=path, position=position, instance_number=instance,
            extra=dict(template.extra),
        )  # fmt: skip
        return "slices", ([record], meta)


def examine(path: Path, root: Path, templates: SeriesTemplates | None = None) -> tuple[str, object]:
    """What one file is, from its header: ``("row", SurveyRow)`` for a volume file,
    ``("slices", (records, meta))`` for a DICOM image, ``("companion"|"not_image"|
    "non_image", None)``, or ``("unreadable", one-line reason)``. Never raises."""
    from viewer.io.dicom_files import is_image
    from viewer.io.dicom_records import records_from_dataset

    try:
        key = _volume_key(path)
        if key == "":
            return "companion", None
        if key is not None:
            return "row", volume_row(path, key, root)
        ds = read_survey_header(path)
        if ds is None:
            return "not_image", None
        if templates is not None:
            return templates.examine(ds, path)
        if not is_image(ds):
            return "non_image", None
        return "slices", (records_from_dataset(ds, path), _dicom_meta(ds))
    except SpleenScopeError as error:
        return "unreadable", f"{_relative(path, root)}: {str(error).split(': ', 1)[-1]}"
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere
        return "unreadable", f"{_relative(path, root)}: unusable ({type(error).__name__})"


def _examine_chunk(paths: list[Path], root: Path) -> list[tuple[str, object]]:
    templates = SeriesTemplates()
    return [examine(path, root, templates) for path in paths]


def _examined(files: list[Path], root: Path, workers: int):
    """``(path, result)`` for every file in order: in this process, or in ``workers``
    forked processes (headers are parsed in Python, so threads would not help)."""
    if workers <= 1 or len(files) < PARALLEL_MIN_FILES:
        templates = SeriesTemplates()
        for path in files:
            yield path, examine(path, root, templates)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [files[i : i + CHUNK_FILES] for i in range(0, len(files), CHUNK_FILES)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for chunk, results in zip(
            chunks, pool.map(_examine_chunk, chunks, [root] * len(chunks)), strict=True
        ):
            yield from zip(chunk, results, strict=True)


def default_workers() -> int:
    """One header reader per core (the CLI); the window passes 1 (no fork beside Qt)."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def survey_folder(
    root: str | Path,
    *,
    intensities: bool = False,
    progress: Progress | None = None,
    show_bar: bool | None = None,
    workers: int = 1,
) -> Survey:
    """Survey every image under ``root``. ``show_bar`` None: a tqdm bar on a terminal.

    ``workers`` > 1 reads headers in that many forked processes (for large trees on a
    multi-core machine; never from a process running Qt).
    """
    from tqdm import tqdm

    from viewer.io.dicom_series import group_series

    root = Path(root)
    if not root.is_dir():
        raise SpleenScopeError(f"{root}: no such folder; give the folder to survey")
    files = walk(root)
    survey = Survey(root=str(root), files_seen=len(files), intensities_sampled=intensities)
    slices = []
    meta: dict[Path, dict] = {}
    bar = tqdm(
        total=len(files),
        unit="file",
        desc="survey",
        disable=(not show_bar) if show_bar is not None else None,
    )
    for done, (path, (kind, payload)) in enumerate(_examined(files, root, workers), start=1):
        bar.update(1)
        if progress:
            progress(done, len(files))
        if kind == "row":
            survey.rows.append(payload)
        elif kind == "slices":
            records, meta[path] = payload
            slices.extend(records)
        elif kind == "not_image":
            survey.skipped_not_image += 1
        elif kind == "non_image":
            survey.skipped_non_image_dicom += 1
        elif kind == "unreadable":
            survey.unreadable.append(payload)
    bar.close()
    # Series are grouped per folder: copies of one series in two folders (a backup, a
    # compressed variant) are two rows, as they are two things to load.
    by_folder: dict[Path, list] = {}
    for record in slices:
        by_folder.setdefault(record.path.parent, []).append(record)
    for folder in sorted(by_folder):
        found = group_series(by_folder[folder])
        for number, series in enumerate(found, start=1):
            row = series_row(series, meta, root)
            if len(found) > 1:  # several series in one folder: tell the rows apart
                row.path = f"{row.path} (series {number} of {len(found)})"
            survey.rows.append(row)
    survey.rows.sort(key=lambda r: r.path)
    if intensities:
        from viewer.survey.intensities import sample_intensities

        for row in survey.rows:
            sample_intensities(row)
    from viewer.survey.outliers import flag_rows

    flag_rows(survey.rows)
    return survey
