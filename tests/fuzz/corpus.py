"""Derive a corpus of damaged inputs from the shared sample data, for every reader.

``python -m tests.fuzz.corpus OUT --count 1000 --seed 1`` writes OUT/cases/... and
OUT/manifest.json. Each case is one file or one folder made from a real sample
by one mutation family:

- NIfTI-1 (gzip and plain, big-endian), NIfTI-2: absurd header fields (0, negative,
  NaN, inf, 2^31-1, 2^62 dims, unknown datatype, vox_offset inside the header,
  singular or non-finite sform/qform), truncation at random offsets (inside and
  outside the gzip stream), byte flips in header, data and compressed stream, a
  gzip bomb, trailing garbage;
- DICOM single-frame series (folder with one damaged file, or the file alone) and
  compressed series (RLE, JPEG lossless, JPEG-LS, JPEG 2000): header values of the
  wrong kind or out of range (text in numbers, NaN, zero spacing, parallel
  orientation, Rows 0, BitsAllocated 0, absurd frame counts), odd-length raw values,
  transfer-syntax mismatches, truncation, byte flips, pixel data removed;
- enhanced multi-frame DICOM (built from the 4-slice MR): absurd NumberOfFrames,
  frames missing, per-frame geometry damaged;
- DICOM SEG: the same header and byte damage;
- the other volume formats the program reads (MetaImage, NRRD, Analyze, MGH), when
  their writers are available: damaged text headers, truncation, byte flips.

Every DICOM case carries a canary PatientName (and some put it into numeric
fields), so the runner can prove no header value reaches any output.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import shutil
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

CANARY = "CANARYSECRET"
SAMPLE = Path(
    os.environ.get(
        "SPLEENSCOPE_SAMPLE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
    )
)

NIFTI_SOURCES = {
    "nifti1_gz": "mr_abdomen.nii.gz",
    "nifti1_be": "orientation/big_endian_las.nii",
    "nifti2_gz": "orientation/nifti2.nii.gz",
    "nifti1_4d": "orientation/oblique_4d.nii.gz",
}
DICOM_FOLDERS = {
    "dicom_raw": "dicom_edge/mr4_anatomical",
    "dicom_rle": "dicom_edge/mr4_compressed_rle",
    "dicom_jpeg": "dicom_edge/mr4_compressed_jpeg",
    "dicom_jpegls": "dicom_edge/mr4_compressed_jpegls",
    "dicom_j2k": "dicom_edge/mr4_compressed_j2k",
}
SEG_SOURCE = "dicom_seg/liver.dcm"
SEG_IMAGE = "dicom_seg/ct-3slice"

ABSURD_NUMBERS = [
    0,
    -1,
    -352,
    1,
    2,
    9999,
    32767,
    -32768,
    2**31 - 1,
    1e38,
    -1e38,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e-30,
]
NIFTI_FIELDS = {
    "dim": [(i, v) for i in range(0, 8) for v in (0, -1, 1, 8, 32767, 2**15 - 1)],
    "pixdim": [
        (i, v) for i in range(0, 5) for v in (0, -1, float("nan"), float("inf"), 1e38, 1e-30)
    ],
    "datatype": [(None, v) for v in (0, 1, 3, 9999, 32, 128, 2304, -1)],
    "bitpix": [(None, v) for v in (0, 3, 9999)],
    "vox_offset": [
        (None, v) for v in (0, -352, 1, 100, 1e12, float("nan"), float("inf"), 2**31 + 8)
    ],
    "scl_slope": [(None, v) for v in (0, float("nan"), float("inf"), -1e38, 1e38)],
    "scl_inter": [(None, v) for v in (float("nan"), float("inf"), 1e38)],
    "srow_x": [(i, v) for i in range(4) for v in (0, float("nan"), float("inf"), 1e38)],
    "srow_y": [(i, v) for i in range(4) for v in (0, float("nan"), float("inf"))],
    "srow_z": [(i, v) for i in range(4) for v in (0, float("nan"), float("inf"))],
    "sform_code": [(None, v) for v in (0, 1, 2, 99, -5)],
    "qform_code": [(None, v) for v in (0, 1, 99, -5)],
    "quatern_b": [(None, v) for v in (5.0, float("nan"), float("inf"), 1.0)],
    "quatern_c": [(None, v) for v in (5.0, float("nan"), 1.0)],
    "qoffset_x": [(None, v) for v in (float("nan"), float("inf"), 1e38)],
    "cal_min": [(None, v) for v in (float("nan"), float("inf"), 1e38)],
    "cal_max": [(None, v) for v in (float("nan"), float("-inf"), -1e38)],
    "dim_info": [(None, v) for v in (255, 0)],
    "intent_code": [(None, v) for v in (1007, 2003, 9999)],
    "xyzt_units": [(None, v) for v in (255, 0)],
}

# (keyword, tag, VR, raw values to put there). Text in numbers, NaN, zero, huge.
DICOM_FIELDS = [
    ("Rows", 0x00280010, b"US", [b"\x00\x00", b"\xff\xff", b"\x01", b"\x00\x01\x02"]),
    ("Columns", 0x00280011, b"US", [b"\x00\x00", b"\xff\xff", b"\x07"]),
    (
        "BitsAllocated",
        0x00280100,
        b"US",
        [b"\x00\x00", b"\x03\x00", b"\x40\x00", b"\xff\xff", b"\x10"],
    ),
    ("BitsStored", 0x00280101, b"US", [b"\x00\x00", b"\x20\x00", b"\xff\xff"]),
    ("HighBit", 0x00280102, b"US", [b"\x00\x00", b"\xff\xff"]),
    ("PixelRepresentation", 0x00280103, b"US", [b"\x07\x00", b"\x01\x00"]),
    ("SamplesPerPixel", 0x00280002, b"US", [b"\x00\x00", b"\x03\x00", b"\xff\xff"]),
    (
        "PixelSpacing",
        0x00280030,
        b"DS",
        [
            b"abc\\1",
            b"0\\0",
            b"-1\\-1",
            b"NaN\\NaN",
            b"inf\\1",
            b"1e308\\1e308",
            b"1",
            b"",
            CANARY.encode() + b"\\1",
        ],
    ),
    (
        "ImagePositionPatient",
        0x00200032,
        b"DS",
        [b"NaN\\0\\0", b"inf\\0\\0", b"a\\b\\c", b"1\\2", b"1e308\\1e308\\1e308", b""],
    ),
    (
        "ImageOrientationPatient",
        0x00200037,
        b"DS",
        [
            b"0\\0\\0\\0\\0\\0",
            b"1\\0\\0\\1\\0\\0",
            b"NaN\\0\\0\\0\\1\\0",
            b"1\\0\\0",
            b"x\\y\\z\\1\\2\\3",
        ],
    ),
    ("RescaleSlope", 0x00281053, b"DS", [b"0", b"NaN", b"inf", b"1e308", b"abc", CANARY.encode()]),
    ("RescaleIntercept", 0x00281052, b"DS", [b"NaN", b"-inf", b"1e308", b"abc"]),
    ("WindowCenter", 0x00281050, b"DS", [b"NaN", b"abc", b"1e308"]),
    ("WindowWidth", 0x00281051, b"DS", [b"0", b"-5", b"inf", b"abc"]),
    ("SliceThickness", 0x00180050, b"DS", [b"0", b"-3", b"NaN", b"abc"]),
    ("InstanceNumber", 0x00200013, b"IS", [CANARY.encode(), b"1e400", b"-99999999999", b""]),
    ("SeriesNumber", 0x00200011, b"IS", [CANARY.encode(), b"99999999999999999999"]),
    ("NumberOfFrames", 0x00280008, b"IS", [b"0", b"-1", b"10000000", b"2147483647", b"abc", b"4"]),
    ("PhotometricInterpretation", 0x00280004, b"CS", [b"RGB", b"MONOCHROME1", b"YBR_FULL", b"XX"]),
    ("EchoNumbers", 0x00180086, b"IS", [b"inf", b"abc", b"1e400"]),
]
TRANSFER_SYNTAXES = [
    b"1.2.840.10008.1.2",
    b"1.2.840.10008.1.2.2",
    b"1.2.840.10008.1.2.4.50",
    b"1.2.840.10008.1.2.4.90",
    b"1.2.840.10008.1.2.5",
    b"1.2.840.10008.1.2.4.80",
    b"1.2.3.4.5.6",
]


@dataclass
class Case:
    """One damaged input and what a correct program may do with it."""

    id: str
    path: str  # relative to the corpus folder
    family: str  # nifti1_gz, dicom_raw, multiframe, seg, itk, ...
    mutation: str  # what was done, for the report (never a value from a real header)
    dicom_files: int = 0  # files with the DICOM marker in a folder case (silent-drop check)
    mask_for: str = ""  # for SEG cases: the image folder the mask belongs to
    reference: str = ""  # for SEG cases: a NIfTI mask on that folder's grid (for evaluate)
    tags: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ byte helpers
def flip_bytes(data: bytes, rng: random.Random, start: int, end: int, count: int) -> bytes:
    buffer = bytearray(data)
    end = min(end, len(buffer))
    if end <= start:
        return bytes(buffer)
    for _ in range(count):
        position = rng.randrange(start, end)
        buffer[position] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
    return bytes(buffer)


def set_dicom_value(
    data: bytes, tag: int, vr: bytes, value: bytes, pad: bool = True
) -> bytes | None:
    """Replace a top-level explicit-VR little-endian element's value in place (raw bytes)."""
    key = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    position = data.find(key, 132)
    if position < 0:
        return None
    old_length = struct.unpack("<H", data[position + 6 : position + 8])[0]
    if pad and len(value) % 2:
        value += b" " if vr in (b"DS", b"IS", b"CS") else b"\0"
    return (
        data[: position + 6]
        + struct.pack("<H", len(value))
        + value
        + data[position + 8 + old_length :]
    )


def insert_dicom_value(data: bytes, tag: int, vr: bytes, value: bytes) -> bytes:
    """Add a top-level element just before Pixel Data (or at the end)."""
    if len(value) % 2:
        value += b" "
    element = (
        struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + struct.pack("<H", len(value)) + value
    )
    position = data.find(b"\xe0\x7f\x10\x00", 132)
    position = len(data) if position < 0 else position
    return data[:position] + element + data[position:]


def pixel_data_offset(data: bytes) -> int:
    position = data.find(b"\xe0\x7f\x10\x00", 132)
    return len(data) if position < 0 else position


# ------------------------------------------------------------------ sources
def with_canary(path: Path) -> bytes:
    """A sample DICOM file with a canary PatientName (proves no value leaks)."""
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PatientName = f"{CANARY}^PATIENT"
    ds.PatientID = CANARY
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def enhanced_multiframe(folder: Path) -> bytes:
    """An Enhanced MR multi-frame file built from a 4-slice single-frame series."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    slices = sorted(
        (pydicom.dcmread(p) for p in sorted(folder.iterdir())),
        key=lambda d: float(d.ImagePositionPatient[2]),
    )
    first = slices[0]
    ds = pydicom.dcmread(sorted(folder.iterdir())[0])
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.NumberOfFrames = len(slices)
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = list(first.ImageOrientationPatient)
    measures = Dataset()
    measures.PixelSpacing = list(first.PixelSpacing)
    measures.SliceThickness = first.get("SliceThickness", 1)
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for item in slices:
        frame = Dataset()
        position = Dataset()
        position.ImagePositionPatient = list(item.ImagePositionPatient)
        frame.PlanePositionSequence = Sequence([position])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.PatientName = f"{CANARY}^PATIENT"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# ------------------------------------------------------------------ NIfTI cases
def nifti_case(rng: random.Random, family: str, source: Path) -> tuple[bytes, str, str]:
    """(bytes, suffix, mutation)."""
    raw = source.read_bytes()
    compressed = raw[:2] == b"\x1f\x8b"
    plain = gzip.decompress(raw) if compressed else raw
    header_size = 540 if family.startswith("nifti2") else 348
    choice = rng.choices(
        [
            "field",
            "truncate_plain",
            "truncate_gz",
            "flip_header",
            "flip_data",
            "flip_gz",
            "trailing",
            "swap_sizeof",
        ],
        weights=[10, 3, 2, 4, 2, 2, 1, 1],
    )[0]
    suffix = ".nii.gz" if compressed else ".nii"
    if choice == "field":
        header_class = nib.Nifti2Header if header_size == 540 else nib.Nifti1Header
        header = header_class.from_fileobj(io.BytesIO(plain[:header_size]))
        names = rng.sample(sorted(NIFTI_FIELDS), k=rng.choice([1, 1, 1, 2]))
        done = []
        for name in names:
            index, value = rng.choice(NIFTI_FIELDS[name])
            if header_size == 540 and name == "dim" and rng.random() < 0.3:
                value = 2**62
            try:
                with np.errstate(all="ignore"):
                    if index is None:
                        header[name] = value
                    else:
                        header[name][index] = value
            except (OverflowError, ValueError, TypeError):
                continue
            done.append(f"{name}[{index}]" if index is not None else name)
        body = header.binaryblock + plain[header_size:]
        return _maybe_gzip(body, compressed), suffix, "field " + "+".join(done)
    if choice == "truncate_plain":
        cut = rng.randrange(0, len(plain))
        return _maybe_gzip(plain[:cut], compressed), suffix, "truncate (uncompressed)"
    if choice == "truncate_gz" and compressed:
        cut = rng.randrange(0, len(raw))
        return raw[:cut], suffix, "truncate (compressed stream)"
    if choice == "flip_header":
        return (
            _maybe_gzip(flip_bytes(plain, rng, 0, header_size, rng.randint(1, 8)), compressed),
            suffix,
            "flip header bytes",
        )
    if choice == "flip_gz" and compressed:
        return (
            flip_bytes(raw, rng, 10, len(raw), rng.randint(1, 4)),
            suffix,
            "flip compressed bytes",
        )
    if choice == "trailing":
        return (
            _maybe_gzip(plain + rng.randbytes(rng.randint(1, 4096)), compressed),
            suffix,
            "trailing garbage",
        )
    if choice == "swap_sizeof":
        other = 540 if header_size == 348 else 348
        return (
            _maybe_gzip(struct.pack("<i", other) + plain[4:], compressed),
            suffix,
            "wrong sizeof_hdr",
        )
    return (
        _maybe_gzip(
            flip_bytes(plain, rng, header_size, len(plain), rng.randint(1, 64)), compressed
        ),
        suffix,
        "flip data bytes",
    )


def _maybe_gzip(data: bytes, compressed: bool) -> bytes:
    return gzip.compress(data, compresslevel=1) if compressed else data


def gzip_bomb(size: int = 2 * 2**30) -> bytes:
    """A valid small NIfTI whose gzip data goes on to inflate to ``size`` bytes of zeros.

    Built from gzip members of 16 MiB of zeros each (one compressed once and
    repeated), so a 2 GiB bomb (about 2 MB on disk) takes a fraction of a second to
    make; the first member already holds the image and more zeros than it declares.
    """
    image = nib.Nifti1Image(np.zeros((16, 16, 4), np.int16), np.eye(4))
    plain = image.header.binaryblock + b"\0" * 4 + np.zeros((16, 16, 4), np.int16).tobytes()
    block = 16 * 2**20
    first = gzip.compress(plain + b"\0" * block, compresslevel=9)
    zeros = gzip.compress(b"\0" * block, compresslevel=9)
    return first + zeros * max(0, size // block - 1)


def absurd_size_headers() -> dict[str, bytes]:
    """Headers that claim impossible sizes, with a few KB of data behind them."""
    cases = {}
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((32767, 32767, 32767))
    cases["absurd_nifti1_32767cubed.nii"] = header.binaryblock + b"\0" * 4096
    header = nib.Nifti2Header()
    header.set_data_dtype(np.float64)
    header["dim"][:4] = (3, 2**62, 2**62, 4)
    cases["absurd_nifti2_2pow62.nii"] = header.binaryblock + b"\0" * 4096
    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_data_shape((30000, 30000, 3))  # allowed by count, not by the bytes present
    cases["absurd_nifti1_bytes_missing.nii.gz"] = gzip.compress(
        header.binaryblock + b"\0" * 4 + b"\0" * 65536
    )
    return cases


# ------------------------------------------------------------------ DICOM cases
def dicom_mutation(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    choice = rng.choices(
        [
            "field",
            "odd_length",
            "transfer_syntax",
            "truncate",
            "flip_header",
            "flip_pixels",
            "no_pixels",
            "insert_frames",
        ],
        weights=[12, 2, 2, 3, 3, 3, 1, 1],
    )[0]
    if choice == "field":
        keyword, tag, vr, values = rng.choice(DICOM_FIELDS)
        value = rng.choice(values)
        changed = set_dicom_value(data, tag, vr, value)
        if changed is None:
            return insert_dicom_value(data, tag, vr, value), f"field {keyword} (added)"
        return changed, f"field {keyword}"
    if choice == "odd_length":
        keyword, tag, vr, _ = rng.choice([f for f in DICOM_FIELDS if f[2] == b"US"])
        changed = set_dicom_value(data, tag, vr, b"\x01\x02\x03", pad=False)
        return (changed or data), f"odd-length {keyword}"
    if choice == "transfer_syntax":
        syntax = rng.choice(TRANSFER_SYNTAXES)
        changed = set_dicom_value(
            data[:132] + data[132:],
            0x00020010,
            b"UI",
            syntax + b"\0" * (len(syntax) % 2),
            pad=False,
        )
        return (changed or data), "transfer syntax mismatch"
    if choice == "truncate":
        return data[: rng.randrange(0, len(data))], "truncate"
    if choice == "flip_header":
        return flip_bytes(
            data, rng, 128, pixel_data_offset(data), rng.randint(1, 6)
        ), "flip header bytes"
    if choice == "no_pixels":
        return data[: pixel_data_offset(data)], "pixel data removed"
    if choice == "insert_frames":
        value = rng.choice([b"10000000", b"2147483647", b"3", b"-2"])
        return insert_dicom_value(data, 0x00280008, b"IS", value), "NumberOfFrames added"
    start = pixel_data_offset(data)
    return flip_bytes(data, rng, start, len(data), rng.randint(1, 64)), "flip pixel bytes"


# ------------------------------------------------------------------ other formats
def itk_sources(folder: Path) -> dict[str, Path]:
    """Small MetaImage / NRRD / Analyze / MGH files written from the MR sample."""
    image = nib.load(str(SAMPLE / "mr_abdomen.nii.gz"))
    data = np.asarray(image.dataobj)[:, :, :6].astype(np.int16)
    affine = image.affine
    made: dict[str, Path] = {}
    try:
        import SimpleITK as sitk

        itk = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
        itk.SetSpacing([float(v) for v in image.header.get_zooms()[:3]])
        for name in ("source.mha", "source.nrrd", "source.mhd"):
            sitk.WriteImage(itk, str(folder / name), False)
            made[name] = folder / name
    except Exception:  # noqa: BLE001 - SimpleITK missing: those formats are skipped
        pass
    try:
        analyze = nib.AnalyzeImage(data, affine)
        nib.save(analyze, str(folder / "source.hdr"))
        made["source.hdr"] = folder / "source.hdr"
        nib.save(nib.MGHImage(data.astype(np.int16), affine), str(folder / "source.mgz"))
        made["source.mgz"] = folder / "source.mgz"
    except Exception:  # noqa: BLE001
        pass
    return made


def itk_mutation(rng: random.Random, data: bytes, name: str) -> tuple[bytes, str]:
    if name.endswith((".mha", ".nrrd", ".mhd")):
        head_end = (
            data.find(b"ElementDataFile") if b"ElementDataFile" in data else data.find(b"\n\n")
        )
        head_end = len(data) if head_end < 0 else head_end
        lines = data[:head_end].split(b"\n")
        if lines and rng.random() < 0.7:
            index = rng.randrange(len(lines))
            key = lines[index].split(b"=")[0].split(b":")[0]
            separator = b" = " if b"=" in lines[index] else b": "
            value = rng.choice(
                [
                    b"0 0 0",
                    b"-1",
                    b"nan nan nan",
                    b"inf 1 1",
                    b"99999 99999 99999",
                    b"abc",
                    b"",
                    b"1e308 1e308 1e308",
                    b"MET_UNKNOWN",
                    b"0 0 0 0 0 0 0 0 0",
                ]
            )
            lines[index] = key + separator + value
            return b"\n".join(lines) + data[head_end:], "header line"
        if rng.random() < 0.5:
            return data[: rng.randrange(0, len(data))], "truncate"
        return flip_bytes(data, rng, 0, min(len(data), 400), rng.randint(1, 6)), "flip header bytes"
    if rng.random() < 0.4:
        return data[: rng.randrange(0, len(data))], "truncate"
    end = 348 if name.endswith(".hdr") else min(len(data), 400)
    if name.endswith(".mgz"):
        plain = gzip.decompress(data)
        return gzip.compress(
            flip_bytes(plain, rng, 0, 284, rng.randint(1, 6)), 1
        ), "flip header bytes"
    return flip_bytes(data, rng, 0, end, rng.randint(1, 6)), "flip header bytes"


def seg_reference_mask(folder: Path) -> str:
    """An empty NIfTI mask on the SEG's image grid, so ``evaluate SEG REF`` can place it."""
    from viewer.io import load_volume
    from viewer.io.writers import save_mask

    volume = load_volume(SAMPLE / SEG_IMAGE)
    path = folder / "seg_reference.nii.gz"
    path.unlink(missing_ok=True)
    save_mask(volume, np.zeros(volume.shape, np.uint8), path)
    return str(path)


# ------------------------------------------------------------------ the corpus
def generate(out: Path, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases_dir = out / "cases"
    if cases_dir.exists():
        shutil.rmtree(cases_dir)
    cases_dir.mkdir(parents=True)
    sources_dir = out / "sources"
    sources_dir.mkdir(exist_ok=True)
    cases: list[Case] = []

    def add_file(family: str, data: bytes, suffix: str, mutation: str, **extra) -> None:
        case_id = f"{len(cases):05d}_{family}"
        path = cases_dir / f"{case_id}{suffix}"
        path.write_bytes(data)
        cases.append(Case(case_id, str(path.relative_to(out)), family, mutation, **extra))

    def add_folder(family: str, files: dict[str, bytes], mutation: str, **extra) -> None:
        case_id = f"{len(cases):05d}_{family}"
        folder = cases_dir / case_id
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        markers = sum(1 for d in files.values() if d[128:132] == b"DICM")
        cases.append(
            Case(
                case_id,
                str(folder.relative_to(out)),
                family,
                mutation,
                dicom_files=markers,
                **extra,
            )
        )

    dicom_series = {
        family: {p.name: with_canary(p) for p in sorted((SAMPLE / rel).iterdir())}
        for family, rel in DICOM_FOLDERS.items()
    }
    multiframe = enhanced_multiframe(SAMPLE / DICOM_FOLDERS["dicom_raw"])
    seg = (SAMPLE / SEG_SOURCE).read_bytes()
    seg_reference = seg_reference_mask(sources_dir)
    others = itk_sources(sources_dir)

    # Unmodified sources: refusing one of these is a failure too (a false alarm).
    for family, rel in NIFTI_SOURCES.items():
        add_file(
            family,
            (SAMPLE / rel).read_bytes(),
            "_" + Path(rel).name,
            "unmodified",
            tags=["baseline"],
        )
    for family, files in dicom_series.items():
        add_folder(family, files, "unmodified", tags=["baseline"])
    add_folder("multiframe", {"mf.dcm": multiframe}, "unmodified", tags=["baseline"])
    add_file(
        "seg",
        seg,
        ".dcm",
        "unmodified",
        mask_for=str(SAMPLE / SEG_IMAGE),
        reference=seg_reference,
        tags=["baseline"],
    )
    for name, source in sorted(others.items()):
        if name.endswith(".mhd"):
            raw_name = source.with_suffix(".raw").name
            add_folder(
                "itk",
                {name: source.read_bytes(), raw_name: (sources_dir / raw_name).read_bytes()},
                "unmodified",
                tags=["baseline"],
            )
            cases[-1].path = str(Path(cases[-1].path) / name)
        elif name.endswith(".hdr"):
            add_folder(
                "analyze",
                {
                    name: source.read_bytes(),
                    "source.img": (sources_dir / "source.img").read_bytes(),
                },
                "unmodified",
                tags=["baseline"],
            )
            cases[-1].path = str(Path(cases[-1].path) / name)
        else:
            add_file("itk", source.read_bytes(), "_" + name, "unmodified", tags=["baseline"])
    # Fixed special cases: they are what the issue measured.
    for name, data in absurd_size_headers().items():
        add_file("absurd", data, "_" + name, "absurd declared size")
    add_file("bomb", gzip_bomb(), ".nii.gz", "gzip bomb (2 GiB of zeros behind a small image)")
    for frames in (b"10000000", b"2147483647", b"0", b"5"):
        add_folder(
            "multiframe",
            {"mf.dcm": set_dicom_value(multiframe, 0x00280008, b"IS", frames)},
            "NumberOfFrames absurd",
        )
    raw = dicom_series["dicom_raw"]
    last = sorted(raw)[-1]
    add_folder(
        "dicom_raw", {**raw, last: raw[last][: len(raw[last]) - 1000]}, "last slice truncated"
    )
    add_folder("dicom_raw", {**raw, last: raw[last][:300]}, "last slice truncated in header")
    add_folder(
        "dicom_raw",
        {n: (d if n == last else d[:200]) for n, d in raw.items()},
        "three of four headers truncated",
    )
    add_file("odd", b"", ".nii", "empty file")
    add_folder("odd", {}, "empty folder")
    add_file("odd", b"\x1f\x8b" + rng.randbytes(100), ".nii.gz", "gzip magic then noise")
    add_file("odd", rng.randbytes(2000), ".dcm", "noise named .dcm")

    weights = {
        "nifti": 30,
        "dicom_folder": 25,
        "dicom_file": 12,
        "multiframe": 10,
        "seg": 8,
        "itk": 15 if others else 0,
    }
    while sum(1 for c in cases if "baseline" not in c.tags) < count:  # count: mutated inputs
        kind = rng.choices(list(weights), weights=list(weights.values()))[0]
        if kind == "nifti":
            family = rng.choice(list(NIFTI_SOURCES))
            data, suffix, mutation = nifti_case(rng, family, SAMPLE / NIFTI_SOURCES[family])
            add_file(family, data, suffix, mutation)
        elif kind in ("dicom_folder", "dicom_file"):
            family = rng.choice(list(DICOM_FOLDERS))
            files = dict(dicom_series[family])
            victim = rng.choice(sorted(files))
            data, mutation = dicom_mutation(rng, files[victim])
            if kind == "dicom_file":
                add_file(family, data, ".dcm", mutation)
            else:
                files[victim] = data
                add_folder(family, files, mutation + " (one file of the series)")
        elif kind == "multiframe":
            data, mutation = dicom_mutation(rng, multiframe)
            add_folder("multiframe", {"mf.dcm": data}, mutation)
        elif kind == "seg":
            data, mutation = dicom_mutation(rng, seg)
            add_file(
                "seg",
                data,
                ".dcm",
                mutation,
                mask_for=str(SAMPLE / SEG_IMAGE),
                reference=seg_reference,
            )
        else:
            name = rng.choice(sorted(others))
            source = others[name]
            data, mutation = itk_mutation(rng, source.read_bytes(), name)
            suffix = "_" + name
            if name.endswith(".mhd"):
                raw_name = source.with_suffix(".raw").name
                add_folder(
                    "itk", {name: data, raw_name: (sources_dir / raw_name).read_bytes()}, mutation
                )
                cases[-1].path = str(Path(cases[-1].path) / name)
            elif name.endswith(".hdr"):
                add_folder(
                    "analyze",
                    {name: data, "source.img": (sources_dir / "source.img").read_bytes()},
                    mutation,
                )
                cases[-1].path = str(Path(cases[-1].path) / name)
            else:
                add_file("itk", data, suffix, mutation)
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cases = generate(args.out, args.count, args.seed)
    families: dict[str, int] = {}
    for case in cases:
        families[case.family] = families.get(case.family, 0) + 1
    print(json.dumps({"cases": len(cases), "families": families}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
