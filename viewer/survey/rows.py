"""One row of a survey (a DICOM series or a volume file), and the survey as a whole.

Every field is a non-identifying fact about the image: no patient name, ID, birth
date, study date, accession number, institution or free-text description. The
``study_key`` and ``patient_key`` only serve to count studies and patients; they
are one-way hashes and never leave this module's owner (``Survey.summary``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Columns of the table, the CSV and the JSON rows, in order.
COLUMNS = (
    "path", "format", "modality", "manufacturer", "model", "shape", "spacing_mm",
    "slice_step_mm", "missing_slices", "orientation", "dtype", "intensity_p1",
    "intensity_p50", "intensity_p99", "warnings", "flags",
)  # fmt: skip


@dataclass
class SurveyRow:
    """Facts about one series or volume. ``path`` is relative to the surveyed folder."""

    path: str
    format: str
    modality: str = ""
    manufacturer: str = ""
    model: str = ""
    shape: tuple[int, ...] = ()
    spacing_mm: tuple[float, ...] = ()
    slice_step_mm: float | None = None
    missing_slices: int = 0
    orientation: str = ""
    dtype: str = ""
    intensity_p1: float | None = None
    intensity_p50: float | None = None
    intensity_p99: float | None = None
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    # For counting and for opening the row; not written to reports.
    open_path: str = field(default="", repr=False)
    files: list[str] = field(default_factory=list, repr=False)  # a DICOM series' files
    study_key: str = field(default="", repr=False)
    patient_key: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        values = {}
        for name in COLUMNS:
            value = getattr(self, name)
            values[name] = list(value) if isinstance(value, tuple) else value
        return values

    def cell(self, name: str) -> str:
        """The value as one line of text for a table or CSV cell."""
        value = getattr(self, name)
        if value is None:
            return ""
        if isinstance(value, tuple):
            return " x ".join(_number(v) for v in value)
        if isinstance(value, list):
            return "; ".join(value)
        if isinstance(value, float):
            return _number(value)
        return str(value)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class Survey:
    """All rows of a folder, and what was skipped."""

    root: str
    rows: list[SurveyRow] = field(default_factory=list)
    files_seen: int = 0
    skipped_not_image: int = 0
    skipped_non_image_dicom: int = 0
    unreadable: list[str] = field(default_factory=list)
    intensities_sampled: bool = False

    def summary(self) -> dict:
        """Counts for the report head (studies and patients by hashed identifiers only)."""
        studies = {r.study_key for r in self.rows if r.study_key}
        patients = {r.patient_key for r in self.rows if r.patient_key}
        by_modality: dict[str, int] = {}
        by_format: dict[str, int] = {}
        by_orientation: dict[str, int] = {}
        for row in self.rows:
            by_modality[row.modality or "unknown"] = (
                by_modality.get(row.modality or "unknown", 0) + 1
            )
            by_format[row.format] = by_format.get(row.format, 0) + 1
            by_orientation[row.orientation or "?"] = (
                by_orientation.get(row.orientation or "?", 0) + 1
            )
        return {
            "files_seen": self.files_seen,
            "series_and_volumes": len(self.rows),
            "dicom_studies": len(studies),
            "dicom_patients": len(patients),
            "dicom_series_without_study_uid": sum(
                1 for r in self.rows if r.format == "DICOM" and not r.study_key
            ),
            "flagged": sum(1 for r in self.rows if r.flags),
            "by_modality": dict(sorted(by_modality.items())),
            "by_format": dict(sorted(by_format.items())),
            "by_orientation": dict(sorted(by_orientation.items())),
            "skipped_not_image": self.skipped_not_image,
            "skipped_non_image_dicom": self.skipped_non_image_dicom,
            "unreadable": list(self.unreadable),
            "intensities_sampled": self.intensities_sampled,
        }
