"""The fast header walk and the direct read of uncompressed pixels give what pydicom gives.

``viewer.io.dicom_header`` reads only the elements the readers use, and
``viewer.io.dicom_pixels`` reads uncompressed pixels from where the walk found them;
both must agree with pydicom on real files, and fall back to it where they cannot.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.conftest import sample_data_dir
from viewer.errors import UnreadableFileError
from viewer.io import dicom_pixels
from viewer.io.dicom import load_dicom
from viewer.io.dicom_files import is_image, scan
from viewer.io.dicom_header import read_header_elements
from viewer.io.dicom_records import HEADER_TAGS, records_from_dataset


def _dicom_files():
    root = sample_data_dir()
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.stat().st_size > 132 and not p.name.endswith((".gz", ".nii", ".md"))
    ]
    if not files:
        pytest.skip(f"sample data not found: {root}")
    return files


def test_walk_gives_pydicoms_values_and_records_on_every_sample_file():
    walked = 0
    for path in _dicom_files():
        header = read_header_elements(path, HEADER_TAGS)
        if header is None:
            continue  # pydicom reads it (enhanced multi-frame, no preamble, ...)
        walked += 1
        reference = pydicom.dcmread(path, stop_before_pixels=True)
        for tag in header.dataset.keys():
            assert header.dataset[tag].value == reference[tag].value, (path.name, tag)
        assert header.dataset.file_meta == reference.file_meta
        if is_image(reference):
            assert is_image(header.dataset)
            assert records_from_dataset(header.dataset, path) == records_from_dataset(
                reference, path
            )
    assert walked >= 20  # the sample CT at least, in explicit VR little endian


def test_header_tags_list_every_element_the_readers_use():
    """A reader that reads an element missing from HEADER_TAGS would get None from a
    scanned header: record every top-level element they look at on real files."""
    seen: set[int] = set()

    def note(key) -> None:
        try:
            seen.add(int(Tag(key)))
        except (ValueError, TypeError, OverflowError):
            pass  # not an element: file_meta, is_implicit_VR, ...

    class Recording(pydicom.Dataset):
        def __contains__(self, name):
            note(name)
            return super().__contains__(name)

        def get(self, key, default=None):
            note(key)
            return super().get(key, default)

        def __getattr__(self, name):
            note(name)
            return super().__getattr__(name)

        def __getitem__(self, key):
            if not isinstance(key, slice):
                note(key)
            return super().__getitem__(key)

    for path in _dicom_files():
        try:
            reference = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - some sample files are damaged on purpose
            continue
        recording = Recording(reference)
        recording.file_meta = reference.file_meta
        recording.set_original_encoding(
            reference.is_implicit_VR, reference.is_little_endian, reference.original_encoding
        )
        if is_image(recording):
            try:
                records_from_dataset(recording, path)
            except Exception:  # noqa: BLE001 - a refused value still counts what was read
                pass
    assert seen, "no DICOM image read"
    assert seen <= set(HEADER_TAGS), sorted(hex(t) for t in seen - set(HEADER_TAGS))


def _uncompressed_copy(tmp_path, syntax, edit=None):
    source = sorted((sample_data_dir() / "ct_spleen_dicom").iterdir())[:4]
    if not source:
        pytest.skip("sample CT not found")
    folder = tmp_path / str(syntax)
    folder.mkdir()
    for index, path in enumerate(source):
        ds = pydicom.dcmread(path)
        ds.decompress()
        ds.file_meta.TransferSyntaxUID = syntax
        if edit:
            edit(ds)
        ds.save_as(folder / f"{index:03d}.dcm", enforce_file_format=True, implicit_vr=(
            syntax == ImplicitVRLittleEndian
        ))  # fmt: skip
    return folder


def _through_pydicom(folder, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(dicom_pixels, "_read_native", lambda record, source=None: None)
        return load_dicom(folder)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_direct_pixel_read_equals_pydicoms_decoding(tmp_path, monkeypatch, syntax):
    folder = _uncompressed_copy(tmp_path, syntax)
    assert all(r.pixel_location for r in scan(folder).slices)
    direct, reference = load_dicom(folder), _through_pydicom(folder, monkeypatch)
    assert direct.array.dtype == reference.array.dtype
    np.testing.assert_array_equal(direct.array, reference.array)
    np.testing.assert_array_equal(direct.affine, reference.affine)


@pytest.mark.parametrize("representation", [0, 1])
def test_bits_beyond_bits_stored_are_treated_as_pydicom_does(tmp_path, monkeypatch, representation):
    """12 bits stored in 16: stray high bits are cleared (unsigned) or the sign extended."""

    def edit(ds):
        pixels = ds.pixel_array.astype(np.int32)
        pixels = (pixels - pixels.min()) % 4096
        stored = pixels.astype(np.uint16) | np.uint16(0xA000)  # garbage in the unused bits
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, representation
        ds.PixelData = stored.tobytes()

    folder = _uncompressed_copy(tmp_path, ExplicitVRLittleEndian, edit)
    direct, reference = load_dicom(folder), _through_pydicom(folder, monkeypatch)
    np.testing.assert_array_equal(direct.array, reference.array)
    assert direct.array.min() >= (-2048 if representation else 0) + min(
        r.rescale_intercept for r in scan(folder).slices
    )


def test_truncated_pixel_data_still_reported(tmp_path):
    """The direct read refuses a short value and pydicom reports it, as before."""
    folder = _uncompressed_copy(tmp_path, ExplicitVRLittleEndian)
    victim = sorted(folder.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-1000])
    with pytest.raises(UnreadableFileError, match=f"{victim.name}: .*truncated"):
        load_dicom(folder)
