"""A series being received from the network, read while it arrives.

A retrieve writes each image to a file as it arrives; opening the folder then read
every header and every pixel again (~0.3 s for a 200-slice CT, next to ~1 s of
transfer). A :class:`ReceivedSeries` is given each image's bytes as they are
written and, on a thread of its own, walks the header and examines it as a folder
scan would (``viewer.io.dicom_files.examine_file``) while the next image is on the
wire; uncompressed pixels are later placed straight from those same bytes. When
the retrieve has succeeded (count checked, folder renamed), it is kept; the next
:func:`viewer.io.dicom.load_dicom` of exactly that folder claims it and builds the
volume from it, through the same geometry and pixel placement as reading the
folder. Memory: the series' bytes stay held from the retrieve until that opening
(or the next retrieve).

It is used only while the folder is as it was written: the same files, each with
the size and modification time it had when written; anything else, and the
folder is read from disk as always. A file whose header the walk does not read
(compressed pixels decode as usual; other transfer syntaxes) is read from disk too.
One series is kept at a time, and only up to :data:`MAX_KEPT_BYTES`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from viewer.io.dicom_files import ScanResult, examine_file
from viewer.io.dicom_header import parse_received
from viewer.io.dicom_records import HEADER_TAGS

log = logging.getLogger(__name__)

# Beyond this many received bytes (a ~2,000-slice CT) a series is not kept in memory (it
# opens from disk): keeping it means its bytes and its volume in memory at once.
MAX_KEPT_BYTES = 1024**3


@dataclass
class _Arrival:
    """One received file: what the walk made of it (None: read it from disk)."""

    size: int
    mtime_ns: int
    found: ScanResult | None = None  # what scan finds in this file (viewer.io.dicom_files)
    pixels: tuple | None = None  # (file bytes after the file meta, where they start)


class ReceivedSeries:
    """The images of one retrieve, examined as they arrive; see the module docstring.

    ``folder`` is where the series will be once complete (its final name).
    """

    def __init__(self, folder: Path, max_bytes: int = MAX_KEPT_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._arrivals: dict[str, _Arrival] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._dropped = False
        self._templates: dict = {}  # the worker's, as scan keeps one per folder

    # -- while receiving (any thread) -------------------------------------------------

    def add(self, name: str, header: bytes, dataset, written: os.stat_result) -> None:
        """The file ``name`` was written as ``header`` + ``dataset`` (``written``: its stat)."""
        with self._lock:
            if self._dropped:
                return
            self._bytes += written.st_size
            if self._bytes > self.max_bytes:
                self._drop_locked()
                log.info("received series too large to keep in memory; it opens from disk")
                return
            self._arrivals[name] = _Arrival(written.st_size, written.st_mtime_ns)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="received-series", daemon=True
                )
                self._worker.start()
        self._queue.put((name, header, dataset))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, header, dataset = item
            if self._dropped:
                continue
            try:
                walked = parse_received(header, dataset, HEADER_TAGS)
                if walked is None:
                    continue  # the walk does not read it: it is read from disk
                location = walked.native_pixel_location
                found = ScanResult()
                examine_file(found, self.folder / name, self._templates, (walked.dataset, location))
            except Exception as error:  # noqa: BLE001 - never break a retrieve: read from disk
                log.debug("received image not examined in memory: %s", type(error).__name__)
                continue
            with self._lock:
                arrival = self._arrivals.get(name)
                if arrival is not None:
                    arrival.found = found
                    if location is not None:
                        arrival.pixels = (dataset, len(header))

    def finish(self) -> None:
        """Wait until every image added so far is examined."""
        worker = self._worker
        if worker is not None:
            self._queue.put(None)
            worker.join()
            with self._lock:
                self._worker = None

    def drop(self) -> None:
        """Forget everything (a failed or cancelled retrieve, or a series not kept)."""
        with self._lock:
            self._drop_locked()
        self.finish()

    def _drop_locked(self) -> None:
        self._dropped = True
        self._arrivals.clear()

    # -- opening ------------------------------------------------------------------------

    def matches(self, folder: Path) -> bool:
        """Whether ``folder`` is this series' folder, holding exactly the files written."""
        if self._dropped or not self._arrivals:
            return False
        try:
            if Path(folder).resolve() != self.folder.resolve():
                return False
            names = {entry.name for entry in os.scandir(folder)}
            if names != set(self._arrivals):
                return False
            for name, arrival in self._arrivals.items():
                now = os.stat(self.folder / name)
                if (now.st_size, now.st_mtime_ns) != (arrival.size, arrival.mtime_ns):
                    return False
        except OSError:
            return False
        return True

    def files(self) -> list[tuple[Path, ScanResult | None]]:
        """Each file's path and what scan finds in it (None: read it from disk), by name."""
        return [(self.folder / name, self._arrivals[name].found) for name in sorted(self._arrivals)]

    def pixel_sources(self) -> dict[Path, tuple]:
        """Where the uncompressed pixels of each file are in memory: ``(bytes, offset of
        those bytes in the file)``, by file path (see ``viewer.io.dicom_pixels``)."""
        return {
            self.folder / name: arrival.pixels
            for name, arrival in self._arrivals.items()
            if arrival.pixels is not None
        }


# ------------------------------------------------------------------ the one kept series
_kept_lock = threading.Lock()
_kept: ReceivedSeries | None = None


def keep(series: ReceivedSeries) -> None:
    """Keep ``series`` (complete, renamed into place) for the next opening of its folder."""
    global _kept
    series.finish()
    with _kept_lock:
        previous, _kept = _kept, series
    if previous is not None and previous is not series:
        previous.drop()


def claim(folder: Path) -> ReceivedSeries | None:
    """The kept series if it is ``folder`` as written (it is let go: one opening uses it);
    None otherwise (a changed folder lets it go; another folder leaves it kept)."""
    global _kept
    with _kept_lock:
        series, _kept = _kept, None
    if series is None:
        return None
    if not series.matches(folder):
        if Path(folder).resolve() != series.folder.resolve():
            with _kept_lock:  # another folder opened first: keep waiting for ours
                if _kept is None:
                    _kept = series
                    return None
        series.drop()
        return None
    return series
