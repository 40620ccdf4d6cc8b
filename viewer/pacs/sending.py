"""Sending results back: a SEG or SR filed under the study it was made from.

SpleenScope writes SEG and SR files de-identified (``ANONYMOUS^``, a pseudonymous
patient ID; see :mod:`viewer.io.dicom_seg_writer`), so that a file on disk reveals
nobody. A PACS files objects by patient and study, though: sent as they are, they
would land under a new anonymous patient beside the real study. So just before
sending, each of our de-identified objects takes the patient and study attributes
the PACS itself holds for its Study Instance UID (asked with C-FIND / QIDO). The
identified copy exists only in a temporary folder during the send and in the PACS,
which held that identity already. Objects we did not de-identify go as they are.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from viewer.pacs.client import STUDY_IDENTITY_KEYWORDS, PacsClient
from viewer.pacs.errors import PacsError
from viewer.pacs.staging import ProgressCallback

log = logging.getLogger(__name__)

PSEUDONYM_PREFIX = "SPLEENSCOPE-"  # viewer.io.dicom_seg_writer.anonymous_patient_id


def dicom_files(paths: list[str | Path]) -> list[Path]:
    """The DICOM files among ``paths`` (folders searched recursively); one-line error
    for a missing path or a file that is not DICOM."""
    import pydicom

    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise PacsError(f"{path}: no such file or folder")
        for candidate in candidates:
            try:
                pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            except Exception:
                if path.is_dir():
                    continue  # stray files in a folder are skipped, as when reading
                raise PacsError(f"{candidate}: not a DICOM file; nothing was sent") from None
            files.append(candidate)
    if not files:
        raise PacsError("no DICOM files to send in " + ", ".join(str(p) for p in paths))
    return files


def send(
    client: PacsClient, paths: list[str | Path], progress: ProgressCallback | None = None
) -> tuple[int, list[str]]:
    """Send DICOM files to ``client``'s node; return (count sent, one-line notices)."""
    import pydicom

    files = dicom_files(paths)
    notices: list[str] = []
    identities: dict[str, dict[str, str] | None] = {}
    with tempfile.TemporaryDirectory(prefix="spleenscope-send-") as staging:
        outgoing = []
        for index, path in enumerate(files):
            dataset = pydicom.dcmread(path)
            if not str(dataset.get("PatientID", "")).startswith(PSEUDONYM_PREFIX):
                outgoing.append(path)
                continue
            study_uid = str(dataset.get("StudyInstanceUID", ""))
            if study_uid not in identities:
                identities[study_uid] = client.study_identity(study_uid) if study_uid else None
            identity = identities[study_uid]
            if identity is None:
                notices.append(
                    f"{path.name}: its study is not on {client.node.label}; it goes in "
                    "de-identified, as a study of its own"
                )
                outgoing.append(path)
                continue
            for keyword in STUDY_IDENTITY_KEYWORDS:
                setattr(dataset, keyword, identity.get(keyword, ""))
            copy = Path(staging) / f"{index:05d}.dcm"
            dataset.save_as(copy, enforce_file_format=True)
            outgoing.append(copy)
        sent = client.store(outgoing, progress)
    log.info("sent %d object(s) to %s", sent, client.node.label)
    return sent, notices
