"""pynetdicom's connections, tuned for bulk transfers (a retrieve of hundreds of images).

pynetdicom's defaults suit a quiet service; a 200-slice retrieve (100 MB on one
association) pays for three of them, each measured against DCMTK's ``getscu``:

- Nagle's algorithm: pynetdicom sends a request's command and identifier as two
  PDUs, and the second waits for the peer's delayed acknowledgement (~40 ms on
  loopback, per C-GET or C-FIND). DCMTK sets ``TCP_NODELAY``; so do we.
- The DUL reactor polls its socket and queues, sleeping 1 ms whenever there was
  nothing to do, so each C-STORE response waits up to that long before it leaves:
  during a C-GET the PACS sends the next image only after it, so 200 images paid
  ~0.2 s. The reactor sleeps :data:`POLL_S` instead while the association is open.
- (In ``viewer.pacs.dimse``) ``AE.associate`` announces a 16 KiB maximum PDU unless
  told otherwise, and the PACS then sends a 100 MB series in 6,400 pieces.
- The socket is read 4 KiB at a time (32 reads and copies per 128 KiB PDU); a
  tuned socket reads each PDU with as few calls as the kernel allows.

The hooks are pynetdicom internals (``AE._create_socket``, the DUL's
``_run_loop_delay``); where a pynetdicom version lacks one, that tuning is skipped and
the association works as before, only slower.
"""

from __future__ import annotations

import logging
import socket

from pynetdicom import AE
from pynetdicom.transport import AssociationSocket

log = logging.getLogger(__name__)

# The DUL reactor's idle sleep: a response leaves within ~0.3 ms. Measured on 2 busy
# cores, 0.3 ms retrieved faster than 0.1 ms (whose polling takes CPU from the
# PACS and our other threads) and than 0.5 or 1 ms.
POLL_S = 0.0003


class TunedSocket(AssociationSocket):
    """An :class:`AssociationSocket` that reads a PDU in one ``recv_into`` where it can."""

    def recv(self, nr_bytes: int) -> bytearray:
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        while received < nr_bytes:
            count = self.socket.recv_into(view[received:], nr_bytes - received)
            if not count:  # the peer closed: return what arrived, as pynetdicom does
                del view
                del buffer[received:]
                return buffer
            received += count
        return buffer


def tune(assoc, sock: AssociationSocket | None) -> None:
    """No Nagle on ``sock``, one read per PDU, and a short reactor sleep for ``assoc``."""
    dul = getattr(assoc, "dul", None)
    if dul is not None and hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = POLL_S
    if sock is None:
        return
    if type(sock) is AssociationSocket:
        sock.__class__ = TunedSocket
    raw = getattr(sock, "socket", None)
    if raw is not None and raw.family in (socket.AF_INET, socket.AF_INET6):
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as error:  # not fatal: the transfer is only slower
            log.debug("could not disable Nagle's algorithm: %s", error)


class TunedAE(AE):
    """An :class:`pynetdicom.AE` whose requested associations are tuned (see module doc)."""

    def _create_socket(self, assoc, *args, **kwargs):
        sock = super()._create_socket(assoc, *args, **kwargs)
        tune(assoc, sock)
        return sock


def tune_accepted(event) -> None:
    """``EVT_CONN_OPEN`` handler: the same tuning for associations a peer opens to us."""
    assoc = event.assoc
    tune(assoc, getattr(getattr(assoc, "dul", None), "socket", None))
