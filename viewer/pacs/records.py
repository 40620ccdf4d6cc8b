"""What a PACS search returns: studies and series, and the search itself.

Patient name and ID are kept for the browser's table only: they are left out of
``repr`` and of :meth:`as_dict` (what ``pacs find --json`` prints), so they cannot
reach logs, errors or files by accident.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from viewer.pacs.errors import PacsError

_DATE_RANGE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")


@dataclass(frozen=True)
class StudyQuery:
    """Search keys; empty means "any". ``patient_name`` may use ``*`` and ``?`` wildcards."""

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""  # YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD
    modality: str = ""
    accession_number: str = ""
    study_uid: str = ""

    def __post_init__(self) -> None:
        match = _DATE_RANGE.match(self.study_date)
        if self.study_date and (match is None or self.study_date == "-"):
            raise PacsError(
                f"study date {self.study_date!r}: write YYYYMMDD or YYYYMMDD-YYYYMMDD "
                "(either end may be left open)"
            )
        if self.modality and not re.fullmatch(r"[A-Z0-9]{1,16}", self.modality):
            raise PacsError(f"modality {self.modality!r}: write a DICOM modality such as CT or MR")


@dataclass(frozen=True)
class PatientRecord:
    """A patient-level search answer: for the browser only (both fields identify)."""

    patient_id: str = field(repr=False)
    patient_name: str = field(default="", repr=False)
    study_count: int | None = None


@dataclass(frozen=True)
class StudyRecord:
    study_uid: str
    study_date: str = ""
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    series_count: int | None = None
    image_count: int | None = None
    accession_number: str = field(default="", repr=False)
    patient_name: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        for private in ("patient_name", "patient_id", "accession_number"):
            data.pop(private)
        data["level"] = "study"
        data["modalities"] = list(self.modalities)
        return data


@dataclass(frozen=True)
class SeriesRecord:
    study_uid: str
    series_uid: str
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    image_count: int | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["level"] = "series"
        return data


def to_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
