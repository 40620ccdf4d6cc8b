"""DICOMweb with dicomweb-client: QIDO-RS to search, WADO-RS to retrieve, STOW-RS to store.

Studies are searched in pages of :data:`PAGE_SIZE` (``limit``/``offset``), so a
long list arrives page by page. There is no fixed short timeout: connecting gives
up after :data:`CONNECT_TIMEOUT_S`, and each read may take :data:`READ_TIMEOUT_S`.
https certificates are checked unless the node is marked insecure (an explicit
``--insecure`` for self-signed test servers). The password (see
:mod:`viewer.pacs.credentials`) lives only in the session's auth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from viewer.pacs.client import STUDY_IDENTITY_KEYWORDS, PacsClient
from viewer.pacs.credentials import AskPassword, password_for
from viewer.pacs.errors import (
    PacsAuthenticationError,
    PacsError,
    RetrieveCancelled,
    SeriesNotFoundError,
)
from viewer.pacs.nodes import Node
from viewer.pacs.records import SeriesRecord, StudyQuery, StudyRecord, to_int
from viewer.pacs.staging import CancelCheck, ProgressCallback, instance_file_name

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0
PAGE_SIZE = 100
STOW_BATCH = 20

_STUDY_FIELDS = [
    "StudyInstanceUID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "AccessionNumber",
    "PatientName", "PatientID",
]  # fmt: skip
_SERIES_FIELDS = [
    "SeriesInstanceUID", "Modality", "SeriesDescription", "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
]  # fmt: skip


def _value(item: dict, keyword: str):
    """The first value of ``keyword`` in a DICOM JSON object (PN as its alphabetic form)."""
    from pydicom.datadict import tag_for_keyword

    element = item.get(f"{tag_for_keyword(keyword):08X}") or {}
    values = element.get("Value") or []
    if not values:
        return ""
    if element.get("vr") == "PN":
        return "\\".join(str(v.get("Alphabetic", "")) for v in values)
    return values if keyword == "ModalitiesInStudy" else values[0]


def _session():
    """A requests session that leaves ``*`` unescaped in query strings and keeps an
    explicit "do not check the certificate" against CA-bundle environment variables.

    requests writes the wildcard of ``PatientName=Can*`` as ``%2A``; RFC 3986 allows a
    bare ``*`` there, and some servers (Orthanc 1.10's DICOMweb plugin) match the
    escaped form literally and find nothing.
    """
    import requests

    class WildcardSession(requests.Session):
        def send(self, request, **kwargs):
            base, question, query = (request.url or "").partition("?")
            if question:
                request.url = base + "?" + query.replace("%2A", "*")
            return super().send(request, **kwargs)

        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
            # verify=False; the user's explicit --insecure must win.
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if self.verify is False:
                settings["verify"] = False
            return settings

    return WildcardSession()


class DicomWebClient(PacsClient):
    methods = ("wado",)

    def __init__(self, node: Node, ask_password: AskPassword | None = None) -> None:
        from dicomweb_client.api import DICOMwebClient

        super().__init__(node)
        self._session = _session()
        password = password_for(node, ask_password)
        if password is not None:
            self._session.auth = (node.username, password)
        self._session.verify = not node.insecure
        if node.insecure and node.url.startswith("https"):
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._web = DICOMwebClient(
            url=node.url, session=self._session, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        )
        # Its default retries every failure, a refused connection too, five times with
        # exponential back-off (30 s before saying "cannot connect"); we say it at once.
        self._web.set_http_retry_params(retry=False)
        # It logs each request URL at DEBUG, and QIDO URLs carry the search keys
        # (patient names and IDs); so does urllib3.
        logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
        # urllib3 logs each request line, query string and all, at DEBUG
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

    def close(self) -> None:
        self._session.close()

    @contextmanager
    def _requests(self, what: str):
        """Turn requests/HTTP failures into one-line messages (no URL query strings,
        which can hold search keys such as patient names)."""
        import requests

        where = f"{self.node.label}"
        try:
            yield
        except requests.exceptions.SSLError:
            raise PacsError(
                f"{where}: the server's https certificate is not trusted; install its CA, or "
                "for a self-signed test server pass --insecure"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise PacsError(
                f"{where}: no answer within {CONNECT_TIMEOUT_S:.0f} s; check the address "
                "and the network"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise PacsError(
                f"{where}: the {what} took longer than {READ_TIMEOUT_S:.0f} s; try a narrower "
                "search or later"
            ) from None
        except requests.exceptions.ConnectionError:
            raise PacsError(
                f"{where}: cannot connect ({self.node.host}:{self.node.port}); is the server "
                "running and the address right?"
            ) from None
        except requests.exceptions.HTTPError as error:
            code = error.response.status_code if error.response is not None else 0
            if code == 401:
                who = (
                    f"user {self.node.username!r} and the given password"
                    if self.node.username
                    else "no user name (write http://USER@host/...)"
                )
                raise PacsAuthenticationError(
                    f"{where} refused the {what} with {who} (HTTP 401); check the user name "
                    "and password"
                ) from None
            if code == 403:
                raise PacsAuthenticationError(
                    f"{where}: user {self.node.username!r} may not do this {what} (HTTP 403)"
                ) from None
            if code == 404 and what != "retrieve":
                raise PacsError(
                    f"{where}: no DICOMweb service at {self.node.url} (HTTP 404); check the path"
                ) from None
            raise PacsError(f"{where}: the {what} failed (HTTP {code})") from None

    def echo(self) -> None:
        with self._requests("connection test"):
            self._web.search_for_studies(limit=1, fields=["StudyInstanceUID"])

    def iter_studies(self, query: StudyQuery) -> Iterator[StudyRecord]:
        filters = {
            "PatientID": query.patient_id,
            "PatientName": query.patient_name,
            "StudyDate": query.study_date,
            "ModalitiesInStudy": query.modality,
            "AccessionNumber": query.accession_number,
            "StudyInstanceUID": query.study_uid,
        }
        filters = {k: v for k, v in filters.items() if v}
        offset = 0
        while True:
            with self._requests("search"):
                page = self._web.search_for_studies(
                    search_filters=filters,
                    fields=_STUDY_FIELDS,
                    limit=PAGE_SIZE,
                    offset=offset,
                    fuzzymatching=False,
                )
            for item in page:
                modalities = _value(item, "ModalitiesInStudy") or []
                yield StudyRecord(
                    study_uid=str(_value(item, "StudyInstanceUID")),
                    study_date=str(_value(item, "StudyDate")),
                    study_description=str(_value(item, "StudyDescription")),
                    modalities=tuple(str(m) for m in modalities),
                    series_count=to_int(_value(item, "NumberOfStudyRelatedSeries")),
                    image_count=to_int(_value(item, "NumberOfStudyRelatedInstances")),
                    accession_number=str(_value(item, "AccessionNumber")),
                    patient_name=str(_value(item, "PatientName")),
                    patient_id=str(_value(item, "PatientID")),
                )
            if len(page) < PAGE_SIZE:
                return
            offset += len(page)

    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        found = []
        offset = 0
        while True:
            with self._requests("search"):
                page = self._web.search_for_series(
                    study_instance_uid=study_uid,
                    fields=_SERIES_FIELDS,
                    limit=PAGE_SIZE,
                    offset=offset,
                )
            found += [
                SeriesRecord(
                    study_uid=study_uid,
                    series_uid=str(_value(item, "SeriesInstanceUID")),
                    modality=str(_value(item, "Modality")),
                    series_description=str(_value(item, "SeriesDescription")),
                    series_number=to_int(_value(item, "SeriesNumber")),
                    image_count=to_int(_value(item, "NumberOfSeriesRelatedInstances")),
                )
                for item in page
            ]
            if len(page) < PAGE_SIZE:
                break
            offset += len(page)
        return sorted(found, key=lambda s: (s.series_number is None, s.series_number or 0))

    def study_identity(self, study_uid: str) -> dict[str, str] | None:
        with self._requests("search"):
            found = self._web.search_for_studies(
                search_filters={"StudyInstanceUID": study_uid},
                fields=list(STUDY_IDENTITY_KEYWORDS),
                limit=1,
            )
        if not found:
            return None
        return {k: str(_value(found[0], k)) for k in STUDY_IDENTITY_KEYWORDS}

    def _fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        folder: Path,
        method: str,
        arrived: ProgressCallback,
        cancelled: CancelCheck,
        received=None,  # WADO-RS parts are not examined as they arrive; they open from disk
    ) -> int:
        count = 0
        with self._requests("retrieve"):
            try:
                # "*": the stored transfer syntax as is, no transcoding on the server
                instances = self._web.iter_series(
                    study_uid, series_uid, media_types=(("application/dicom", "*"),)
                )
                for dataset in instances:
                    if cancelled():
                        instances.close()
                        raise RetrieveCancelled("retrieve cancelled; nothing was kept")
                    name = instance_file_name(dataset.get("SOPInstanceUID", ""), count)
                    dataset.save_as(folder / name, enforce_file_format=True)
                    count += 1
                    arrived(count, None)
            except Exception as error:
                if _is_not_found(error):
                    raise SeriesNotFoundError(
                        f"series {series_uid} is not on {self.node.label} (moved or deleted?); "
                        "search again"
                    ) from None
                raise
        return count

    def store(self, paths: list[Path], progress: ProgressCallback | None = None) -> int:
        import pydicom

        datasets = [pydicom.dcmread(p) for p in paths]
        for start in range(0, len(datasets), STOW_BATCH):
            batch = datasets[start : start + STOW_BATCH]
            with self._requests("store"):
                answer = self._web.store_instances(batch)
            failed = answer.get("FailedSOPSequence") if answer is not None else None
            if failed:
                raise PacsError(
                    f"{self.node.label} refused {len(failed)} of the objects sent (STOW-RS)"
                )
            if progress is not None:
                progress(start + len(batch), len(datasets))
        return len(datasets)


def _is_not_found(error: Exception) -> bool:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) == 404
