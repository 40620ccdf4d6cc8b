"""The one validation gate between the file-format libraries and :class:`Volume`.

Every reader (NIfTI, DICOM, DICOM SEG, and each new format) passes each header value
it uses through one of these checks, once, before it allocates anything or builds
geometry from it. A failed check raises :class:`HeaderValueError`: one line that
names the file and the header field, never the value (header values may identify
the patient, and a wrong number quoted back looks like a right one), and says what
to do.

The API, smallest first::

    spacing = check_spacing(header_zooms, source=path.name, field="pixdim")
    shape = check_shape(dims, source=path.name, field="dim")         # also the voxel limit
    check_allocation(shape, dtype, source=path.name)                 # before np.empty
    affine = check_affine(affine, source=path.name, field="sform")   # finite, invertible
    check_data_size(needed, present, source=path.name, what="image data")
    frames = check_frame_count(frames, frame_bytes, bytes_present, source=..., field=...)
    data, extra = inflate_gzip(raw, limit, source=path.name)         # never past limit
    value = finite_float(ds.get("RescaleSlope"), source=..., field="RescaleSlope")

Limits are module constants so every reader refuses the same things.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from viewer.errors import UnreadableFileError, VolumeTooLargeError

# 2^31 voxels is 8 GiB as float32, far beyond any CT or MR the program is for.
MAX_VOXELS = 2**31
# Longest plausible axis: DICOM Rows/Columns are 16-bit; NIfTI-2 could claim 2^62.
MAX_AXIS_LENGTH = 65_535
# A voxel larger than 10 m, or a coordinate beyond 100 m, is not a patient.
MAX_SPACING_MM = 10_000.0
MAX_COORDINATE_MM = 100_000.0
# Smallest voxel edge we accept: below a nanometre the affine is singular in practice.
MIN_SPACING_MM = 1e-6
# Bytes we are willing to allocate for one volume (8 GiB, as MAX_VOXELS float32).
MAX_ALLOCATION_BYTES = 8 * 2**30
# Rescale beyond these makes stored values overflow float32 (real ones: slope
# 1e-5..1e3, intercept within +-32768).
MAX_RESCALE_SLOPE = 1e6
MAX_RESCALE_INTERCEPT = 1e7
# How much of a compressed stream is inflated per step while looking for its end.
INFLATE_CHUNK = 1 << 20

CORRUPT = "the file is corrupt; re-export or re-download it"


class HeaderValueError(UnreadableFileError):
    """A header field holds a value no real image has (the message names the field)."""

    def __init__(self, source: str, field: str, problem: str, action: str = CORRUPT) -> None:
        self.source = source
        self.field = field
        super().__init__(f"{source}: header field {field} {problem}; {action}")


# ------------------------------------------------------------------ single values
def finite_float(value, *, source: str, field: str, default: float | None = None) -> float | None:
    """``value`` as a finite float; ``default`` when it is absent (None or empty)."""
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return default
    try:
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            value = value[0]
        number = float(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise HeaderValueError(source, field, "is not a number") from None
    if not math.isfinite(number):
        raise HeaderValueError(source, field, "is not finite (NaN or infinity)")
    return number


def finite_floats(values, count: int, *, source: str, field: str) -> tuple[float, ...] | None:
    """Exactly ``count`` finite floats, or None when the field is absent."""
    if values is None or (isinstance(values, (str, bytes)) and not values.strip()):
        return None
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise HeaderValueError(source, field, "holds something that is not a number") from None
    if len(numbers) != count:
        raise HeaderValueError(source, field, f"should hold {count} numbers")
    if not all(math.isfinite(v) for v in numbers):
        raise HeaderValueError(source, field, "is not finite (NaN or infinity)")
    if any(abs(v) > MAX_COORDINATE_MM for v in numbers):
        raise HeaderValueError(source, field, "is beyond any plausible size (over 100 m)")
    return numbers


def positive_int(value, *, source: str, field: str, maximum: int = MAX_AXIS_LENGTH) -> int:
    """A whole number in 1..maximum (image sizes, frame counts, bit depths)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise HeaderValueError(source, field, "is not a whole number") from None
    if not math.isfinite(number) or number != int(number):
        raise HeaderValueError(source, field, "is not a whole number")
    number = int(number)
    if number < 1:
        raise HeaderValueError(source, field, "is zero or negative")
    if number > maximum:
        raise HeaderValueError(source, field, f"is larger than {maximum:,}, too large to be real")
    return number


# ------------------------------------------------------------------ sizes
def check_shape(
    dims: Iterable, *, source: str, field: str = "dim", max_voxels: int = MAX_VOXELS
) -> tuple[int, ...]:
    """Positive whole axis lengths whose product stays under the voxel limit.

    The product is taken in Python integers, so a NIfTI-2 length of 2^62 cannot wrap.
    """
    shape = tuple(positive_int(d, source=source, field=field) for d in dims)
    voxels = math.prod(shape)
    if voxels > max_voxels:
        raise VolumeTooLargeError(
            f"{source}: header field {field} declares an impossible size "
            f"({' x '.join(str(s) for s in shape)} voxels, over the {max_voxels:,} limit); "
            "the file is corrupt or not an image volume"
        )
    return shape


def check_allocation(shape: Sequence[int], dtype, *, source: str) -> int:
    """Refuse, before allocating, an array larger than the allocation limit or free memory.

    Returns the number of bytes the array will take.
    """
    nbytes = math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize
    limit = min(MAX_ALLOCATION_BYTES, _available_memory_bytes())
    if nbytes > limit:
        raise VolumeTooLargeError(
            f"{source}: the image needs {nbytes / 2**30:.1f} GiB, more memory than is "
            "available; close other programs or use a machine with more memory"
        )
    return nbytes


def _available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return MAX_ALLOCATION_BYTES


def check_data_size(needed: int, present: int, *, source: str, what: str = "image data") -> None:
    """Refuse a file that ends before the data its header declares."""
    if present < needed:
        raise UnreadableFileError(
            f"{source}: the file ends before its {what} does ({present:,} of {needed:,} bytes); "
            "it is truncated, copy or download it again"
        )


def check_frame_count(
    frames,
    frame_bytes: int,
    bytes_present: int,
    *,
    source: str,
    field: str = "NumberOfFrames",
    compressed: bool = False,
) -> int:
    """A frame count the bytes on disk can hold, checked before any per-frame work.

    Uncompressed, every frame takes ``frame_bytes``; compressed, every frame is at
    least one 8-byte fragment item, so a 1 MB file cannot hold 10^7 frames either way.
    """
    count = positive_int(frames, source=source, field=field, maximum=MAX_VOXELS)
    smallest = 8 if compressed else max(1, frame_bytes)
    if count * smallest > bytes_present:
        raise HeaderValueError(
            source,
            field,
            "claims more frames than the file holds bytes for",
            "the file is corrupt or truncated; re-export it",
        )
    return count


def check_rescale(slope: float, intercept: float, *, source: str) -> tuple[float, float]:
    """A rescale (slope, intercept) whose results fit comfortably in float32."""
    if abs(slope) > MAX_RESCALE_SLOPE:
        raise HeaderValueError(source, "RescaleSlope", "is beyond any plausible value")
    if abs(intercept) > MAX_RESCALE_INTERCEPT:
        raise HeaderValueError(source, "RescaleIntercept", "is beyond any plausible value")
    return slope, intercept


# ------------------------------------------------------------------ geometry
def check_spacing(values: Iterable, *, source: str, field: str) -> tuple[float, ...]:
    """Finite, positive voxel edge lengths of plausible size (mm)."""
    spacing = []
    for value in values:
        number = finite_float(value, source=source, field=field)
        if number is None:
            raise HeaderValueError(source, field, "is missing")
        if number <= 0 or number < MIN_SPACING_MM:
            raise HeaderValueError(source, field, "is zero or negative (no voxel size)")
        if number > MAX_SPACING_MM:
            raise HeaderValueError(source, field, "is larger than 10 m, not a voxel size")
        spacing.append(number)
    return tuple(spacing)


def check_direction_cosines(values, *, source: str, field: str = "ImageOrientationPatient"):
    """Two non-zero, non-parallel finite direction vectors (row then column)."""
    numbers = finite_floats(values, 6, source=source, field=field)
    if numbers is None:
        return None
    row, column = np.asarray(numbers[:3]), np.asarray(numbers[3:])
    if np.linalg.norm(row) < 1e-6 or np.linalg.norm(column) < 1e-6:
        raise HeaderValueError(source, field, "holds a zero direction vector")
    cross = np.cross(row / np.linalg.norm(row), column / np.linalg.norm(column))
    if np.linalg.norm(cross) < 1e-3:
        raise HeaderValueError(source, field, "holds two parallel directions (no slice plane)")
    return numbers


def check_affine(affine, *, source: str, field: str = "affine") -> np.ndarray:
    """A finite 4 x 4 voxel-to-world matrix with an invertible 3 x 3 part.

    Also refuses an affine so ill-conditioned that one voxel axis is (almost) a
    combination of the others: nothing could be displayed or resampled on it.
    """
    try:
        matrix = np.asarray(affine, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise HeaderValueError(source, field, "is not a matrix of numbers") from None
    if matrix.shape != (4, 4):
        raise HeaderValueError(source, field, "is not a 4 x 4 matrix")
    if not np.all(np.isfinite(matrix)):
        raise HeaderValueError(source, field, "holds NaN or infinite entries")
    if np.abs(matrix[:3, 3]).max() > MAX_COORDINATE_MM:
        raise HeaderValueError(source, field, "places the image more than 100 m away")
    linear = matrix[:3, :3]
    lengths = np.sqrt((linear**2).sum(axis=0))
    if lengths.min() < MIN_SPACING_MM:
        raise HeaderValueError(source, field, "gives a voxel axis of zero length (zero spacing)")
    if lengths.max() > MAX_SPACING_MM:
        raise HeaderValueError(source, field, "gives a voxel larger than 10 m")
    normalised = linear / lengths
    if abs(float(np.linalg.det(normalised))) < 1e-6:
        raise HeaderValueError(source, field, "is singular (the voxel axes are not independent)")
    return matrix


# ------------------------------------------------------------------ compressed data
def inflate_gzip(raw: bytes, limit: int, *, source: str) -> tuple[bytes, bool]:
    """Inflate at most ``limit`` bytes of a gzip stream (a gzip bomb stops here).

    Returns ``(data, more)``: ``more`` is True when the stream holds data past the
    limit (the caller decides whether that is worth a warning). Truncated or
    corrupt streams raise :class:`UnreadableFileError`.
    """
    try:
        from isal import isal_zlib as zlib_module  # ISA-L: about 3x faster than zlib
    except ImportError:  # pragma: no cover - plain zlib works, only slower
        import zlib as zlib_module
    pieces: list[bytes] = []
    produced = 0
    pending = raw
    more = False
    try:
        while pending and produced < limit:
            inflater = zlib_module.decompressobj(31)  # 31: gzip wrapper
            chunk = inflater.decompress(pending, limit - produced)
            pieces.append(chunk)
            produced += len(chunk)
            if not inflater.eof:
                if produced >= limit:  # never inflate more than the header declares
                    more = not _stream_ends_here(raw, produced)
                    break
                raise EOFError
            # Concatenated gzip members are one stream (gzip -c a b > ab.gz).
            pending = inflater.unused_data
            if pending[:2] != b"\x1f\x8b":
                break  # trailing padding after the last member is ignored, as gzip does
            more = produced >= limit
    except EOFError:
        raise UnreadableFileError(
            f"{source}: the compressed data ends early (the file is truncated); "
            "copy or download it again"
        ) from None
    except Exception as error:  # noqa: BLE001 - zlib and isal raise their own error types
        raise UnreadableFileError(
            f"{source}: corrupt gzip data ({type(error).__name__}); copy or download it again"
        ) from None
    return b"".join(pieces), more


def _stream_ends_here(raw: bytes, produced: int) -> bool:
    """Whether the gzip trailer's size field says the stream is exactly ``produced`` long.

    Only a hint (the field is the size modulo 2^32), used to avoid a false "extra
    data" note on a file that happens to end right at the limit.
    """
    return len(raw) >= 4 and int.from_bytes(raw[-4:], "little") == produced % 2**32
