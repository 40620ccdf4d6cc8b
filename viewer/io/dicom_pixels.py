"""Decode DICOM pixel data into one stack, applying rescale and MONOCHROME1.

Uncompressed little endian pixels whose place in the file the header walk noted
(:mod:`viewer.io.dicom_header`) are read straight from there into an array, as
pydicom would return them (unused high bits cleared or sign-extended), without a
second parse of the file. Everything else, and anything unexpected there (a
length that does not match the header, a truncated file), goes through pydicom.
Compressed transfer syntaxes (JPEG 2000, JPEG lossless, JPEG-LS, RLE) decode
through pydicom's pixel backends with the pylibjpeg plugins. Files are read in a
small thread pool, which overlaps file reading and numpy work; pylibjpeg's
decoders hold the GIL, so compressed slices still decode one at a time (measured:
a 2-thread pool neither helps nor hurts on 2 cores). Each slice is rescaled
straight into its place in the output, so the only full-size allocation is the
output itself.

Output type: int16 when every slope and intercept is integral and every rescaled
value fits int16 (CT in HU, most MR), else float32. float64 is
never produced: it doubles memory and nothing downstream needs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom

from viewer.errors import UnreadableFileError
from viewer.io.dicom_header import NATIVE_LITTLE_ENDIAN
from viewer.io.dicom_records import SliceRecord

log = logging.getLogger(__name__)

INT16_MIN, INT16_MAX = -32768, 32767
# (7FE0,0010) Pixel Data as it appears in a little-endian file.
PIXEL_DATA_TAG_BYTES = bytes.fromhex("e07f1000")
DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))


def stored_value_range(record: SliceRecord) -> tuple[int, int]:
    bits = record.bits_stored
    if record.pixel_representation:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def choose_dtype(records: Sequence[SliceRecord]) -> np.dtype:
    """int16 when every slope and intercept is integral, else float32.

    int16 is optimistic for 16-bit storage: a slice whose rescaled values leave the
    int16 range makes :func:`read_stack` start again in float32.
    """
    for record in records:
        slope, intercept = record.rescale_slope, record.rescale_intercept
        if slope != round(slope) or intercept != round(intercept):
            return np.dtype(np.float32)
    return np.dtype(np.int16)


def _read_native(record: SliceRecord, source: tuple | None = None) -> np.ndarray | None:
    """All frames of an uncompressed little endian file, read from where the header walk
    found them; None when anything differs from what the header promises (pydicom
    then reads the file and reports the problem).

    ``source`` is ``(buffer, start)``: the file's bytes from offset ``start`` on, held in
    memory (a series just received), read instead of the file.
    """
    if (
        record.pixel_location is None
        or record.transfer_syntax not in NATIVE_LITTLE_ENDIAN
        or record.bits_allocated not in (8, 16, 32)
    ):
        return None
    offset, length = record.pixel_location
    kind = "i" if record.pixel_representation else "u"
    dtype = np.dtype(f"<{kind}{record.bits_allocated // 8}")
    count = record.number_of_frames * record.rows * record.columns
    if length not in (count * dtype.itemsize, count * dtype.itemsize + 1):  # + odd padding
        return None
    shift = record.bits_allocated - record.bits_stored
    if source is not None:
        buffer, start = source
        if offset < start or offset - start + count * dtype.itemsize > len(buffer):
            return None
        pixels = np.frombuffer(buffer, dtype, count, offset - start)
    else:
        pixels = np.empty(count, dtype)
        try:
            with open(record.path, "rb") as handle:
                handle.seek(offset)
                if handle.readinto(pixels) != pixels.nbytes:
                    return None
        except OSError:
            return None
    if shift and not _within_bits_stored(pixels, record):
        # what pydicom does with the bits beyond BitsStored: clear, or extend the sign
        pixels = pixels if pixels.flags.writeable else pixels.copy()
        np.left_shift(pixels, shift, out=pixels)
        np.right_shift(pixels, shift, out=pixels)
    return pixels.reshape(record.number_of_frames, record.rows, record.columns)


def _within_bits_stored(pixels: np.ndarray, record: SliceRecord) -> bool:
    """Whether every value already lies in BitsStored's range (nothing to clear)."""
    low, high = stored_value_range(record)
    return bool(pixels.size) and int(pixels.min()) >= low and int(pixels.max()) <= high


def _decode_file(path: Path) -> np.ndarray:
    """All frames of one file as (frames, rows, columns)."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as error:  # noqa: BLE001 - the file was readable a moment ago
        raise UnreadableFileError(
            f"{path.name}: cannot be read any more ({type(error).__name__})"
        ) from None
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        if PIXEL_DATA_TAG_BYTES in path.read_bytes():
            raise UnreadableFileError(
                f"{path.name}: the pixel data is cut short (the file is truncated); "
                "copy or export it again"
            )
        raise UnreadableFileError(
            f"{path.name}: DICOM file without pixel data (header only); export the images "
            "with their pixel data"
        )
    try:
        pixels = ds.pixel_array
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - decoders raise many types on bad data;
        # the Rust ones (pylibjpeg-rle) even a PanicException, which is no Exception
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise UnreadableFileError(
            f"{path.name}: pixel data cannot be decoded ({name}: {type(error).__name__}); "
            "the file is truncated or uses an unsupported compression"
        ) from None
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    return pixels


def _place(frame: np.ndarray, record: SliceRecord, out_slice: np.ndarray) -> None:
    """Rescale one frame (rows, columns) into its slot, a (columns, rows) view."""
    if frame.shape != out_slice.shape[::-1]:
        raise UnreadableFileError(
            f"{record.path.name}: pixel data is {frame.shape[0]} x {frame.shape[1]} but the header "
            f"says {out_slice.shape[1]} x {out_slice.shape[0]}; the file is corrupt"
        )
    if record.photometric == "MONOCHROME1":
        low, high = stored_value_range(record)
        frame = (low + high) - frame.astype(np.int32)
    frame = frame.T  # (columns, rows): the source grid's first two axes
    slope, intercept = record.rescale_slope, record.rescale_intercept
    if out_slice.dtype == np.int16:
        if slope == 1 and intercept == 0 and frame.dtype == np.int16:
            out_slice[...] = frame
            return
        slope, intercept = int(slope), int(intercept)
        low, high = int(frame.min()), int(frame.max())
        # the rescale is monotonic: the stored extremes give the output's extremes
        ends = (low * slope + intercept, high * slope + intercept)
        if min(ends) < INT16_MIN or max(ends) > INT16_MAX:
            raise _OutOfInt16Range
        if slope == 1 and INT16_MIN <= min(low, intercept) and max(high, intercept) <= INT16_MAX:
            # stored values, intercept and results all fit int16: copy (the slot is often
            # mirrored, which numpy copies far faster than it adds), then add in place
            np.copyto(out_slice, frame, casting="unsafe")
            if intercept:
                np.add(out_slice, np.int16(intercept), out=out_slice)
        else:
            values = frame.astype(np.int32)
            values *= slope
            values += intercept
            out_slice[...] = values
    else:
        np.multiply(frame, np.float32(slope), out=out_slice, casting="unsafe")
        out_slice += np.float32(intercept)


class _OutOfInt16Range(Exception):
    """Stored values beyond BitsStored: start again with float32 output."""


Allocator = Callable[[np.dtype], tuple[np.ndarray, np.ndarray]]


def read_stack(
    ordered: Sequence[SliceRecord],
    allocate: Allocator,
    progress: Callable[[int, int], None] | None = None,
    in_memory: Mapping[Path, tuple] | None = None,
) -> np.ndarray:
    """Decode and rescale the slices straight into their final place.

    ``allocate(dtype)`` returns ``(result, source_view)``: the array to return and a
    view of it shaped (columns, rows, slices) in which slice ``k`` of ``ordered``
    goes to ``source_view[:, :, k]``. The caller lays ``result`` out in its final
    (canonical) order, so no second full-size copy is ever made. ``in_memory`` maps
    a file to its uncompressed pixels' bytes already in memory (see ``_read_native``).
    """
    dtype = choose_dtype(ordered)
    in_memory = in_memory or {}
    try:
        return _read_stack(ordered, allocate(dtype), progress, in_memory)
    except _OutOfInt16Range:
        log.info("stored values exceed the declared bit depth; reading as float32")
        return _read_stack(ordered, allocate(np.dtype(np.float32)), progress, in_memory)


def _read_stack(ordered, allocated, progress, in_memory) -> np.ndarray:
    result, out = allocated
    # One decode per file: a multi-frame file feeds all its slots at once.
    slots_by_file: dict[Path, list[tuple[int, SliceRecord]]] = {}
    for slot, record in enumerate(ordered):
        slots_by_file.setdefault(record.path, []).append((slot, record))
    total, done = len(ordered), 0

    def work(path: Path) -> int:
        frames = _read_native(slots_by_file[path][0][1], in_memory.get(path))
        if frames is None:
            frames = _decode_file(path)
        for slot, record in slots_by_file[path]:
            index = record.frame or 0
            if index >= frames.shape[0]:
                raise UnreadableFileError(
                    f"{path.name}: frame {index + 1} is missing from the pixel data"
                )
            _place(frames[index], record, out[:, :, slot])
        return len(slots_by_file[path])

    paths = list(slots_by_file)
    if len(paths) == 1 or DECODE_THREADS == 1:
        for path in paths:
            done += work(path)
            if progress:
                progress(done, total)
        return result
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        for count in pool.map(work, paths):
            done += count
            if progress:
                progress(done, total)
    return result
