"""One interface for both PACS protocols, and the retrieve logic they share.

A :class:`PacsClient` tests the connection, searches studies (a generator, so a
caller shows results as they arrive and a list of hundreds never waits for the
last one), lists a study's series, retrieves one series into a folder and stores
files. Subclasses implement the protocol; :meth:`PacsClient.retrieve_series` does
the rest the same way for both: refuse an existing folder before any network
work, stage the arrivals in a hidden folder, check the count, rename into place.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from viewer.pacs.credentials import AskPassword
from viewer.pacs.errors import PacsError, RetrieveCancelled, SeriesNotFoundError
from viewer.pacs.nodes import LocalIdentity, Node, local_identity
from viewer.pacs.records import PatientRecord, SeriesRecord, StudyQuery, StudyRecord
from viewer.pacs.staging import CancelCheck, ProgressCallback, check_destination, staged_folder

log = logging.getLogger(__name__)

# Patient and study attributes a SEG or SR must carry to be filed under its source
# study in the PACS (see viewer.pacs.sending).
STUDY_IDENTITY_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "AccessionNumber", "StudyID", "ReferringPhysicianName",
)  # fmt: skip


class PacsClient(ABC):
    """A connection to one node. ``methods`` lists the retrieve methods it offers,
    the first being the default."""

    methods: tuple[str, ...] = ()
    #: ask for the series' image count before retrieving (DICOMweb); DIMSE retrieves
    #: announce it in their responses, which saves a search on every retrieve
    counts_before_retrieve = True

    def __init__(self, node: Node) -> None:
        self.node = node

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the client holds (sessions); safe to call twice."""

    @abstractmethod
    def echo(self) -> None:
        """Check that the node answers (C-ECHO / a QIDO request); raise PacsError if not."""

    @abstractmethod
    def iter_studies(self, query: StudyQuery) -> Iterator[StudyRecord]:
        """Studies matching ``query``, as the node sends them."""

    @abstractmethod
    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        """The series of one study (empty when the study is not there)."""

    @abstractmethod
    def study_identity(self, study_uid: str) -> dict[str, str] | None:
        """The node's patient/study attributes of a study (:data:`STUDY_IDENTITY_KEYWORDS`),
        or None when the node does not hold it."""

    @abstractmethod
    def store(self, paths: list[Path], progress: ProgressCallback | None = None) -> int:
        """Send DICOM files (already prepared, see viewer.pacs.sending); return how many."""

    @abstractmethod
    def _fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        folder: Path,
        method: str,
        arrived: ProgressCallback,
        cancelled: CancelCheck,
        received=None,
    ) -> int:
        """Write the series' instances into ``folder``; call ``arrived(n, None)`` after
        each; raise RetrieveCancelled as soon as ``cancelled()``; return the count.
        ``received`` (a :class:`viewer.io.dicom_received.ReceivedSeries`), where the
        protocol supports it, is handed each file's bytes as written."""

    def find_patients(self, query: StudyQuery) -> list[PatientRecord]:
        """Patients matching the query's patient ID / name. DICOMweb has no patient
        level, so the default groups the matching studies by patient."""
        counts: dict[tuple[str, str], int] = {}
        patient_only = StudyQuery(patient_id=query.patient_id, patient_name=query.patient_name)
        for study in self.iter_studies(patient_only):
            key = (study.patient_id, study.patient_name)
            counts[key] = counts.get(key, 0) + 1
        return [PatientRecord(pid, name, n) for (pid, name), n in counts.items()]

    def find_studies(self, query: StudyQuery, limit: int | None = None) -> list[StudyRecord]:
        found = []
        for study in self.iter_studies(query):
            found.append(study)
            if limit is not None and len(found) >= limit:
                break
        return found

    def series_record(self, study_uid: str, series_uid: str) -> SeriesRecord:
        for series in self.find_series(study_uid):
            if series.series_uid == series_uid:
                return series
        raise SeriesNotFoundError(
            f"series {series_uid} of study {study_uid} is not on {self.node.label} "
            "(moved or deleted?); search again"
        )

    def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        output_dir: str | Path,
        *,
        method: str | None = None,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> Path:
        """Retrieve one series into ``output_dir/<SeriesInstanceUID>``; return that folder.

        The folder appears only complete: the expected image count comes from a
        search first (or from the C-GET/C-MOVE responses), and a short count, an
        error or ``cancelled()`` leaves nothing.
        """
        method = method or self.methods[0]
        if method not in self.methods:
            raise PacsError(
                f"{self.node.label} is a {self.node.protocol} node: retrieve with "
                + " or ".join(f"--method {m}" for m in self.methods)
            )
        final = Path(output_dir) / series_uid
        check_destination(final)
        expected = None
        if self.counts_before_retrieve:
            expected = self.series_record(study_uid, series_uid).image_count
        cancelled = cancelled or (lambda: False)

        def arrived(done: int, total: int | None = None) -> None:
            nonlocal expected
            if total is not None:
                expected = total
            if progress is not None:
                progress(done, expected)

        from viewer.io.dicom_received import ReceivedSeries, keep

        # the images are examined as they arrive, so opening ``final`` next is quick
        # (kept only once the series is complete and renamed; see viewer.io.dicom_received)
        in_memory = ReceivedSeries(final)
        try:
            with staged_folder(final) as partial:
                received = self._fetch_series(
                    study_uid, series_uid, partial, method, arrived, cancelled, in_memory
                )
                if cancelled():
                    raise RetrieveCancelled("retrieve cancelled; nothing was kept")
                if received == 0:
                    raise SeriesNotFoundError(
                        f"no images of series {series_uid} arrived from {self.node.label} "
                        "(moved or deleted?); search again"
                    )
                if expected is not None and received < expected:
                    raise PacsError(
                        f"only {received} of {expected} images of series {series_uid} arrived "
                        f"from {self.node.label}; nothing was kept, try again"
                    )
        except BaseException:
            in_memory.drop()
            raise
        keep(in_memory)
        log.info("retrieved %d images of one series from %s", received, self.node.label)
        return final


def open_client(
    node: Node,
    *,
    identity: LocalIdentity | None = None,
    ask_password: AskPassword | None = None,
) -> PacsClient:
    """The client for ``node``'s protocol (DICOM networking or DICOMweb)."""
    if node.protocol == "dimse":
        from viewer.pacs.dimse import DimseClient

        return DimseClient(node, identity or local_identity())
    from viewer.pacs.dicomweb import DicomWebClient

    return DicomWebClient(node, ask_password=ask_password)
