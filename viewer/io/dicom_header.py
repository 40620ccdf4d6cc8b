"""Chosen elements of a DICOM file's header, read without pydicom's per-element work.

Opening a series reads every file's header, and pydicom's ``dcmread`` takes about
2 ms for a CT header of ~140 elements: most of a 200-slice folder's opening time.
The readers use ~30 of those elements (:data:`viewer.io.dicom_records.HEADER_TAGS`).
This module walks the top-level elements of a Part 10 file in little endian
(explicit or implicit VR), steps over the others, and hands pydicom the chosen ones
as the same raw elements ``dcmread`` would make, so every value is converted by
pydicom exactly as before (lazily, on access) and goes through the same
validation gate.

Whatever the walk does not handle exactly returns None, and the caller reads the
file with pydicom as before: no preamble, big endian or deflated data, an unknown
VR, a damaged or truncated element, a stray item or delimiter, the functional
group sequences of enhanced multi-frame files.

It also notes where defined-length Pixel Data starts and how long it is, so
:mod:`viewer.io.dicom_pixels` can read uncompressed pixels straight from the file.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag

IMPLICIT_LE = "1.2.840.10008.1.2"
NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
NOT_EXPLICIT_LE = frozenset(
    {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"}
)  # big endian, deflated (their data sets are not plain explicit VR little endian)
# VRs whose length takes 4 bytes after 2 reserved ones (PS3.5 7.1.2)
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
SHORT_VRS = frozenset(
    {
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    }
)  # fmt: skip
KNOWN_VRS = SHORT_VRS | LONG_VRS
SPECIFIC_CHARACTER_SET = 0x00080005
PIXEL_DATA = 0x7FE00010
# where pydicom's stop_before_pixels stops (anywhere in the file): Float / Double Float / Pixel Data
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})
# enhanced multi-frame geometry lives in these sequences: pydicom reads those files
FUNCTIONAL_GROUPS = frozenset({0x52009229, 0x52009230})
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
FIRST_READ = 16384

_TAG_LENGTH = struct.Struct("<HHI")  # implicit VR: group, element, 4-byte length
_TAG_VR_LENGTH = struct.Struct("<HH2sH")  # explicit VR: group, element, VR, 2-byte length
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class Header:
    """The chosen header elements as a pydicom dataset (with ``file_meta``), and where
    a defined-length Pixel Data value lies in the file (None when it does not)."""

    dataset: Dataset
    transfer_syntax: str
    pixel_offset: int | None
    pixel_length: int | None

    @property
    def native_pixel_location(self) -> tuple[int, int] | None:
        """(offset, length) of uncompressed little endian pixel data, else None."""
        if self.pixel_offset is None or self.transfer_syntax not in NATIVE_LITTLE_ENDIAN:
            return None
        return self.pixel_offset, self.pixel_length


class _Unhandled(Exception):
    """Something this walk does not read exactly: pydicom reads the file instead."""


class _NeedMore(Exception):
    """An element runs past the bytes read so far."""


def read_header_elements(path: Path, tags: Collection[int]) -> Header | None:
    """The elements ``tags`` (plus Specific Character Set) of a little endian Part 10
    file, or None when pydicom must read it."""
    wanted = frozenset(tags) | {SPECIFIC_CHARACTER_SET}
    try:
        with open(path, "rb") as handle:
            data = handle.read(FIRST_READ)
            try:
                return _parse(data, len(data) < FIRST_READ, wanted)
            except _NeedMore:
                data += handle.read()
                return _parse(data, True, wanted)
    except Exception:  # noqa: BLE001 - arbitrary bytes: pydicom reads it and says what is wrong
        return None


def parse_received(header: bytes, dataset, tags: Collection[int]) -> Header | None:
    """:func:`read_header_elements` on a file held in memory as it was written: ``header``
    (preamble and file meta) then the encoded ``dataset`` (any bytes-like object)."""
    wanted = frozenset(tags) | {SPECIFIC_CHARACTER_SET}
    try:
        try:
            start = header + bytes(dataset[:FIRST_READ])
            return _parse(start, len(dataset) <= FIRST_READ, wanted)
        except _NeedMore:
            return _parse(header + bytes(dataset), True, wanted)
    except Exception:  # noqa: BLE001 - arbitrary bytes: the file is read from disk instead
        return None


def _parse(data: bytes, complete: bool, wanted: frozenset[int]) -> Header:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise _Unhandled
    meta: dict[int, tuple] = {}
    position = _walk(data, 132, False, complete, None, meta, meta_only=True)
    syntax_element = meta.get(0x00020010)
    if syntax_element is None:
        raise _Unhandled
    syntax = syntax_element[1].decode("ascii").rstrip("\0 ")
    if not syntax or syntax in NOT_EXPLICIT_LE:
        raise _Unhandled
    implicit = syntax == IMPLICIT_LE
    if implicit and data[position + 4 : position + 6] in KNOWN_VRS:
        raise _Unhandled  # explicit VR despite the meta: pydicom detects and reads that
    elements: dict[int, tuple] = {}
    pixel = _walk(data, position, implicit, complete, wanted, elements, meta_only=False)
    raw = {BaseTag(tag): _raw(tag, *item, implicit) for tag, item in elements.items()}
    dataset = Dataset(raw)
    encoding: str | list[str] = "iso8859"
    if SPECIFIC_CHARACTER_SET in raw:
        from pydicom.charset import convert_encodings
        from pydicom.dataelem import convert_raw_data_element

        encoding = convert_encodings(
            convert_raw_data_element(raw[BaseTag(SPECIFIC_CHARACTER_SET)]).value
        )
    dataset.set_original_encoding(implicit, True, encoding)
    dataset.file_meta = FileMetaDataset(
        {BaseTag(tag): _raw(tag, *item, False) for tag, item in meta.items()}
    )
    offset, length = pixel if pixel else (None, None)
    return Header(dataset, syntax, offset, length)


def _raw(tag: int, vr: str | None, value: bytes, offset: int, implicit: bool) -> RawDataElement:
    length = len(value)
    if not length:
        value = empty_value_for_VR(vr, raw=True)  # as pydicom's reader does
    return RawDataElement(BaseTag(tag), vr, length, value, offset, implicit, True)


def _walk(data, position, implicit, complete, wanted, into, *, meta_only):
    """Walk elements from ``position``, keeping those in ``wanted`` (all when None).

    The meta walk (explicit VR, group 0002) returns where the data set starts; the
    data set walk returns ``(offset, length)`` of defined-length Pixel Data, or None.
    """
    size = len(data)
    while True:
        if position + 8 > size:
            if not complete:
                raise _NeedMore
            if position < size or meta_only:
                raise _Unhandled  # stray bytes, or no data set: pydicom decides
            return None  # a header without pixel data
        if meta_only and data[position : position + 2] != b"\x02\x00":
            return position  # the data set starts (its VR may be implicit)
        if implicit:
            group, element, length = _TAG_LENGTH.unpack_from(data, position)
            vr = None
            start = position + 8
        else:
            group, element, code, length = _TAG_VR_LENGTH.unpack_from(data, position)
            if code in LONG_VRS:
                if position + 12 > size:
                    raise _NeedMore if not complete else _Unhandled
                length = _U32.unpack_from(data, position + 8)[0]
                start = position + 12
            elif code in SHORT_VRS:
                start = position + 8
            else:
                raise _Unhandled  # pydicom has heuristics for such files
            vr = code.decode("ascii")
        tag = group << 16 | element
        if not meta_only and tag in PIXEL_TAGS:
            if tag == PIXEL_DATA and length != UNDEFINED and vr in (None, "OB", "OW"):
                return start, length
            return None  # float or encapsulated pixel data: stop there, as pydicom does
        if group == 0xFFFE or tag in FUNCTIONAL_GROUPS:
            raise _Unhandled
        if length == UNDEFINED:
            if vr not in (None, "SQ"):
                raise _Unhandled  # UN of undefined length: pydicom infers a sequence
            position = _skip_sequence(data, start, implicit, complete)
            continue
        end = start + length
        if end > size:
            raise _NeedMore if not complete else _Unhandled
        if wanted is None or tag in wanted:
            into[tag] = (vr, data[start:end], start)
        position = end


def _skip_sequence(data: bytes, position: int, implicit: bool, complete: bool) -> int:
    """The position after an undefined-length sequence's delimiter (items skipped)."""
    while True:
        if position + 8 > len(data):
            raise _NeedMore if not complete else _Unhandled
        group, element, length = _TAG_LENGTH.unpack_from(data, position)
        tag = group << 16 | element
        position += 8
        if tag == SEQUENCE_END:
            return position
        if tag != ITEM:
            raise _Unhandled
        if length != UNDEFINED:
            position += length
        else:
            position = _skip_item(data, position, implicit, complete)


def _skip_item(data: bytes, position: int, implicit: bool, complete: bool) -> int:
    """The position after an undefined-length item's delimiter."""
    while True:
        if position + 8 > len(data):
            raise _NeedMore if not complete else _Unhandled
        group, element, _ = _TAG_LENGTH.unpack_from(data, position)
        if group == 0xFFFE:
            if (group << 16 | element) == ITEM_END:
                return position + 8
            raise _Unhandled
        position = _skip_element(data, position, implicit, complete)


def _skip_element(data: bytes, position: int, implicit: bool, complete: bool) -> int:
    """The position after one element inside an item."""
    if implicit:
        length = _U32.unpack_from(data, position + 4)[0]
        start, vr = position + 8, None
    else:
        code = data[position + 4 : position + 6]
        if code in LONG_VRS:
            length = _U32.unpack_from(data, position + 8)[0]
            start = position + 12
        elif code in SHORT_VRS:
            length = struct.unpack_from("<H", data, position + 6)[0]
            start = position + 8
        else:
            raise _Unhandled
        vr = code.decode("ascii")
    if length == UNDEFINED:
        if vr not in (None, "SQ"):
            raise _Unhandled
        return _skip_sequence(data, start, implicit, complete)
    if start + length > len(data):
        raise _NeedMore if not complete else _Unhandled
    return start + length
