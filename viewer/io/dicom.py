"""DICOM series in, canonical :class:`Volume` out.

``load_dicom`` takes a file, a list of files or a folder (searched recursively;
files with or without ``.dcm``), skips everything that is not an image slice,
groups slices into series (:mod:`viewer.io.dicom_series`), orders them and builds
the affine (:mod:`viewer.io.dicom_geometry`), decodes the pixels
(:mod:`viewer.io.dicom_pixels`), converts DICOM's LPS to RAS once, and brings the
result to the canonical grid. The source grid is (columns, rows, slices in
ascending order along the slice normal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from nibabel import orientations as nio

from viewer.errors import (
    GeometryError,
    SeriesSelectionError,
    UnreadableFileError,
)
from viewer.io.dicom_files import ScanResult, examine_file, scan
from viewer.io.dicom_geometry import stack_geometry
from viewer.io.dicom_pixels import read_stack
from viewer.io.dicom_received import ReceivedSeries, claim
from viewer.io.dicom_series import SeriesInfo, group_series
from viewer.io.validation import check_affine, check_allocation, check_shape
from viewer.volume import CANONICAL_AXCODES, Volume, canonical_ornt_transform

log = logging.getLogger(__name__)

__all__ = ["SeriesInfo", "list_series", "load_dicom"]

PathInput = str | Path | Iterable[str | Path]


def _as_inputs(path: PathInput) -> list[Path]:
    if isinstance(path, (str, Path)):
        return [Path(path)]
    return [Path(p) for p in path]


def _describe(inputs: list[Path]) -> str:
    return inputs[0].name if len(inputs) == 1 else f"{len(inputs)} files"


def _scan_received(received: ReceivedSeries) -> ScanResult:
    """What :func:`scan` finds in a just-received folder, from the files examined as they
    arrived, in scan's (name) order; a file the walk did not read is read from disk."""
    result = ScanResult()
    templates: dict = {}
    for path, found in received.files():
        if found is not None:
            result.add(found)
        else:
            examine_file(result, path, templates)
    return result


def _scan_series(
    inputs: list[Path], received: ReceivedSeries | None = None
) -> tuple[ScanResult, list[SeriesInfo]]:
    result = _scan_received(received) if received is not None else scan(inputs)
    if not result.slices:
        where = _describe(inputs)
        if result.first_error is not None:
            if len(result.unreadable) > 1:
                raise type(result.first_error)(
                    f"{result.first_error} (and {len(result.unreadable) - 1} more unusable "
                    "DICOM file(s), no usable slice)"
                )
            raise result.first_error
        if result.files_seen == 0:
            raise UnreadableFileError(
                f"{where}: the folder is empty; choose a folder with DICOM files"
            )
        if result.nifti_example:
            raise UnreadableFileError(
                f"{where}: holds NIfTI files but no DICOM images; open a NIfTI file itself "
                f"(e.g. {result.nifti_example})"
            )
        if result.non_image and not result.not_dicom:
            raise UnreadableFileError(
                f"{where}: holds DICOM objects but no images ({result.non_image} non-image objects "
                "such as SEG, SR, RTSTRUCT); open the image series instead"
            )
        raise UnreadableFileError(
            f"{where}: neither NIfTI nor DICOM images ({result.files_seen} file(s) checked); "
            "open a .nii/.nii.gz file or a DICOM file or folder"
        )
    if result.not_dicom or result.non_image:
        log.info(
            "skipped %d non-DICOM file(s) and %d non-image DICOM object(s)",
            result.not_dicom,
            result.non_image,
        )
    return result, group_series(result.slices)


class SeriesList(list):
    """The series found, plus ``notes``: one line per DICOM file that could not be used."""

    notes: tuple[str, ...] = ()


def list_series(path: PathInput) -> SeriesList:
    """The image series found in a file, list of files or folder (headers only).

    ``.notes`` names each DICOM file skipped as unusable, so a listing never hides one.
    """
    scanned, found = _scan_series(_as_inputs(path))
    series = SeriesList(found)
    series.notes = tuple(scanned.unreadable)
    return series


def choose_series(series: list[SeriesInfo], index: int | None, where: str) -> SeriesInfo:
    if index is None:
        if len(series) == 1:
            return series[0]
        listing = "; ".join(s.label() for s in series)
        raise SeriesSelectionError(
            f"{where} holds {len(series)} series ({listing}); choose one with --series N",
            series=series,
        )
    if not 0 <= index < len(series):
        raise SeriesSelectionError(
            f"{where} holds {len(series)} series (0 to {len(series) - 1}); series {index} does not exist",
            series=series,
        )
    return series[index]


def canonical_allocator(
    source_affine: np.ndarray, source_shape: tuple[int, int, int]
) -> tuple[np.ndarray, Callable[[np.dtype], tuple[np.ndarray, np.ndarray]]]:
    """The canonical affine, and an allocator for :func:`read_stack`.

    The allocator returns the canonical array (Fortran order, so each axial slice
    ``array[:, :, k]`` is contiguous) and a view of it on the source grid, which the
    decoder fills slice by slice: the pixels are never copied a second time.
    """
    transform = canonical_ornt_transform(source_affine)
    canonical_affine = source_affine @ nio.inv_ornt_aff(transform, source_shape)
    to_source = nio.ornt_transform(
        nio.axcodes2ornt(CANONICAL_AXCODES), nio.io_orientation(source_affine)
    )
    canonical_shape = [0, 0, 0]
    for source_axis, (target_axis, _) in enumerate(transform):
        canonical_shape[int(target_axis)] = source_shape[source_axis]

    def allocate(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        canonical = np.empty(canonical_shape, dtype=dtype, order="F")
        return canonical, nio.apply_orientation(canonical, to_source)

    return canonical_affine, allocate


def load_dicom(
    path: PathInput,
    series: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Volume:
    """Read one DICOM series as a canonical :class:`Volume`.

    Raises :class:`SeriesSelectionError` (with ``.series``) when several series are
    found and ``series`` is None.
    """
    inputs = _as_inputs(path)
    # a series just retrieved into this folder (viewer.io.dicom_received), if unchanged
    received = claim(inputs[0]) if len(inputs) == 1 else None
    scanned, found = _scan_series(inputs, received)
    chosen = choose_series(found, series, _describe(inputs))
    records = list(chosen.records)
    if any(r.extra.get("classic_multiframe") for r in records):
        raise GeometryError(
            f"{records[0].path.name}: a multi-frame image without per-frame positions (cine or "
            "nuclear medicine); it cannot be placed as a volume"
        )
    first = records[0]
    source_shape = check_shape(
        (first.columns, first.rows, len(records)), source=first.path.name, field="Rows/Columns"
    )
    check_allocation(source_shape, np.float32, source=first.path.name)
    geometry = stack_geometry(records)
    affine = check_affine(geometry.affine_ras, source=first.path.name, field="geometry")
    canonical_affine, allocate = canonical_allocator(affine, source_shape)
    if progress:
        progress(0, len(records))
    in_memory = received.pixel_sources() if received is not None else None
    canonical = read_stack(geometry.ordered, allocate, progress=progress, in_memory=in_memory)
    warnings = list(geometry.warnings) + list(scanned.unreadable)
    if any(r.photometric == "MONOCHROME1" for r in records):
        warnings.append("MONOCHROME1 images were inverted so that higher values are brighter")
    if canonical.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(canonical)))
        if bad:
            warnings.append(f"{bad} voxels are NaN or infinite")
    root = inputs[0] if len(inputs) == 1 else inputs[0].parent
    return Volume(
        array=canonical,
        affine=canonical_affine,
        source_affine=geometry.affine_ras,
        source_shape=source_shape,
        modality=first.modality,
        window=next((r.window for r in geometry.ordered if r.window), None),
        description=first.description,
        warnings=tuple(warnings),
        source_path=str(root),
    )
