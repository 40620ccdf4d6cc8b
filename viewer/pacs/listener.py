"""Receiving DICOM instances: our storage listener (C-MOVE destination) and the
C-STORE handler that C-GET shares.

Arrivals are written as received (the encoded data set behind a file meta header
built here: no decoding, no re-encoding) to ``<SOP Instance UID>.dcm`` in the
folder they are meant for, so a JPEG 2000 CT stays JPEG 2000 and a 200-slice
series costs one write per slice. The PACS sends the next image of a C-GET only
after our answer to this one, so the handler does nothing else.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from pathlib import Path

from viewer.pacs.errors import PacsError
from viewer.pacs.nodes import LocalIdentity
from viewer.pacs.staging import CancelCheck, ProgressCallback, instance_file_name

log = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700  # what we answer once the user has cancelled
STATUS_CANNOT_UNDERSTAND = 0xC000


def _element(group_element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element (short-length VRs, and OB)."""
    tag = struct.pack("<HH", group_element >> 16, group_element & 0xFFFF)
    if vr == b"OB":
        return tag + vr + struct.pack("<HI", 0, len(value)) + value
    return tag + vr + struct.pack("<H", len(value)) + value


def _uid(value: str) -> bytes:
    data = str(value).encode("ascii")
    return data + b"\0" if len(data) % 2 else data


def file_meta_header(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, ``DICM`` and the File Meta Information of a received instance.

    The elements pynetdicom's ``event.file_meta`` holds, encoded directly: through
    pydicom that took ~0.4 ms an image, on the path the C-GET waits on.
    """
    from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

    version = PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii")
    version += b" " * (len(version) % 2)
    body = b"".join(
        (
            _element(0x00020001, b"OB", b"\x00\x01"),
            _element(0x00020002, b"UI", _uid(sop_class_uid)),
            _element(0x00020003, b"UI", _uid(sop_instance_uid)),
            _element(0x00020010, b"UI", _uid(transfer_syntax)),
            _element(0x00020012, b"UI", _uid(PYNETDICOM_IMPLEMENTATION_UID)),
            _element(0x00020013, b"SH", version),
        )
    )
    length = _element(0x00020000, b"UL", struct.pack("<I", len(body)))
    return b"\0" * 128 + b"DICM" + length + body


def transfer_syntaxes() -> list[str]:
    """Every transfer syntax we can store as is and decode later (pylibjpeg)."""
    from pydicom import uid

    return [
        uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
        uid.ExplicitVRBigEndian, uid.JPEG2000Lossless, uid.JPEG2000, uid.JPEGLosslessSV1,
        uid.JPEGLossless, uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLSLossless,
        uid.JPEGLSNearLossless, uid.RLELossless,
    ]  # fmt: skip


def _uncompressed() -> list[str]:
    from pydicom import uid

    return [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian]


def _compressed() -> list[str]:
    from pydicom import uid

    return [
        uid.JPEG2000Lossless, uid.JPEG2000, uid.JPEGLosslessSV1, uid.JPEGBaseline8Bit,
        uid.JPEGLSLossless, uid.RLELossless,
    ]  # fmt: skip


def get_contexts() -> list[tuple[str, list[str]]]:
    """The (storage class, transfer syntaxes) presentation contexts a C-GET proposes.

    The PACS picks one transfer syntax per context, and may not be able to transcode
    what it stores (Orthanc cannot turn JPEG 2000 into little endian), so each
    compressed syntax of an image class gets a context of its own. A C-GET
    association carries at most 128 contexts, hence a chosen list of classes.
    """
    from pynetdicom import sop_class as s

    images = [
        s.CTImageStorage, s.EnhancedCTImageStorage, s.MRImageStorage, s.EnhancedMRImageStorage,
        s.PositronEmissionTomographyImageStorage, s.NuclearMedicineImageStorage,
        s.SecondaryCaptureImageStorage, s.ComputedRadiographyImageStorage,
        s.DigitalXRayImageStorageForPresentation, s.UltrasoundImageStorage,
        s.UltrasoundMultiFrameImageStorage, s.XRayAngiographicImageStorage,
        s.LegacyConvertedEnhancedCTImageStorage, s.LegacyConvertedEnhancedMRImageStorage,
        s.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    ]  # fmt: skip
    others = [
        s.SegmentationStorage, s.ComprehensiveSRStorage, s.Comprehensive3DSRStorage,
        s.EnhancedSRStorage, s.BasicTextSRStorage, s.RTStructureSetStorage, s.RTDoseStorage,
        s.GrayscaleSoftcopyPresentationStateStorage,
    ]  # fmt: skip
    contexts = []
    for storage in images:
        contexts.append((storage, _uncompressed()))
        contexts += [(storage, [syntax]) for syntax in _compressed()]
    contexts += [(storage, _uncompressed()) for storage in others]
    return contexts


class InstanceWriter:
    """The C-STORE handler: write each arrival into ``folder`` and count it.

    ``received`` (a :class:`viewer.io.dicom_received.ReceivedSeries`) is handed each
    file's bytes once written, so the series opens without reading them again.
    """

    def __init__(
        self,
        folder: Path,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
        received=None,
    ) -> None:
        self.folder = Path(folder)
        self.progress = progress
        self.cancelled = cancelled or (lambda: False)
        self.received = received
        self.count = 0
        self.failures = 0
        self._lock = threading.Lock()

    def __call__(self, event) -> int:
        if self.cancelled():
            return STATUS_OUT_OF_RESOURCES
        try:
            request = event.request
            uid = request.AffectedSOPInstanceUID
            header = file_meta_header(
                request.AffectedSOPClassUID, uid, event.context.transfer_syntax
            )
            with self._lock:
                index = self.count + self.failures
            path = self.folder / instance_file_name(uid, index)
            data = request.DataSet.getvalue()  # the bytes as received (shared, not copied)
            with open(path, "wb") as handle:
                handle.write(header)
                handle.write(data)
            if self.received is not None:
                self.received.add(path.name, header, data, os.stat(path))
        except OSError as error:
            log.warning("could not write a received instance: %s", error.strerror)
            with self._lock:
                self.failures += 1
            return STATUS_OUT_OF_RESOURCES
        except Exception as error:  # a peer sending something we cannot encode back
            log.warning("could not store a received instance: %s", type(error).__name__)
            with self._lock:
                self.failures += 1
            return STATUS_CANNOT_UNDERSTAND
        with self._lock:
            self.count += 1
            count = self.count
        if self.progress is not None:
            self.progress(count, None)
        return STATUS_SUCCESS


class StorageListener:
    """A storage SCP on our AE title and port, writing what it receives into a folder.

    Used as the C-MOVE destination (the PACS must know our AE title, host and port)
    and by anyone who wants a peer to push images to SpleenScope. Start with
    ``with StorageListener(...)``; stopping shuts the server down.
    """

    def __init__(
        self,
        identity: LocalIdentity,
        folder: Path,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
        received=None,
    ) -> None:
        self.identity = identity
        self.writer = InstanceWriter(folder, progress, cancelled, received)
        self._server = None

    @property
    def count(self) -> int:
        return self.writer.count

    def start(self) -> StorageListener:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        from viewer.pacs.transport import tune_accepted

        ae = AE(ae_title=self.identity.ae_title)
        ae.require_called_aet = True
        ae.maximum_pdu_size = 0  # no limit: fewer, larger PDUs for big series
        syntaxes = transfer_syntaxes()
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        ae.add_supported_context(Verification)
        address = (self.identity.listener_host or "", self.identity.listener_port)
        try:
            self._server = ae.start_server(
                address,
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self.writer), (evt.EVT_CONN_OPEN, tune_accepted)],
            )
        except OSError as error:
            raise PacsError(
                f"cannot listen on port {self.identity.listener_port} for C-MOVE "
                f"({error.strerror or error}); choose another listener port (--listen-port) "
                "or retrieve with --method get"
            ) from None
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageListener:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
