"""Classic DICOM networking with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE.

Every request opens its own association (PACS close idle ones anyway). Searches
use the Study Root model at study and series level. A retrieve asks only for the
chosen series (series-level C-GET / C-MOVE). C-GET receives on the same
association; C-MOVE has the PACS connect back to our :class:`StorageListener`, which
the PACS must know by our AE title, host and port.

Timeouts: connecting gives up after :data:`CONNECT_TIMEOUT_S`; once connected, each
message may take up to :data:`MESSAGE_TIMEOUT_S` (a slow archive that streams
hundreds of series is fine, since every series answered restarts the clock).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from viewer.pacs.client import STUDY_IDENTITY_KEYWORDS, PacsClient
from viewer.pacs.errors import PacsError, RetrieveCancelled
from viewer.pacs.listener import (
    InstanceWriter,
    StorageListener,
    get_contexts,
)
from viewer.pacs.nodes import LocalIdentity, Node
from viewer.pacs.records import PatientRecord, SeriesRecord, StudyQuery, StudyRecord, to_int
from viewer.pacs.staging import CancelCheck, ProgressCallback

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
MESSAGE_TIMEOUT_S = 300.0
PENDING = (0xFF00, 0xFF01)
# A-ASSOCIATE-RJ reasons (PS3.8 9.3.4) a user can act on.
_REJECT_REASONS = {
    (1, 2): "it does not support DICOM's application context",
    (1, 3): "it does not accept our AE title {ours!r} (add it to the PACS's known modalities)",
    (1, 7): "it does not answer to AE title {theirs!r} (check the node's AE title)",
    (3, 1): "it is too busy (temporarily congested); try again later",
    (3, 2): "its connection limit is reached; try again later",
}


def _quiet_pynetdicom() -> None:
    """Keep pynetdicom's own logging out of ours: it logs each refused connection at
    ERROR (our one-line message says it better) and, at INFO/DEBUG, the identifiers of
    searches and answers, which hold patient names and IDs."""
    from pynetdicom import _config

    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    # Its standard event handlers only feed that (silenced) log, at some cost per PDU.
    _config.LOG_HANDLER_LEVEL = "none"
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


class DimseClient(PacsClient):
    methods = ("get", "move")
    counts_before_retrieve = False

    def __init__(self, node: Node, identity: LocalIdentity) -> None:
        super().__init__(node)
        self.identity = identity
        _quiet_pynetdicom()

    # -- associations -------------------------------------------------------------

    def _check_reachable(self) -> None:
        where = f"{self.node.label} ({self.node.host}:{self.node.port})"
        try:
            with socket.create_connection((self.node.host, self.node.port), CONNECT_TIMEOUT_S):
                pass
        except socket.gaierror:
            raise PacsError(f"{where}: unknown host name; check the address") from None
        except TimeoutError:
            raise PacsError(
                f"{where}: no answer within {CONNECT_TIMEOUT_S:.0f} s; check the address, "
                "the network and firewalls"
            ) from None
        except ConnectionRefusedError:
            raise PacsError(
                f"{where}: connection refused; is the PACS running and is this its DICOM port?"
            ) from None
        except OSError as error:
            raise PacsError(f"{where}: cannot connect ({error.strerror or error})") from None

    def _new_ae(self):
        from viewer.pacs.transport import TunedAE

        ae = TunedAE(ae_title=self.identity.ae_title)
        ae.connection_timeout = CONNECT_TIMEOUT_S
        ae.acse_timeout = 30
        ae.dimse_timeout = MESSAGE_TIMEOUT_S
        ae.network_timeout = MESSAGE_TIMEOUT_S
        ae.maximum_pdu_size = 0  # no limit: the PACS sends PDUs as large as it likes
        return ae

    @contextmanager
    def _association(self, ae, *, roles=None, handlers=None):
        self._check_reachable()
        assoc = ae.associate(
            self.node.host,
            self.node.port,
            ae_title=self.node.ae_title,
            # what we accept per PDU; associate() ignores ae.maximum_pdu_size and says
            # 16 KiB, so a PACS sent a 200-slice CT in 6,400 PDUs instead of 800
            max_pdu=ae.maximum_pdu_size,
            ext_neg=roles or None,
            evt_handlers=handlers or None,
        )
        if not assoc.is_established:
            raise self._association_error(assoc)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _association_error(self, assoc) -> PacsError:
        if assoc.is_rejected:
            answer = assoc.acceptor.primitive
            reason = _REJECT_REASONS.get(
                (int(answer.result_source), int(answer.diagnostic)),
                f"reason {answer.result_source}/{answer.diagnostic}",
            ).format(ours=self.identity.ae_title, theirs=self.node.ae_title)
            return PacsError(f"{self.node.label} refused the connection: {reason}")
        return PacsError(
            f"{self.node.label} closed the connection before it was set up; check that "
            f"{self.node.port} is its DICOM port and {self.node.ae_title!r} its AE title"
        )

    def _check_final(self, status, what: str) -> int:
        """The status code of a final response; one-line error for failures."""
        if status is None or "Status" not in status:
            raise PacsError(
                f"{self.node.label} did not answer the {what} within {MESSAGE_TIMEOUT_S:.0f} s "
                "or dropped the connection; try again"
            )
        code = int(status.Status)
        if code == 0 or code in PENDING or (code & 0xF000) == 0xB000:  # success, warning
            return code
        if code == 0xFE00:
            raise RetrieveCancelled("retrieve cancelled; nothing was kept")
        comment = str(status.get("ErrorComment", "") or "").strip()
        detail = f": {comment}" if comment else ""
        raise PacsError(f"{self.node.label} refused the {what} (status 0x{code:04X}{detail})")

    # -- verification and search ----------------------------------------------------

    def echo(self) -> None:
        from pynetdicom.sop_class import Verification

        ae = self._new_ae()
        ae.add_requested_context(Verification)
        with self._association(ae) as assoc:
            self._check_final(assoc.send_c_echo(), "echo (C-ECHO)")

    def _find(self, identifier, model=None) -> Iterator:
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

        Find = model or StudyRootQueryRetrieveInformationModelFind  # noqa: N806
        ae = self._new_ae()
        ae.add_requested_context(Find)
        with self._association(ae) as assoc:
            for status, answer in assoc.send_c_find(identifier, Find):
                code = self._check_final(status, "search (C-FIND)")
                if code in PENDING and answer is not None:
                    yield answer

    def find_patients(self, query: StudyQuery) -> list[PatientRecord]:
        from pydicom import Dataset
        from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind

        keys = Dataset()
        keys.QueryRetrieveLevel = "PATIENT"
        keys.PatientID = query.patient_id
        keys.PatientName = query.patient_name
        keys.NumberOfPatientRelatedStudies = ""
        return [
            PatientRecord(
                patient_id=str(answer.get("PatientID", "") or ""),
                patient_name=str(answer.get("PatientName", "") or ""),
                study_count=to_int(answer.get("NumberOfPatientRelatedStudies")),
            )
            for answer in self._find(keys, PatientRootQueryRetrieveInformationModelFind)
        ]

    def iter_studies(self, query: StudyQuery) -> Iterator[StudyRecord]:
        from pydicom import Dataset

        keys = Dataset()
        keys.QueryRetrieveLevel = "STUDY"
        keys.StudyInstanceUID = query.study_uid
        keys.PatientID = query.patient_id
        keys.PatientName = query.patient_name
        keys.StudyDate = query.study_date
        keys.ModalitiesInStudy = query.modality
        keys.AccessionNumber = query.accession_number
        keys.StudyDescription = ""
        keys.NumberOfStudyRelatedSeries = ""
        keys.NumberOfStudyRelatedInstances = ""
        for answer in self._find(keys):
            modalities = answer.get("ModalitiesInStudy", "") or ()
            if isinstance(modalities, str):
                modalities = (modalities,) if modalities else ()
            yield StudyRecord(
                study_uid=str(answer.get("StudyInstanceUID", "")),
                study_date=str(answer.get("StudyDate", "") or ""),
                study_description=str(answer.get("StudyDescription", "") or ""),
                modalities=tuple(str(m) for m in modalities),
                series_count=to_int(answer.get("NumberOfStudyRelatedSeries")),
                image_count=to_int(answer.get("NumberOfStudyRelatedInstances")),
                accession_number=str(answer.get("AccessionNumber", "") or ""),
                patient_name=str(answer.get("PatientName", "") or ""),
                patient_id=str(answer.get("PatientID", "") or ""),
            )

    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        from pydicom import Dataset

        keys = Dataset()
        keys.QueryRetrieveLevel = "SERIES"
        keys.StudyInstanceUID = study_uid
        keys.SeriesInstanceUID = ""
        keys.Modality = ""
        keys.SeriesDescription = ""
        keys.SeriesNumber = ""
        keys.NumberOfSeriesRelatedInstances = ""
        found = [
            SeriesRecord(
                study_uid=study_uid,
                series_uid=str(answer.get("SeriesInstanceUID", "")),
                modality=str(answer.get("Modality", "") or ""),
                series_description=str(answer.get("SeriesDescription", "") or ""),
                series_number=to_int(answer.get("SeriesNumber")),
                image_count=to_int(answer.get("NumberOfSeriesRelatedInstances")),
            )
            for answer in self._find(keys)
        ]
        return sorted(found, key=lambda s: (s.series_number is None, s.series_number or 0))

    def study_identity(self, study_uid: str) -> dict[str, str] | None:
        from pydicom import Dataset

        keys = Dataset()
        keys.QueryRetrieveLevel = "STUDY"
        keys.StudyInstanceUID = study_uid
        for keyword in STUDY_IDENTITY_KEYWORDS:
            setattr(keys, keyword, "")
        for answer in self._find(keys):
            return {k: str(answer.get(k, "") or "") for k in STUDY_IDENTITY_KEYWORDS}
        return None

    # -- retrieve -------------------------------------------------------------------

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
        from pydicom import Dataset

        keys = Dataset()
        keys.QueryRetrieveLevel = "SERIES"
        keys.StudyInstanceUID = study_uid
        keys.SeriesInstanceUID = series_uid
        announced = _Announced(arrived)
        fetch = self._move if method == "move" else self._get
        try:
            count = fetch(keys, folder, announced, cancelled, received)
        except RetrieveCancelled:
            raise
        except PacsError:
            if not any(s.series_uid == series_uid for s in self.find_series(study_uid)):
                self.series_record(study_uid, series_uid)  # raises "not on NODE; search again"
            raise
        if announced.completed is not None and count < announced.completed:
            raise PacsError(
                f"only {count} of {announced.completed} images arrived from "
                f"{self.node.label}; nothing was kept, try again"
            )
        return count

    def _follow(self, assoc, responses, cancelled: CancelCheck, what: str, announced) -> None:
        """Read C-GET/C-MOVE responses to the end; abort the association on cancel."""
        for status, _ in responses:
            if cancelled():
                assoc.abort()
                raise RetrieveCancelled("retrieve cancelled; nothing was kept")
            code = self._check_final(status, what)
            announced.update(status, final=code not in PENDING)
            failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
            if code not in PENDING and failed:
                raise PacsError(
                    f"{self.node.label} could not send {failed} image(s) of the series; "
                    "nothing was kept, try again"
                )

    def _get(self, keys, folder: Path, arrived, cancelled: CancelCheck, received=None) -> int:
        from pynetdicom import build_role, evt
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as Get

        ae = self._new_ae()
        ae.add_requested_context(Get)
        roles = {}
        for storage, syntaxes in get_contexts():
            ae.add_requested_context(storage, syntaxes)
            roles[storage] = build_role(storage, scp_role=True)
        writer = InstanceWriter(folder, arrived, cancelled, received)
        with self._association(
            ae, roles=list(roles.values()), handlers=[(evt.EVT_C_STORE, writer)]
        ) as assoc:
            self._follow(assoc, assoc.send_c_get(keys, Get), cancelled, "retrieve (C-GET)", arrived)
        if writer.failures:
            raise PacsError(f"{writer.failures} image(s) could not be written; nothing was kept")
        return writer.count

    def _move(self, keys, folder: Path, arrived, cancelled: CancelCheck, received=None) -> int:
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as Move

        ae = self._new_ae()
        ae.add_requested_context(Move)
        with StorageListener(self.identity, folder, arrived, cancelled, received) as listener:
            with self._association(ae) as assoc:
                responses = assoc.send_c_move(keys, self.identity.ae_title, Move)
                try:
                    self._follow(assoc, responses, cancelled, "retrieve (C-MOVE)", arrived)
                except RetrieveCancelled:
                    raise
                except PacsError as error:
                    if listener.count:
                        raise
                    # PACS report an unknown destination as 0xA801 or a plain failure
                    # (Orthanc: 0xC000); with nothing arrived, that is the likely cause.
                    status = str(error).rsplit("(status ", 1)[-1].rstrip(")")
                    raise PacsError(
                        f"{self.node.label} refused the C-MOVE (status {status}): it may not "
                        f"know the move destination {self.identity.ae_title!r}; add it to the "
                        "PACS's modalities with this computer's address and port "
                        f"{self.identity.listener_port}, or retrieve with --method get"
                    ) from None
            if listener.writer.failures:
                raise PacsError(
                    f"{listener.writer.failures} image(s) could not be written; nothing was kept"
                )
            return listener.count

    # -- store ----------------------------------------------------------------------

    def store(self, paths: list[Path], progress: ProgressCallback | None = None) -> int:
        import pydicom
        from pydicom import uid

        datasets = [pydicom.dcmread(p) for p in paths]
        ae = self._new_ae()
        contexts: dict[str, set[str]] = {}
        for dataset in datasets:
            contexts.setdefault(str(dataset.SOPClassUID), set()).add(
                str(dataset.file_meta.TransferSyntaxUID)
            )
        if len(contexts) > 120:
            raise PacsError("too many different kinds of DICOM object to send at once; send fewer")
        for sop_class, syntaxes in contexts.items():
            ae.add_requested_context(sop_class, sorted(syntaxes | {uid.ExplicitVRLittleEndian}))
        with self._association(ae) as assoc:
            for index, dataset in enumerate(datasets, start=1):
                status = assoc.send_c_store(dataset)
                self._check_final(status, f"store (C-STORE) of {Path(paths[index - 1]).name}")
                if progress is not None:
                    progress(index, len(datasets))
        return len(datasets)


class _Announced:
    """The progress callback of a C-GET/C-MOVE, knowing the total the PACS announces
    (completed + failed + warning + remaining sub-operations) once it has said it."""

    def __init__(self, arrived: ProgressCallback) -> None:
        self.arrived = arrived
        self.total: int | None = None
        self.completed: int | None = None

    def update(self, status, final: bool) -> None:
        counts = [
            int(status.get(f"Number{kind}Suboperations", 0) or 0)
            for kind in ("OfCompleted", "OfFailed", "OfWarning", "OfRemaining")
        ]
        if any(f"Number{k}Suboperations" in status for k in ("OfCompleted", "OfRemaining")):
            self.total = sum(counts)
        if final and "NumberOfCompletedSuboperations" in status:
            self.completed = counts[0]

    def __call__(self, done: int, _total: int | None = None) -> None:
        self.arrived(done, self.total)
