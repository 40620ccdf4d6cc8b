"""Slice order, slice step and the voxel-to-world affine of a DICOM stack.

Slices are ordered by ImagePositionPatient projected on the slice normal (the
cross product of the two ImageOrientationPatient directions), never by file name or
InstanceNumber, and the step between slices comes from those positions, never from
SliceThickness (overlapping reconstructions have a step smaller than the
thickness). A stack whose step is not uniform (a missing slice) is refused with the
slice numbers and distances rather than silently stretched.

With gantry tilt the step between slices is not along the slice normal; the affine
then keeps the true step vector as its third column (a sheared affine), so every
voxel still lands on its true world position, and a warning says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from viewer.errors import GeometryError
from viewer.grid import LPS_TO_RAS
from viewer.io.dicom_records import SliceRecord

# Positions closer than this (mm) count as the same place.
SAME_POSITION_MM = 1e-3
# A gap counts as irregular when it differs from the typical one by more than
# this fraction of it, plus an absolute allowance for rounding in the header.
STEP_RELATIVE_TOLERANCE = 0.01
STEP_ABSOLUTE_TOLERANCE_MM = 1e-3
# Angles between the slice step and the normal below this are rounding, not tilt.
TILT_WARNING_DEGREES = 0.05


@dataclass(frozen=True)
class StackGeometry:
    """Ordered slices and the affine of the source grid (columns, rows, slices)."""

    ordered: tuple[SliceRecord, ...]
    affine_ras: np.ndarray
    slice_step_mm: float
    tilt_degrees: float
    warnings: tuple[str, ...]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise GeometryError("ImageOrientationPatient holds a zero vector; the header is corrupt")
    return vector / norm


def stack_geometry(records: list[SliceRecord] | tuple[SliceRecord, ...]) -> StackGeometry:
    """Order the slices and compute the RAS affine, refusing irregular stacks."""
    first = records[0]
    if first.orientation is None or any(r.position is None for r in records):
        raise GeometryError(
            "the slices lack ImagePositionPatient or ImageOrientationPatient, so their place "
            "in the body is unknown; export the series with its geometry"
        )
    if first.pixel_spacing is None:
        raise GeometryError("the slices lack PixelSpacing; export the series with its geometry")
    row_dir = _unit(np.asarray(first.orientation[:3], float))
    col_dir = _unit(np.asarray(first.orientation[3:], float))
    normal = _unit(np.cross(row_dir, col_dir))
    positions = np.asarray([r.position for r in records], float)
    distances = positions @ normal
    order = np.argsort(distances, kind="stable")
    ordered = tuple(records[i] for i in order)
    positions, distances = positions[order], distances[order]
    warnings: list[str] = []

    if len(records) == 1:
        thickness = first.slice_thickness or 1.0
        warnings.append(
            f"single slice: its thickness ({thickness:g} mm) comes from the header, not from positions"
        )
        step_vector = normal * thickness
    else:
        _check_positions(positions, distances, ordered)
        step_vector = (positions[-1] - positions[0]) / (len(records) - 1)
        _check_collinear(positions, step_vector)
    along_normal = float(step_vector @ normal)
    tilt = math.degrees(
        math.atan2(float(np.linalg.norm(step_vector - along_normal * normal)), abs(along_normal))
    )
    if tilt > TILT_WARNING_DEGREES:
        warnings.append(
            f"gantry tilt of {tilt:.1f} degrees: slices are sheared, and the affine keeps the "
            "shear so positions are exact, but the voxel grid is not orthogonal"
        )
    row_spacing, column_spacing = first.pixel_spacing
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * column_spacing  # voxel i walks along a row: next column
    affine_lps[:3, 1] = col_dir * row_spacing  # voxel j walks down a column: next row
    affine_lps[:3, 2] = step_vector
    affine_lps[:3, 3] = positions[0]
    return StackGeometry(
        ordered=ordered,
        affine_ras=LPS_TO_RAS @ affine_lps,
        slice_step_mm=float(np.linalg.norm(step_vector)),
        tilt_degrees=tilt,
        warnings=tuple(warnings),
    )


def _check_positions(positions: np.ndarray, distances: np.ndarray, ordered) -> None:
    """Refuse stacks at one position, with duplicates, or with irregular gaps."""
    count = len(positions)
    spread = float(np.linalg.norm(positions - positions[0], axis=1).max())
    if spread < SAME_POSITION_MM:
        raise GeometryError(
            f"all {count} slices lie at the same position, so they do not form a volume "
            "(repeated or time-series images); open a single file or another series"
        )
    steps = np.diff(distances)
    duplicates = np.flatnonzero(steps < SAME_POSITION_MM)
    if duplicates.size:
        k = int(duplicates[0])
        raise GeometryError(
            f"slices {k + 1} and {k + 2}{_instances(ordered, k)} (of {count}, ordered by position) "
            "lie at the same position "
            f"({duplicates.size} such pairs): the folder mixes several acquisitions; "
            "separate them into their own folders"
        )
    typical = _typical_step(steps)
    tolerance = STEP_RELATIVE_TOLERANCE * typical + STEP_ABSOLUTE_TOLERANCE_MM
    irregular = np.flatnonzero(np.abs(steps - typical) > tolerance)
    if irregular.size:
        gaps = ", ".join(
            f"slices {int(k) + 1} and {int(k) + 2}{_instances(ordered, int(k))} are "
            f"{steps[k]:.3g} mm apart"
            for k in irregular[:3]
        )
        more = f" (and {irregular.size - 3} more)" if irregular.size > 3 else ""
        raise GeometryError(
            f"uneven slice spacing: {gaps}{more} where the rest are {typical:.3g} mm apart "
            "(ordered by position); a slice is missing or the folder mixes series, "
            "so re-export the complete series"
        )


def _typical_step(steps: np.ndarray) -> float:
    """The most common step (to 0.01 mm); on a tie the smallest, since a missing
    slice makes a gap that is a multiple of the true step."""
    values, counts = np.unique(np.round(steps, 2), return_counts=True)
    most = values[counts == counts.max()].min()
    return float(np.median(steps[np.round(steps, 2) == most]))


def _instances(ordered, k: int) -> str:
    """`` (instances 12 and 14)`` when the headers number their instances, else ``""``."""
    first, second = ordered[k].instance_number, ordered[k + 1].instance_number
    if first is None or second is None:
        return ""
    return f" (instances {first} and {second})"


def _check_collinear(positions: np.ndarray, step_vector: np.ndarray) -> None:
    expected = positions[0] + np.arange(len(positions))[:, None] * step_vector
    deviation = float(np.linalg.norm(positions - expected, axis=1).max())
    if deviation > max(0.1, 0.05 * float(np.linalg.norm(step_vector))):
        raise GeometryError(
            f"slice positions do not lie on a straight line (off by {deviation:.3g} mm); "
            "the folder mixes series, so separate them"
        )
