"""DICOM reading against the real series in the sample data.

The strongest check here is independent of the reader's own geometry code: for
every file of a series, the voxel that holds that file's pixel (row r, column c)
must sit at ImagePositionPatient + c * column spacing * row direction + r * row
spacing * column direction (LPS, converted to RAS), and hold that pixel's value.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from viewer.errors import GeometryError, SeriesSelectionError, UnreadableFileError
from viewer.io import load_volume
from viewer.io.dicom import list_series

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])
MR4_VARIANTS = (
    "mr4_compressed_j2k",
    "mr4_compressed_jpeg",
    "mr4_compressed_jpegls",
    "mr4_compressed_rle",
)


def dicom_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_size > 0)


def pixel_world_mm(ds: pydicom.Dataset, row: int, column: int) -> np.ndarray:
    """RAS mm of one pixel, straight from the DICOM standard's formula."""
    position = np.asarray(ds.ImagePositionPatient, float)
    orientation = np.asarray(ds.ImageOrientationPatient, float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    lps = position + column * column_spacing * orientation[:3] + row * row_spacing * orientation[3:]
    return lps * LPS_TO_RAS


def rescaled(ds: pydicom.Dataset) -> np.ndarray:
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return ds.pixel_array * slope + intercept


def assert_every_file_lands_on_its_position(volume, files: list[Path]) -> None:
    for path in files:
        ds = pydicom.dcmread(path)
        pixels = rescaled(ds)
        for row, column in (
            (0, 0),
            (ds.Rows - 1, 0),
            (3, ds.Columns - 2),
            (ds.Rows // 2, ds.Columns // 3),
        ):
            ijk = volume.world_to_voxel(pixel_world_mm(ds, row, column))
            np.testing.assert_allclose(ijk, np.rint(ijk), atol=1e-3, err_msg=path.name)
            i, j, k = np.rint(ijk).astype(int)
            assert volume.array[i, j, k] == pytest.approx(pixels[row, column], rel=1e-5), path.name


# --------------------------------------------------------------------- the CT
@pytest.fixture(scope="module")
def ct(sample_data):
    return load_volume(sample_data / "ct_spleen_dicom")


def test_ct_lies_exactly_on_the_label_grid(ct, sample_data):
    label = load_volume(sample_data / "ct_spleen_dicom_label.nii.gz")
    assert label.source_orientation == ("L", "A", "S")
    assert ct.shape == label.shape == (512, 512, 20)
    np.testing.assert_allclose(ct.affine, label.affine, atol=1e-4)
    assert int(np.count_nonzero(label.array == 1)) == 130_634
    assert ct.mask_volume_ml(label.array == 1) == pytest.approx(249.2, abs=0.05)


def test_ct_spacing_comes_from_positions_not_slice_thickness(ct, sample_data):
    first = pydicom.dcmread(
        dicom_files(sample_data / "ct_spleen_dicom")[0], stop_before_pixels=True
    )
    assert float(first.SliceThickness) == 3.0
    np.testing.assert_allclose(ct.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-6)
    assert ct.orientation == ("R", "A", "S")
    assert ct.source_orientation == ("L", "P", "S")


def test_ct_values_are_hounsfield_int16_with_header_metadata(ct):
    assert ct.array.dtype == np.int16
    assert ct.value_range[0] == -1024.0  # air outside the body after RescaleIntercept -1024
    assert ct.modality == "CT"
    assert ct.window == (40.0, 300.0)
    assert ct.description == "CT Body 3.0"
    assert ct.warnings == ()


def test_ct_every_slice_lands_on_its_image_position(ct, sample_data):
    assert_every_file_lands_on_its_position(ct, dicom_files(sample_data / "ct_spleen_dicom")[::6])


def test_list_of_files_in_any_order_and_single_file(ct, sample_data):
    files = dicom_files(sample_data / "ct_spleen_dicom")
    shuffled = [files[i] for i in np.random.default_rng(1).permutation(len(files))]
    from_list = load_volume(shuffled)
    assert np.array_equal(from_list.array, ct.array)
    np.testing.assert_allclose(from_list.affine, ct.affine)
    single = load_volume(files[3])
    assert single.shape == (512, 512, 1)
    assert any("single slice" in w for w in single.warnings)
    k = int(np.rint(ct.world_to_voxel(single.voxel_to_world([0, 0, 0]))[2]))
    assert k == 16  # names run from head to feet, the volume from feet to head
    assert np.array_equal(single.array[:, :, 0], ct.array[:, :, k])


def test_progress_reports_every_slice(sample_data):
    calls = []
    load_volume(
        sample_data / "ct_spleen_dicom", progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (20, 20)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_ct_series_listing_has_no_identifying_values(sample_data):
    (info,) = list_series(sample_data / "ct_spleen_dicom")
    assert (info.index, info.modality, info.slices, info.rows, info.columns) == (
        0,
        "CT",
        20,
        512,
        512,
    )
    assert info.orientation == "LPS"
    ds = pydicom.dcmread(dicom_files(sample_data / "ct_spleen_dicom")[0], stop_before_pixels=True)
    text = repr(info) + str(info.to_dict()) + info.label()
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "InstitutionName",
    ):
        value = str(ds.get(keyword, "") or "")
        if len(value) > 2:
            assert value not in text, keyword


# ------------------------------------------------------------ the MR cases
def test_mr4_compressed_variants_decode_bit_identical(sample_data):
    reference = load_volume(sample_data / "dicom_edge/mr4_anatomical")
    volumes = [load_volume(sample_data / "dicom_edge" / name) for name in MR4_VARIANTS]
    for name, volume in zip(MR4_VARIANTS, volumes, strict=True):
        assert volume.shape == reference.shape == (4, 256, 256), name
        assert volume.array.dtype == volumes[0].array.dtype
        assert np.array_equal(volume.array, volumes[0].array), name
        np.testing.assert_allclose(volume.affine, reference.affine, atol=1e-6, err_msg=name)
    assert_every_file_lands_on_its_position(
        volumes[0], dicom_files(sample_data / "dicom_edge/mr4_compressed_jpegls")
    )


@pytest.mark.parametrize(
    "folder, reference",
    [
        ("mr4_anatomical", "mr4_reference_dicom2nifti.nii.gz"),
        ("mr_non_isotropic_oblique", "mr_non_isotropic_oblique_reference_dicom2nifti.nii.gz"),
    ],
)
def test_geometry_and_values_agree_with_dicom2nifti(sample_data, folder, reference):
    """dicom2nifti orders its axes its own way, so compare world points, not matrices."""
    volume = load_volume(sample_data / "dicom_edge" / folder)
    image = nib.load(str(sample_data / "dicom_edge" / reference))
    data = np.asanyarray(image.dataobj)
    assert sorted(volume.shape) == sorted(image.shape)
    ijk = np.indices(volume.shape).reshape(3, -1).T
    world = volume.voxel_to_world(ijk)
    inverse = np.linalg.inv(image.affine)
    theirs = world @ inverse[:3, :3].T + inverse[:3, 3]
    np.testing.assert_allclose(theirs, np.rint(theirs), atol=1e-3)  # every centre on their grid
    theirs = np.rint(theirs).astype(int)
    assert np.all((theirs >= 0) & (theirs < np.asarray(image.shape[:3])))
    np.testing.assert_allclose(
        volume.array[tuple(ijk.T)], data[tuple(theirs.T)], rtol=1e-5, atol=1e-4
    )


def test_oblique_mr_with_per_slice_rescale_is_float32(sample_data):
    folder = sample_data / "dicom_edge/mr_non_isotropic_oblique"
    volume = load_volume(folder)
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(sorted(volume.spacing), [0.5, 4.0, 6.39995861], atol=1e-5)
    assert_every_file_lands_on_its_position(volume, dicom_files(folder))


def test_gantry_tilt_gives_a_sheared_affine_and_a_warning(sample_data):
    folder = sample_data / "dicom_edge/gantrytilting"
    volume = load_volume(folder)
    assert any("gantry tilt of 14.0 degrees" in w for w in volume.warnings)
    # slices step straight along z by 5 mm although the slice normal is tilted
    np.testing.assert_allclose(volume.affine[:3, 2], [0.0, 0.0, 5.0], atol=1e-6)
    columns = volume.affine[:3, :3] / np.linalg.norm(volume.affine[:3, :3], axis=0)
    assert abs(columns[:, 1] @ columns[:, 2]) > 0.2  # not orthogonal: sheared
    assert_every_file_lands_on_its_position(volume, dicom_files(folder))


def test_all_slices_at_one_position_is_refused(sample_data):
    with pytest.raises(GeometryError, match="all 4 slices lie at the same position"):
        load_volume(sample_data / "dicom_edge/notavolume")


def test_two_slice_series_loads_as_a_thin_volume(sample_data):
    volume = load_volume(sample_data / "dicom_edge/slicecount")
    assert sorted(volume.shape) == [2, 256, 256]
    np.testing.assert_allclose(volume.spacing, (1.0, 1.0, 1.0))
    assert volume.source_orientation == ("P", "I", "R")  # sagittal


def test_stray_non_dicom_files_are_skipped(sample_data):
    folder = sample_data / "dicom_edge/sliceorientation"
    assert len([p for p in folder.iterdir() if p.is_file()]) == 4
    volume = load_volume(folder)
    assert volume.shape[2] == 2
    assert_every_file_lands_on_its_position(
        volume, [p for p in dicom_files(folder) if p.suffix == ".dcm"]
    )


def test_seg_objects_are_skipped_and_ct_slices_load(sample_data):
    folder = sample_data / "dicom_seg"
    (info,) = list_series(folder)
    assert (info.modality, info.slices) == ("CT", 3)
    volume = load_volume(folder)
    assert volume.shape == (512, 512, 3)
    assert volume.array.dtype == np.int16
    assert volume.value_range[0] == -3024.0  # signed storage, intercept -1024
    assert_every_file_lands_on_its_position(volume, dicom_files(folder / "ct-3slice"))
    with pytest.raises(UnreadableFileError, match="no images"):
        load_volume(folder / "liver.dcm")


# ------------------------------------------------- series built in tmp_path
def _copy(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, folder / path.name)
    return folder


def _uncompressed(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.decompress()
    return ds


def test_missing_slice_is_reported_with_slice_numbers_and_distances(sample_data, tmp_path):
    files = dicom_files(sample_data / "ct_spleen_dicom")
    folder = _copy(files[:9] + files[10:], tmp_path / "gap")
    with pytest.raises(
        GeometryError,
        match=r"slices 10 and 11 \(instances 277 and 275\) are 4 mm apart where the rest are 2 mm",
    ):
        load_volume(folder)
    two_gaps = _copy(files[:4] + files[5:12] + files[13:], tmp_path / "two_gaps")
    with pytest.raises(
        GeometryError,
        match=r"slices 7 and 8 \(instances 280 and 278\) are 4 mm apart, slices 14 and 15 \(instances 272 and 270\) are 4 mm",
    ):
        load_volume(two_gaps)


def test_folder_of_several_series_asks_for_a_choice(sample_data, tmp_path):
    folder = tmp_path / "mixed"
    _copy(dicom_files(sample_data / "ct_spleen_dicom")[:5], folder / "ct")
    _copy(dicom_files(sample_data / "dicom_edge/mr_non_isotropic_oblique"), folder / "mr")
    with pytest.raises(SeriesSelectionError, match="holds 2 series.*--series") as caught:
        load_volume(folder)
    assert [s.modality for s in caught.value.series] == ["MR", "CT"] or len(
        caught.value.series
    ) == 2
    chosen = next(s.index for s in list_series(folder) if s.modality == "CT")
    assert load_volume(folder, series=chosen).shape == (512, 512, 5)
    with pytest.raises(SeriesSelectionError, match="series 7 does not exist"):
        load_volume(folder, series=7)


def test_empty_uid_slices_of_another_size_form_their_own_series(sample_data, tmp_path):
    """ct_spleen_dicom has empty SeriesInstanceUIDs: grouping falls back on size."""
    files = dicom_files(sample_data / "ct_spleen_dicom")[:4]
    folder = _copy(files, tmp_path / "sizes")
    for path in files[:2]:
        ds = _uncompressed(pydicom.dcmread(path))
        cropped = ds.pixel_array[:256, :256].copy()
        ds.Rows, ds.Columns = 256, 256
        ds.PixelData = cropped.tobytes()
        ds.save_as(folder / f"small_{path.name}")
    series = list_series(folder)
    assert sorted((s.rows, s.slices) for s in series) == [(256, 2), (512, 4)]


def _enhanced_ct_from_slices(files: list[Path], path: Path) -> None:
    """An Enhanced CT object (one file, per-frame functional groups) built from single slices,
    with frames stored in shuffled order so that ordering must come from positions."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence

    slices = [pydicom.dcmread(p) for p in files]
    order = np.random.default_rng(7).permutation(len(slices))
    first = slices[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality, ds.SeriesDescription = "CT", "synthetic enhanced CT"
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = first.Rows, first.Columns, len(slices)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, first.BitsStored, first.BitsStored - 1
    ds.PixelRepresentation = first.PixelRepresentation

    def item(**values) -> Dataset:
        inner = Dataset()
        for key, value in values.items():
            setattr(inner, key, value)
        return inner

    shared = item(
        PixelMeasuresSequence=Sequence([item(PixelSpacing=first.PixelSpacing, SliceThickness=3.0)]),
        PlaneOrientationSequence=Sequence(
            [item(ImageOrientationPatient=first.ImageOrientationPatient)]
        ),
        PixelValueTransformationSequence=Sequence(
            [item(RescaleSlope=1, RescaleIntercept=first.RescaleIntercept, RescaleType="HU")]
        ),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [
            item(
                PlanePositionSequence=Sequence(
                    [item(ImagePositionPatient=slices[i].ImagePositionPatient)]
                )
            )
            for i in order
        ]
    )
    ds.PixelData = np.stack([slices[i].pixel_array for i in order]).astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_multiframe_ct_reads_as_one_volume(ct, sample_data, tmp_path):
    files = dicom_files(sample_data / "ct_spleen_dicom")
    path = tmp_path / "enhanced" / "ct_enhanced.dcm"
    path.parent.mkdir()
    _enhanced_ct_from_slices(files, path)
    volume = load_volume(path)
    assert volume.description == "synthetic enhanced CT"
    assert volume.shape == ct.shape
    np.testing.assert_allclose(volume.affine, ct.affine, atol=1e-6)
    assert np.array_equal(volume.array, ct.array)


def test_monochrome1_is_inverted(sample_data, tmp_path):
    files = dicom_files(sample_data / "dicom_edge/mr4_anatomical")
    folder = _copy(files, tmp_path / "mono1")
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(path)
    normal = load_volume(sample_data / "dicom_edge/mr4_anatomical")
    inverted = load_volume(folder)
    assert any("MONOCHROME1" in w for w in inverted.warnings)
    assert np.array_equal(inverted.array, (4095 - normal.array.astype(np.int32)).astype(np.int16))


def test_dicom_without_pixel_data_is_unreadable(sample_data, tmp_path):
    ds = pydicom.dcmread(dicom_files(sample_data / "dicom_edge/mr4_anatomical")[0])
    del ds.PixelData
    ds.save_as(tmp_path / "header_only.dcm")
    with pytest.raises(UnreadableFileError, match="without pixel data"):
        load_volume(tmp_path / "header_only.dcm")


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")
def test_truncated_pixel_data_is_unreadable(sample_data, tmp_path):
    source = dicom_files(sample_data / "ct_spleen_dicom")[0].read_bytes()
    path = tmp_path / "truncated"
    path.write_bytes(source[: len(source) - 20_000])
    with pytest.raises(UnreadableFileError):
        load_volume(path)


def test_unsigned_values_beyond_int16_switch_to_float32(sample_data, tmp_path):
    """16-bit unsigned MR can exceed int16: the reader must not wrap values around."""
    folder = _copy(dicom_files(sample_data / "dicom_edge/mr4_anatomical"), tmp_path / "u16")
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.astype(np.uint16)
        pixels[0, 0] = 60_000
        ds.BitsStored, ds.HighBit = 16, 15
        ds.PixelData = pixels.tobytes()
        ds.save_as(path)
    volume = load_volume(folder)
    assert volume.array.dtype == np.float32
    assert volume.value_range[1] == 60_000.0
    assert_every_file_lands_on_its_position(volume, dicom_files(folder))


@pytest.mark.parametrize(
    "sop_class, image",
    [
        ("1.2.840.10008.5.1.4.1.1.2", True),  # CT
        ("1.2.840.10008.5.1.4.1.1.4.1", True),  # enhanced MR
        ("1.2.840.10008.5.1.4.1.1.128", True),  # PET (shares a prefix with presentation states)
        ("1.2.840.10008.5.1.4.1.1.66.4", False),  # SEG
        ("1.2.840.10008.5.1.4.1.1.481.3", False),  # RTSTRUCT
        ("1.2.840.10008.5.1.4.1.1.88.33", False),  # SR
        ("1.2.840.10008.5.1.4.1.1.11.1", False),  # presentation state
    ],
)
def test_non_image_objects_are_told_apart_by_sop_class(sop_class, image):
    from viewer.io.dicom_files import is_image

    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.Rows, ds.Columns = sop_class, 8, 8
    assert is_image(ds) is image


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")
def test_junk_files_in_a_series_folder_are_skipped(sample_data, tmp_path):
    folder = _copy(dicom_files(sample_data / "dicom_edge/mr4_compressed_rle"), tmp_path / "junk")
    (folder / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 50)
    (folder / "notes.txt").write_text("not an image")
    (folder / "thumbs.db").write_bytes(np.random.default_rng(0).bytes(5000))
    (folder / ".hidden").write_bytes(b"x")
    assert load_volume(folder).shape == (4, 256, 256)


def test_multi_echo_slices_at_the_same_positions_split_by_echo(sample_data, tmp_path):
    folder = tmp_path / "echoes"
    for echo in (1, 2):
        for path in dicom_files(sample_data / "dicom_edge/mr4_anatomical"):
            ds = pydicom.dcmread(path)
            ds.EchoNumbers = echo
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            folder.mkdir(exist_ok=True)
            ds.save_as(folder / f"e{echo}_{path.name}")
    series = list_series(folder)
    assert [(s.slices, s.description.endswith("(echo 2)")) for s in series] == [
        (4, False),
        (4, True),
    ]
    assert load_volume(folder, series=1).shape == (4, 256, 256)
