"""Grid geometry vocabulary: when two voxel grids are the same, LPS <-> RAS, view <-> axis.

World space is RAS+ millimetres (NIfTI, nibabel). DICOM and ITK use LPS; the two differ
by flipping the first two world axes, and every conversion goes through
:data:`LPS_TO_RAS` / :func:`lps_to_ras` here.

In memory a volume sits on its closest canonical grid (voxel axes toward R, A, S), so
each view steps through one fixed voxel axis: sagittal 0, coronal 1, axial 2.

Qt-free: numpy only.
"""

from __future__ import annotations

import numpy as np

#: Two grids are the same when their shapes match and every affine entry agrees
#: within this many millimetres. An entry's error grows with the voxel index: at the
#: far corner of a 512-voxel axis 1e-3 mm per entry is at most 0.5 mm, half a typical
#: voxel, where 1e-2 would allow 5 mm (several voxels: a mask visibly off its image).
#: It is still ~30x the float32 rounding of a NIfTI header (~3e-5 mm at 500 mm from
#: the origin), so a mask saved and read back always matches its image.
SAME_GRID_TOLERANCE_MM = 1e-3

#: 4 x 4 affine that turns DICOM/ITK LPS world coordinates into RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
RAS_TO_LPS = LPS_TO_RAS
_FLIP_XY = np.array([-1.0, -1.0, 1.0])

VIEW_NAMES: tuple[str, str, str] = ("axial", "coronal", "sagittal")
#: Voxel axis each view steps through on the canonical grid (X=R, Y=A, Z=S).
SLICE_AXIS: dict[str, int] = {"axial": 2, "coronal": 1, "sagittal": 0}
#: (horizontal, vertical) voxel axes shown in each view.
IN_PLANE_AXES: dict[str, tuple[int, int]] = {"axial": (0, 1), "coronal": (0, 2), "sagittal": (1, 2)}
#: World axis name each view's position is read along (axial moves in z).
POSITION_AXIS_NAME: dict[str, str] = {"axial": "z", "coronal": "y", "sagittal": "x"}


def same_grid(a_affine, a_shape, b_affine, b_shape) -> bool:
    """True when two (affine, shape) pairs describe the same voxel grid."""
    return tuple(a_shape[:3]) == tuple(b_shape[:3]) and bool(
        np.allclose(np.asarray(a_affine, dtype=float), np.asarray(b_affine, dtype=float),
                    rtol=0.0, atol=SAME_GRID_TOLERANCE_MM)
    )


def lps_to_ras(points) -> np.ndarray:
    """Points or directions (..., 3) from LPS to RAS: x and y change sign."""
    return np.asarray(points, dtype=float) * _FLIP_XY


def ras_to_lps(points) -> np.ndarray:
    """Points or directions (..., 3) from RAS to LPS (the same flip)."""
    return np.asarray(points, dtype=float) * _FLIP_XY


def slice_axis_of(view: int | str) -> int:
    """The voxel axis a view steps through: ``"axial"`` -> 2; an axis number is checked
    and returned as is. Unknown names raise ValueError."""
    if isinstance(view, str):
        key = view.strip().lower()
        if key in SLICE_AXIS:
            return SLICE_AXIS[key]
        if not key.isdigit():
            raise ValueError(f"unknown view {view!r}; use axial, coronal or sagittal")
        view = int(key)
    axis = int(view)
    if axis not in (0, 1, 2):
        raise ValueError(f"slice axis must be 0, 1 or 2, got {view!r}")
    return axis


def view_of_axis(axis: int | str) -> str:
    """The view that steps through ``axis``: 2 -> ``"axial"``."""
    index = slice_axis_of(axis)
    return next(name for name, value in SLICE_AXIS.items() if value == index)
