"""Group DICOM slices into series the user can choose from.

Slices are grouped by SeriesInstanceUID, and within a UID (or where the UID is
empty, as in anonymised exports) by orientation, image size and pixel spacing: a
stack of one orientation and size is the only thing that can form a volume, so a
scout with three planes, or a folder of mixed series without UIDs, splits into
separate choices instead of failing later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nibabel import orientations as nio

from viewer.grid import LPS_TO_RAS
from viewer.io.dicom_records import SliceRecord


@dataclass(frozen=True)
class SeriesInfo:
    """A non-identifying summary of one series, for listings and pickers.

    ``index`` is 0-based and is what ``load_volume(..., series=index)`` and
    ``--series`` take.
    """

    index: int
    description: str
    modality: str
    slices: int
    rows: int
    columns: int
    orientation: str  # letters of the source voxel axes (columns, rows, slice normal), e.g. "LPS"
    series_number: int | None = None
    records: tuple[SliceRecord, ...] = field(default=(), repr=False, compare=False)

    def label(self) -> str:
        """One line for a listing: ``[0] CT 'CT Body' 20 slices 512 x 512 LPS``."""
        name = f"'{self.description}'" if self.description else "(no description)"
        return (
            f"[{self.index}] {self.modality or '?'} {name} {self.slices} slices "
            f"{self.rows} x {self.columns} {self.orientation}"
        )

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "description": self.description,
            "modality": self.modality,
            "slices": self.slices,
            "rows": self.rows,
            "columns": self.columns,
            "orientation": self.orientation,
            "series_number": self.series_number,
        }


def _rounded(values, digits: int) -> tuple | None:
    return None if values is None else tuple(round(float(v), digits) + 0.0 for v in values)


def grouping_key(record: SliceRecord) -> tuple:
    return (
        record.series_uid,
        record.path if record.extra.get("classic_multiframe") else None,
        record.extra.get("echo"),  # multi-echo MR: one volume per echo, as dcm2niix does
        _rounded(record.orientation, 3),
        (record.rows, record.columns),
        _rounded(record.pixel_spacing, 3),
    )


def orientation_letters(orientation: tuple[float, ...] | None) -> str:
    """Letters of (row direction, column direction, normal) in RAS terms, e.g. ``LPS``."""
    if orientation is None:
        return "???"
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    axes = np.eye(4)
    axes[:3, 0], axes[:3, 1], axes[:3, 2] = row, col, np.cross(row, col)
    return "".join(nio.aff2axcodes(LPS_TO_RAS @ axes))


def _description(group: list[SliceRecord]) -> str:
    echo = group[0].extra.get("echo")
    suffix = f" (echo {echo})" if echo is not None and echo > 1 else ""
    return group[0].description + suffix


def group_series(records: list[SliceRecord]) -> list[SeriesInfo]:
    """Split slices into series, ordered by series number then description."""
    groups: dict[tuple, list[SliceRecord]] = {}
    for record in records:
        groups.setdefault(grouping_key(record), []).append(record)
    ordered = sorted(
        groups.values(),
        key=lambda g: (
            g[0].series_number if g[0].series_number is not None else 10**9,
            g[0].description,
            g[0].series_uid,
            g[0].extra.get("echo") or 0,
            str(g[0].path),
        ),
    )
    return [
        SeriesInfo(
            index=index,
            description=_description(group),
            modality=group[0].modality,
            slices=len(group),
            rows=group[0].rows,
            columns=group[0].columns,
            orientation=orientation_letters(group[0].orientation),
            series_number=group[0].series_number,
            records=tuple(group),
        )
        for index, group in enumerate(ordered)
    ]
