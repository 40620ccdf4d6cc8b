"""What a radiologist reads off a spleen mask: volume, extent, splenomegaly.

Reference range: Prassopoulos P, Daskalogiannaki M, Raissaki M, Hatjidakis A,
Gourtsoyiannis N. "Determination of normal splenic volume on computed tomography
in relation to age, gender and body habitus." Eur Radiol 1997;7(2):246-248
(doi:10.1007/s003300050145). In 140 adults without splenic disease the CT splenic
volume was 214.6 mL on average, range 107.2-314.5 mL; we flag splenomegaly above
that upper limit. The craniocaudal length is reported too (a length over about
13 cm is the usual single-measurement criterion, Bezerra AS et al., AJR
2005;184:1510-1513), but the flag uses the volume, which that study found to be
the better measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SPLENOMEGALY_VOLUME_ML = 314.5
AT_LEAST = "at least "  # before a volume or length that is only a minimum
REFERENCE_RANGE_TEXT = (
    "normal adult splenic volume on CT 107.2-314.5 mL (Prassopoulos et al., Eur Radiol 1997)"
)


@dataclass(frozen=True)
class SpleenMeasurements:
    """Measurements of a mask on a grid with a known affine (all in mm / mL, RAS+)."""

    volume_ml: float
    voxels: int
    bbox_min_mm: tuple[float, float, float] | None
    bbox_max_mm: tuple[float, float, float] | None
    craniocaudal_mm: float
    splenomegaly: bool
    touches_scan_edge: bool
    reference_range_text: str = REFERENCE_RANGE_TEXT

    @property
    def is_lower_bound(self) -> bool:
        """True when the spleen runs past the scan: volume and length are then minimums."""
        return bool(self.touches_scan_edge and self.voxels)

    def volume_text(self) -> str:
        """The volume as a reader should take it: "at least" when it is a lower bound."""
        return f"{AT_LEAST if self.is_lower_bound else ''}{self.volume_ml:.1f} mL"

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("bbox_min_mm", "bbox_max_mm"):
            if data[key] is not None:
                data[key] = [round(float(v), 3) for v in data[key]]
        data["volume_ml"] = round(float(self.volume_ml), 3)
        data["craniocaudal_mm"] = round(float(self.craniocaudal_mm), 3)
        data["volume_is_lower_bound"] = self.is_lower_bound
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SpleenMeasurements:
        """Back from :meth:`as_dict` (or a summary holding its keys; others are ignored).

        Raises KeyError, TypeError or ValueError when a field is missing or malformed.
        """
        def box(key):
            value = data.get(key)
            return None if value is None else tuple(float(v) for v in value)

        return cls(
            volume_ml=float(data["volume_ml"]),
            voxels=int(data["voxels"]),
            bbox_min_mm=box("bbox_min_mm"),
            bbox_max_mm=box("bbox_max_mm"),
            craniocaudal_mm=float(data["craniocaudal_mm"]),
            splenomegaly=bool(data["splenomegaly"]),
            touches_scan_edge=bool(data["touches_scan_edge"]),
        )


def voxel_volume_mm3(affine: np.ndarray) -> float:
    return float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3])))


def measure_spleen(mask: np.ndarray, affine: np.ndarray) -> SpleenMeasurements:
    """Volume (voxels x |det(affine)| / 1000 mL), RAS bounding box, craniocaudal length.

    The bounding box encloses whole voxels (centres +- half a voxel's extent along
    each world axis), so a single voxel of 2 mm slices is 2 mm long. When the mask
    reaches the first or last slice along any axis the spleen is probably cut by the
    scan's field of view; ``touches_scan_edge`` says so, and volume and length are
    then lower bounds.
    """
    affine = np.asarray(affine, dtype=float)
    nonzero = np.nonzero(mask)
    voxels = int(nonzero[0].size)
    volume_ml = voxels * voxel_volume_mm3(affine) / 1000.0
    if voxels == 0:
        return SpleenMeasurements(0.0, 0, None, None, 0.0, False, False)
    index_min = np.array([axis.min() for axis in nonzero], dtype=float)
    index_max = np.array([axis.max() for axis in nonzero], dtype=float)
    # The 8 corners of the index box, mapped to world: exact for any affine.
    corners = np.array(
        [
            [
                index_min[0] if i == 0 else index_max[0],
                index_min[1] if j == 0 else index_max[1],
                index_min[2] if k == 0 else index_max[2],
            ]
            for i in (0, 1)
            for j in (0, 1)
            for k in (0, 1)
        ]
    )
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    half_extent = 0.5 * np.abs(affine[:3, :3]).sum(axis=1)
    bbox_min = world.min(axis=0) - half_extent
    bbox_max = world.max(axis=0) + half_extent
    craniocaudal = float(bbox_max[2] - bbox_min[2])
    shape = np.asarray(mask.shape)
    touches = bool(np.any(index_min == 0) or np.any(index_max == shape - 1))
    return SpleenMeasurements(
        volume_ml=float(volume_ml),
        voxels=voxels,
        bbox_min_mm=tuple(float(v) for v in bbox_min),  # type: ignore[arg-type]
        bbox_max_mm=tuple(float(v) for v in bbox_max),  # type: ignore[arg-type]
        craniocaudal_mm=craniocaudal,
        splenomegaly=bool(volume_ml > SPLENOMEGALY_VOLUME_ML),
        touches_scan_edge=touches,
    )
