"""Every damaged input the fuzzers (and the issue's hand tests) ever broke the program with.

Each :class:`Regression` builds its input in a folder (from the tiny seeds in
:mod:`tests.fuzz.seeds`, from the shared sample data, or from a small file stored
beside this module) and says what a correct program does with it:

- ``refused``: :class:`viewer.errors.SpleenScopeError` whose one-line message holds
  ``expect`` (usually the header field's name);
- ``loads``: a volume with a finite, invertible affine, and a warning holding
  ``expect`` when given.

Adding a crash the fuzzer found: save the input as ``tests/regressions/files/NAME``
(small files; for a large one add a builder here instead) and add one line to
:data:`REGRESSIONS` with ``stored("NAME")``. ``tests/test_hardening_regressions.py``
runs them all in ``make test``.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.fuzz.corpus import CANARY, SAMPLE, enhanced_multiframe, set_dicom_value, with_canary
from tests.fuzz.seeds import tiny_dicom, tiny_dicom_series, tiny_nifti

FILES = Path(__file__).parent / "files"
Builder = Callable[[Path], Path]


@dataclass(frozen=True)
class Regression:
    name: str
    build: Builder
    outcome: str  # "refused" or "loads"
    expect: str = ""
    needs_sample: bool = False


# ------------------------------------------------------------------ NIfTI builders
def nifti_with(version: int = 1, compress: bool = True, **fields) -> Builder:
    """A tiny NIfTI with header fields set (``name=value`` or ``name=(index, value)``)."""

    def build(folder: Path) -> Path:
        import nibabel as nib

        raw = tiny_nifti(version)
        size = 540 if version == 2 else 348
        header_class = nib.Nifti2Header if version == 2 else nib.Nifti1Header
        header = header_class.from_fileobj(io.BytesIO(raw[:size]))
        with np.errstate(all="ignore"):
            for name, value in fields.items():
                if isinstance(value, tuple):
                    header[name][value[0]] = value[1]
                else:
                    header[name] = value
        data = header.binaryblock + raw[size:]
        path = folder / ("case.nii.gz" if compress else "case.nii")
        path.write_bytes(gzip.compress(data) if compress else data)
        return path

    return build


def raw_nifti(transform: Callable[[bytes], bytes], name: str = "case.nii") -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(transform(tiny_nifti(1)))
        return path

    return build


def nifti2_huge_dim(folder: Path) -> Path:
    import nibabel as nib

    header = nib.Nifti2Header()
    header.set_data_dtype(np.float64)
    header["dim"][:4] = (3, 2**62, 2**62, 4)
    path = folder / "huge2.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4096)
    return path


def nifti1_huge_dim(folder: Path) -> Path:
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((32767, 32767, 32767))
    path = folder / "huge1.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4096)
    return path


def singular_sform(folder: Path) -> Path:
    return nifti_with(sform_code=1, srow_x=np.array([1, 0, 0, 0]), srow_y=np.array([1, 0, 0, 0]))(
        folder
    )


def flipped_gzip(folder: Path) -> Path:
    data = bytearray(gzip.compress(tiny_nifti(1)))
    data[len(data) // 2] ^= 0xFF
    path = folder / "flipped.nii.gz"
    path.write_bytes(bytes(data))
    return path


def truncated_gzip(folder: Path) -> Path:
    data = gzip.compress(tiny_nifti(1))
    path = folder / "cut.nii.gz"
    path.write_bytes(data[: len(data) - 20])
    return path


# ------------------------------------------------------------------ DICOM builders
def dicom_file_with(
    tag: int, vr: bytes, value: bytes, frames: int = 1, pad: bool = True
) -> Builder:
    def build(folder: Path) -> Path:
        data = set_dicom_value(tiny_dicom(frames), tag, vr, value, pad=pad)
        assert data is not None, "the seed lacks the element"
        path = folder / "case.dcm"
        path.write_bytes(data)
        return path

    return build


def series_with(victim_transform: Callable[[bytes], bytes], victim: int = -1) -> Builder:
    """A 3-slice folder in which one file is damaged."""

    def build(folder: Path) -> Path:
        series = folder / "series"
        series.mkdir()
        files = tiny_dicom_series(3)
        names = sorted(files)
        for name in names:
            data = files[name]
            if name == names[victim]:
                data = victim_transform(data)
            (series / name).write_bytes(data)
        return series

    return build


def set_value(tag: int, vr: bytes, value: bytes) -> Callable[[bytes], bytes]:
    return lambda data: set_dicom_value(data, tag, vr, value) or data


def sample_series_with_bytes(relative: str, victim: str, edits: list[tuple[int, int]]) -> Builder:
    """A shared sample series with the canary name and bytes replaced in one file."""

    def build(folder: Path) -> Path:
        series = folder / "series"
        series.mkdir()
        for path in sorted((SAMPLE / relative).iterdir()):
            data = bytearray(with_canary(path))
            if path.name == victim:
                for offset, value in edits:
                    data[offset] = value
            (series / path.name).write_bytes(bytes(data))
        return series

    return build


def multiframe_frames(value: bytes) -> Builder:
    def build(folder: Path) -> Path:
        data = enhanced_multiframe(SAMPLE / "dicom_edge/mr4_anatomical")
        path = folder / "multiframe.dcm"
        path.write_bytes(set_dicom_value(data, 0x00280008, b"IS", value))
        return path

    return build


def stored(name: str) -> Builder:
    def build(folder: Path) -> Path:
        target = folder / name
        target.write_bytes((FILES / name).read_bytes())
        return target

    return build


def atheris_input(name: str) -> Builder:
    """A crash file saved by tests/fuzz/atheris_headers.py: its first byte picks the
    reader (even: NIfTI, odd: DICOM), the rest is the file."""

    def build(folder: Path) -> Path:
        data = (FILES / name).read_bytes()
        target = folder / (name + (".nii" if data[0] % 2 == 0 else ".dcm"))
        target.write_bytes(data[1:])
        return target

    return build


# The bytes the runner's first full pass flipped in one RLE file: the Rust RLE
# decoder panicked (PanicException is no Exception) and printed to stderr itself.
RLE_PANIC_EDITS = [
    (3823, 154),
    (4090, 206),
    (4164, 146),
    (7659, 6),
    (10121, 33),
    (10123, 135),
    (10437, 231),
    (11602, 254),
    (13283, 129),
    (13780, 137),
    (15892, 185),
    (16006, 53),
    (18355, 150),
    (20377, 19),
    (21816, 233),
    (22643, 95),
    (24929, 102),
    (25998, 125),
    (26963, 98),
    (28682, 144),
    (33161, 212),
    (33209, 15),
    (36270, 172),
    (38426, 38),
    (39583, 89),
    (39746, 125),
    (40160, 137),
    (40570, 194),
    (43781, 13),
    (50681, 165),
    (51459, 169),
    (51583, 37),
    (52604, 236),
    (53440, 51),
    (54893, 94),
    (56065, 18),
    (58193, 111),
    (59267, 103),
    (60193, 46),
    (60533, 171),
    (63633, 219),
    (64043, 23),
    (65845, 198),
]
NAN = float("nan")
INF = float("inf")

REGRESSIONS = [
    # NIfTI: the traceback families (SVD did not converge, NaN to integer, ...)
    Regression(
        "nifti sform NaN",
        nifti_with(sform_code=1, srow_x=np.array([NAN, 0, 0, 0])),
        "refused",
        "sform",
    ),
    Regression(
        "nifti sform offset inf",
        nifti_with(sform_code=1, srow_z=np.array([0, 0, 2.5, INF])),
        "refused",
        "sform",
    ),
    Regression("nifti singular sform", singular_sform, "refused", "sform"),
    Regression(
        "nifti qform with zero pixdim",
        nifti_with(sform_code=0, qform_code=1, pixdim=(1, 0.0)),
        "refused",
        "qform",
    ),
    Regression(
        "nifti quaternion out of range",
        nifti_with(sform_code=0, qform_code=1, quatern_b=5.0),
        "refused",
        "qform",
    ),
    Regression(
        "nifti pixdim NaN, no sform or qform",
        nifti_with(sform_code=0, qform_code=0, pixdim=(2, NAN)),
        "refused",
        "pixdim",
    ),
    Regression("nifti dim zero", nifti_with(dim=(2, 0)), "refused", "dim"),
    Regression("nifti dim[0] 9", nifti_with(dim=(0, 9)), "refused", "dim[0]"),
    Regression("nifti unknown datatype", nifti_with(datatype=9999), "refused", "datatype"),
    Regression(
        "nifti vox_offset -352",
        nifti_with(compress=False, vox_offset=-352),
        "refused",
        "vox_offset",
    ),
    Regression("nifti vox_offset NaN", nifti_with(vox_offset=NAN), "refused", "vox_offset"),
    Regression("nifti scl_slope inf", nifti_with(scl_slope=INF), "refused", "scl_slope"),
    Regression("nifti scl_slope NaN means unscaled (nibabel)", nifti_with(scl_slope=NAN, scl_inter=NAN), "loads"),
    Regression(
        "nifti cal_min NaN loads without a window", nifti_with(cal_min=NAN, cal_max=100.0), "loads"
    ),
    Regression(
        "nifti wrong sizeof_hdr",
        raw_nifti(lambda d: struct.pack("<i", 349) + d[4:]),
        "refused",
        "not a NIfTI",
    ),
    Regression("nifti truncated data", raw_nifti(lambda d: d[:-10]), "refused", "truncated"),
    Regression("nifti-2 dim 2^62", nifti2_huge_dim, "refused", "dim"),
    Regression("nifti-1 32767 cubed", nifti1_huge_dim, "refused", "impossible size"),
    Regression("gzip stream corrupt", flipped_gzip, "refused", "gzip"),
    Regression("gzip stream truncated", truncated_gzip, "refused", "truncated"),
    # DICOM: header values of the wrong kind
    Regression(
        "dicom PixelSpacing text",
        dicom_file_with(0x00280030, b"DS", b"abc\\1"),
        "refused",
        "PixelSpacing",
    ),
    Regression(
        "dicom PixelSpacing zero",
        dicom_file_with(0x00280030, b"DS", b"0\\0"),
        "refused",
        "PixelSpacing",
    ),
    Regression(
        "dicom ImagePositionPatient NaN",
        dicom_file_with(0x00200032, b"DS", b"NaN\\0\\0"),
        "refused",
        "ImagePositionPatient",
    ),
    Regression(
        "dicom orientation parallel",
        dicom_file_with(0x00200037, b"DS", b"1\\0\\0\\1\\0\\0"),
        "refused",
        "ImageOrientationPatient",
    ),
    Regression("dicom Rows 0", dicom_file_with(0x00280010, b"US", b"\0\0"), "refused", "Rows"),
    Regression(
        "dicom BitsAllocated 0",
        dicom_file_with(0x00280100, b"US", b"\0\0"),
        "refused",
        "BitsAllocated",
    ),
    Regression(
        "dicom odd-length Rows",
        dicom_file_with(0x00280010, b"US", b"\x01\x02\x03", pad=False),
        "refused",
        "case.dcm",
    ),
    Regression(
        "dicom RescaleIntercept 1e308",
        dicom_file_with(0x00281052, b"DS", b"1e308"),
        "refused",
        "RescaleIntercept",
    ),
    Regression(
        "dicom RescaleSlope NaN",
        dicom_file_with(0x00281053, b"DS", b"NaN"),
        "refused",
        "RescaleSlope",
    ),
    Regression(
        "dicom InstanceNumber holds a name",
        dicom_file_with(0x00200013, b"IS", CANARY.encode()),
        "loads",
    ),
    Regression(
        "dicom transfer syntax says JPEG, data raw",
        dicom_file_with(0x00020010, b"UI", b"1.2.840.10008.1.2.4.50\0", pad=False),
        "refused",
        "case.dcm",
    ),
    Regression(
        "multi-frame NumberOfFrames 10^7",
        dicom_file_with(0x00280008, b"IS", b"10000000", frames=2),
        "refused",
        "NumberOfFrames",
    ),
    Regression(
        "multi-frame NumberOfFrames 2^31-1",
        dicom_file_with(0x00280008, b"IS", b"2147483647", frames=2),
        "refused",
        "NumberOfFrames",
    ),
    Regression(
        "multi-frame NumberOfFrames 0",
        dicom_file_with(0x00280008, b"IS", b"0", frames=2),
        "refused",
        "NumberOfFrames",
    ),
    Regression(
        "sample multi-frame 10^7 frames",
        multiframe_frames(b"10000000"),
        "refused",
        "NumberOfFrames",
        needs_sample=True,
    ),
    # Folders: one bad file is skipped with a note, never silently, never fatal
    Regression(
        "series with one header truncated",
        series_with(lambda d: d[:300]),
        "loads",
        "skipped slice02.dcm",
    ),
    Regression(
        "series with one PixelSpacing text",
        series_with(set_value(0x00280030, b"DS", b"abc\\1"), victim=0),
        "loads",
        "skipped slice00.dcm",
    ),
    Regression(
        "series with last slice's pixels cut",
        series_with(lambda d: d[:-8]),
        "refused",
        "slice02.dcm",
    ),
    Regression(
        "RLE decoder panic",
        sample_series_with_bytes(
            "dicom_edge/mr4_compressed_rle", "IM-0001-0002-0001.dcm", RLE_PANIC_EDITS
        ),
        "refused",
        "IM-0001-0002-0001.dcm",
        needs_sample=True,
    ),
]
