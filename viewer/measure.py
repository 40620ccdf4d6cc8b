"""Distance measurement (the radiologist's ruler), free of Qt.

A ruler is drawn in one slice view between two points given in that view's
millimetre coordinates (see :mod:`viewer.slicing`). Its length is measured in
patient space: both ends go through the view geometry to continuous voxel indices
on the current slice and through the volume's affine to RAS millimetres. This is
exact for oblique or sheared affines too, where the view-box millimetres are only
the voxel grid's spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.slicing import ViewGeometry


def voxel_distance_mm(affine: np.ndarray, ijk_a, ijk_b) -> float:
    """Euclidean distance in mm between two (continuous) voxel positions."""
    affine = np.asarray(affine, float)
    delta = np.asarray(ijk_b, float) - np.asarray(ijk_a, float)
    return float(np.linalg.norm(affine[:3, :3] @ delta))


@dataclass
class Ruler:
    """One distance line in one view, on one slice.

    ``start``/``end`` are view-box mm points (u, v) of ``view``; ``index`` the slice
    the ruler was drawn on (it is shown only there, as in PACS viewers).
    """

    view: str
    index: int
    start: tuple[float, float]
    end: tuple[float, float]

    def voxels(self, geometry: ViewGeometry) -> tuple[np.ndarray, np.ndarray]:
        """Both ends as continuous voxel indices."""
        return (geometry.view_point_to_voxel(*self.start, self.index),
                geometry.view_point_to_voxel(*self.end, self.index))

    def length_mm(self, geometry: ViewGeometry, affine: np.ndarray) -> float:
        return voxel_distance_mm(affine, *self.voxels(geometry))

    def world_points(self, geometry: ViewGeometry, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both ends in RAS mm."""
        affine = np.asarray(affine, float)
        a, b = self.voxels(geometry)
        return (affine[:3, :3] @ a + affine[:3, 3], affine[:3, :3] @ b + affine[:3, 3])


def format_length(mm: float) -> str:
    """``"12.3 mm"``, or centimetres past 10 cm (``"14.2 cm"``) as reports write them."""
    return f"{mm / 10.0:.1f} cm" if mm >= 100.0 else f"{mm:.1f} mm"
