"""The one image type that flows through the whole program.

A :class:`Volume` holds the voxel array in the closest canonical orientation (voxel
axes running toward patient Right, Anterior, Superior, as
``nibabel.as_closest_canonical`` does) and the 4 x 4 affine from that voxel index to
world RAS+ millimetres. Residual obliquity or shear stays in the affine.

It also remembers the grid of the file the user opened (``source_affine`` and
``source_shape``) so that a mask computed on the canonical grid can be written back
voxel-for-voxel on the file's own grid (:meth:`Volume.to_source_grid`).

Qt-free and torch-free: everything here is numpy and nibabel's orientation helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from nibabel import orientations as nio

CANONICAL_AXCODES = ("R", "A", "S")


def orientation_codes(affine: np.ndarray) -> tuple[str, str, str]:
    """Orientation letters of the voxel axes, e.g. ``('L', 'A', 'S')`` for LAS."""
    return tuple(nio.aff2axcodes(np.asarray(affine, dtype=float)))  # type: ignore[return-value]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths in mm: the norms of the affine's first three columns."""
    columns = np.asarray(affine, dtype=float)[:3, :3]
    return tuple(float(v) for v in np.sqrt((columns**2).sum(axis=0)))  # type: ignore[return-value]


def canonical_ornt_transform(source_affine: np.ndarray) -> np.ndarray:
    """The nibabel orientation transform from a source grid to the canonical grid."""
    source_ornt = nio.io_orientation(np.asarray(source_affine, dtype=float))
    return nio.ornt_transform(source_ornt, nio.axcodes2ornt(CANONICAL_AXCODES))


def to_canonical(array: np.ndarray, source_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a 3D array and its affine to the closest canonical (RAS+) voxel order.

    Only axis permutations and flips: no interpolation, so voxel values are exact.
    Returns ``(canonical_array, canonical_affine)``.
    """
    source_affine = np.asarray(source_affine, dtype=float)
    transform = canonical_ornt_transform(source_affine)
    canonical = nio.apply_orientation(array, transform)
    inverse = nio.inv_ornt_aff(transform, array.shape[:3])
    return canonical, source_affine @ inverse


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image on a canonical (RAS+) voxel grid with its world geometry.

    Attributes
    ----------
    array:
        Voxels, shape ``(X, Y, Z)`` with X toward patient Right, Y toward Anterior,
        Z toward Superior (closest canonical). CT values are Hounsfield units.
    affine:
        4 x 4 map from canonical voxel index ``(i, j, k, 1)`` to RAS+ mm.
    source_affine, source_shape:
        Grid of the file the user opened (for DICOM: columns, rows, slices in
        acquisition order, converted to RAS+). Masks are saved back on this grid.
    modality:
        ``"CT"``, ``"MR"``, or ``""`` when unknown (NIfTI has no modality field).
    window:
        Default display window ``(center, width)`` from the header, or None.
    description:
        Series description (non-identifying), or the file name for NIfTI.
    warnings:
        Things the reader noticed that the user should know (sform/qform disagree,
        4D input reduced to its first volume, NaN voxels, gantry tilt, ...).
    source_path:
        Where it was read from (a file or folder path), for titles and default names.
    """

    array: np.ndarray
    affine: np.ndarray
    source_affine: np.ndarray | None = None
    source_shape: tuple[int, ...] | None = None
    modality: str = ""
    window: tuple[float, float] | None = None
    description: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    source_path: str = ""

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume needs a 3D array, got shape {self.array.shape}")
        affine = np.asarray(self.affine, dtype=float)
        if affine.shape != (4, 4):
            raise ValueError(f"affine must be 4 x 4, got {affine.shape}")
        object.__setattr__(self, "affine", affine)
        if self.source_affine is None:
            object.__setattr__(self, "source_affine", affine.copy())
        else:
            object.__setattr__(self, "source_affine", np.asarray(self.source_affine, float))
        if self.source_shape is None:
            object.__setattr__(self, "source_shape", tuple(self.array.shape))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the canonical axes (X, Y, Z)."""
        return spacing_from_affine(self.affine)

    @property
    def orientation(self) -> tuple[str, str, str]:
        """Orientation letters of the canonical grid (``('R','A','S')`` unless sheared)."""
        return orientation_codes(self.affine)

    @property
    def source_orientation(self) -> tuple[str, str, str]:
        """Orientation letters of the file's own voxel axes (e.g. LAS, LPS)."""
        return orientation_codes(self.source_affine)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def mask_volume_ml(self, mask: np.ndarray) -> float:
        """Volume in mL of the non-zero voxels of a mask on this grid."""
        self.check_same_grid_shape(mask)
        return int(np.count_nonzero(mask)) * self.voxel_volume_mm3 / 1000.0

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Canonical voxel indices (..., 3) to RAS+ mm (..., 3)."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """RAS+ mm (..., 3) to continuous canonical voxel indices (..., 3)."""
        xyz = np.asarray(xyz, dtype=float)
        inverse = np.linalg.inv(self.affine)
        return xyz @ inverse[:3, :3].T + inverse[:3, 3]

    def world_to_nearest_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """RAS+ mm to the nearest voxel index, clipped into the volume."""
        ijk = np.rint(self.world_to_voxel(xyz)).astype(int)
        return np.clip(ijk, 0, np.asarray(self.shape) - 1)

    def contains_voxel(self, ijk) -> bool:
        ijk = np.asarray(ijk)
        return bool(np.all(ijk >= 0) and np.all(ijk < np.asarray(self.shape)))

    @property
    def center_world(self) -> np.ndarray:
        return self.voxel_to_world((np.asarray(self.shape) - 1) / 2.0)

    # ------------------------------------------------------------ source grid
    def to_source_grid(self, canonical_array: np.ndarray) -> np.ndarray:
        """Reorder an array on this canonical grid back to the source file's grid."""
        self.check_same_grid_shape(canonical_array)
        source_ornt = nio.io_orientation(self.source_affine)
        back = nio.ornt_transform(nio.axcodes2ornt(CANONICAL_AXCODES), source_ornt)
        out = nio.apply_orientation(canonical_array, back)
        if tuple(out.shape[:3]) != tuple(self.source_shape[:3]):
            raise ValueError(
                f"reordered shape {out.shape} does not match source shape {self.source_shape}"
            )
        return out

    def from_source_grid(self, source_array: np.ndarray) -> np.ndarray:
        """Reorder an array on the source file's grid to this canonical grid."""
        if tuple(source_array.shape[:3]) != tuple(self.source_shape[:3]):
            raise ValueError(
                f"array shape {source_array.shape} is not the source grid {self.source_shape}"
            )
        array, _ = to_canonical(source_array, self.source_affine)
        return array

    def check_same_grid_shape(self, array: np.ndarray) -> None:
        if tuple(array.shape[:3]) != self.shape:
            raise ValueError(f"array shape {array.shape} is not this volume's grid {self.shape}")

    def with_array(self, array: np.ndarray, **changes) -> Volume:
        """A copy on the same grid with other voxels (e.g. a mask), keeping geometry."""
        self.check_same_grid_shape(array)
        return replace(self, array=array, **changes)

    # ------------------------------------------------------------------ display
    @property
    def value_range(self) -> tuple[float, float]:
        finite = self.array[np.isfinite(self.array)] if self.array.dtype.kind == "f" else self.array
        if finite.size == 0:
            return (0.0, 0.0)
        return (float(finite.min()), float(finite.max()))

    def summary(self) -> dict:
        """Non-identifying facts about the volume, as plain JSON-able values."""
        return {
            "shape": list(self.shape),
            "spacing": [round(s, 6) for s in self.spacing],
            "orientation": "".join(self.orientation),
            "source_orientation": "".join(self.source_orientation),
            "source_shape": list(self.source_shape),
            "affine": [[float(round(v, 6)) for v in row] for row in self.affine],
            "modality": self.modality,
            "window": list(self.window) if self.window else None,
            "description": self.description,
            "dtype": str(self.array.dtype),
            "value_range": list(self.value_range),
            "voxel_volume_mm3": round(self.voxel_volume_mm3, 6),
            "warnings": list(self.warnings),
        }
