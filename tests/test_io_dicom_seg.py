"""DICOM SEG reading and writing against real files (dcmqi's liver and overlap SEGs).

The placement check is independent of the reader's geometry code: both sample SEGs
have ImageOrientationPatient [1,0,0, 0,1,0] on 512 x 512 frames, so frame pixel
(row r, column c) at height z must land on canonical voxel (511 - c, 511 - r, k_z)
(LPS x/y run against RAS) where k_z is the CT slice at that z.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from tests.conftest import sample_path
from viewer.cli import main
from viewer.errors import GeometryError, SpleenScopeError
from viewer.io import load_volume
from viewer.io.dicom_seg import (
    is_dicom_seg,
    load_label_volumes,
    load_seg_for_volume,
    seg_label_colors,
)
from viewer.io.dicom_seg_writer import anonymous_header, save_mask_as_dicom_seg
from viewer.io.writers import save_mask
from viewer.overlays import load_mask_for_volume, totalsegmentator_names

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName")


@pytest.fixture(scope="module")
def ct3():
    return load_volume(sample_path("dicom_seg/ct-3slice"))


@pytest.fixture(scope="module")
def spleen_ct():
    return load_volume(sample_path("ct_spleen_dicom"))


def expected_segments(seg_path: Path, volume) -> dict[int, np.ndarray]:
    """Per-segment boolean volumes built straight from the frames (see module docstring)."""
    ds = pydicom.dcmread(seg_path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [
        1,
        0,
        0,
        0,
        1,
        0,
    ]
    slice_z = {round(float(volume.voxel_to_world([0, 0, k])[2]), 2): k for k in range(3)}
    segments: dict[int, np.ndarray] = {}
    for frame, group in zip(ds.pixel_array, ds.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        k = slice_z[round(float(group.PlanePositionSequence[0].ImagePositionPatient[2]), 2)]
        target = segments.setdefault(number, np.zeros(volume.shape, bool))
        target[:, :, k] |= (frame[::-1, ::-1] > 0).T
    return segments


def test_is_dicom_seg_tells_seg_from_images_and_other_files(tmp_path):
    assert is_dicom_seg(sample_path("dicom_seg/liver.dcm"))
    assert is_dicom_seg(sample_path("dicom_seg/partial_overlaps.dcm"))
    assert not is_dicom_seg(sample_path("dicom_seg/ct-3slice/01.dcm"))
    assert not is_dicom_seg(sample_path("ct_spleen_dicom_label.nii.gz"))
    (tmp_path / "notes.txt").write_text("not dicom")
    assert not is_dicom_seg(tmp_path / "notes.txt")
    assert not is_dicom_seg(tmp_path)


def test_load_volume_skips_a_seg_lying_beside_the_images(tmp_path, ct3):
    for path in sample_path("dicom_seg/ct-3slice").iterdir():
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(sample_path("dicom_seg/liver.dcm"), tmp_path / "liver.dcm")
    mixed = load_volume(tmp_path)
    assert mixed.shape == ct3.shape == (512, 512, 3)
    np.testing.assert_array_equal(mixed.array, ct3.array)


def test_liver_seg_lands_on_the_liver_with_the_frames_own_pixel_counts(ct3):
    path = sample_path("dicom_seg/liver.dcm")
    labels, names, notices = load_seg_for_volume(path, ct3)
    assert labels.dtype == np.uint8 and labels.shape == ct3.shape
    assert names == {1: "Liver"} and notices == []
    frame_counts = [int(f.sum()) for f in pydicom.dcmread(path).pixel_array]
    assert int(np.count_nonzero(labels == 1)) == sum(frame_counts) == 107_098
    np.testing.assert_array_equal(labels == 1, expected_segments(path, ct3)[1])
    liver = labels == 1
    assert 30 <= float(ct3.array[liver].mean()) <= 200  # liver parenchyma, HU
    assert float(ct3.voxel_to_world(np.argwhere(liver))[:, 0].mean()) > 0  # patient's right


def test_overlapping_segments_smallest_wins_and_overlap_is_counted(ct3):
    path = sample_path("dicom_seg/partial_overlaps.dcm")
    labels, names, notices = load_seg_for_volume(path, ct3)
    assert names == {1: "GREEN", 2: "ORANGE", 3: "PURPLE", 4: "LIGHT_BLUE", 5: "DARK_BLUE"}
    segments = expected_segments(path, ct3)
    claims = sum(s.astype(int) for s in segments.values())
    overlapping = int(np.count_nonzero(claims > 1))
    assert overlapping > 0
    assert len(notices) == 1 and f"{overlapping} voxels" in notices[0]
    np.testing.assert_array_equal(labels > 0, claims > 0)
    smallest_first = sorted(segments, key=lambda n: (segments[n].sum(), -n))
    expected = np.zeros(ct3.shape, np.uint8)
    for number in reversed(smallest_first):
        expected[segments[number]] = number
    np.testing.assert_array_equal(labels, expected)
    for number, mask in segments.items():  # a label only where its segment is
        assert np.all(mask[labels == number])


def test_seg_of_another_series_is_a_one_line_error(spleen_ct):
    with pytest.raises(GeometryError) as caught:
        load_seg_for_volume(sample_path("dicom_seg/liver.dcm"), spleen_ct)
    message = str(caught.value)
    assert "another series" in message and "\n" not in message


def highdicom_seg(path: Path, pixel_array: np.ndarray, segmentation_type: str, count: int) -> Path:
    """A SEG made by highdicom (not our writer) on the 3-slice CT, frames in z order."""
    folder = sample_path("dicom_seg/ct-3slice")
    sources = [anonymous_header(pydicom.dcmread(p)) for p in sorted(folder.iterdir())]
    sources.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=f"part {n}",
            segmented_property_category=hd.sr.CodedConcept(
                "91723000", "SCT", "Anatomical Structure"
            ),
            segmented_property_type=hd.sr.CodedConcept("78961009", "SCT", "Spleen"),
            algorithm_type="MANUAL",
        )
        for n in range(1, count + 1)
    ]
    hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel_array,
        segmentation_type=segmentation_type,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    ).save_as(path)
    return path


def test_fractional_seg_is_thresholded_at_half(tmp_path, ct3):
    probabilities = np.zeros((3, 512, 512), np.float32)
    probabilities[1, 100:200, 300:350] = 0.8  # in
    probabilities[1, 200:210, 300:350] = 0.3  # out
    path = highdicom_seg(tmp_path / "fractional.dcm", probabilities, "FRACTIONAL", 1)
    labels, names, notices = load_seg_for_volume(path, ct3)
    assert names == {1: "part 1"} and any("50%" in n for n in notices)
    assert int(np.count_nonzero(labels)) == 100 * 50
    # frame rows 100..199, columns 300..349 of the middle slice, in RAS voxel order
    assert labels[511 - 349 : 511 - 299, 511 - 199 : 511 - 99, 1].all()


def test_labelmap_seg_reads_pixel_values_as_segment_numbers(tmp_path, ct3):
    overlaps, _, _ = load_seg_for_volume(sample_path("dicom_seg/partial_overlaps.dcm"), ct3)
    frames = np.ascontiguousarray(np.transpose(ct3.to_source_grid(overlaps), (2, 1, 0)))
    path = highdicom_seg(tmp_path / "labelmap.dcm", frames, "LABELMAP", 5)
    assert is_dicom_seg(path)
    labels, names, notices = load_seg_for_volume(path, ct3)
    np.testing.assert_array_equal(labels, overlaps)
    assert names[5] == "part 5" and notices == []


def test_spleen_label_round_trips_through_seg_without_identifying_values(tmp_path, spleen_ct):
    """Write the sample label as SEG from a copy of the CT carrying made-up identifying
    values, read it back: identical mask, and none of those values in the file's bytes."""
    invented = {
        "PatientName": "Testperson^Jane",
        "PatientID": "PID-SPLEEN-4711",
        "PatientBirthDate": "19420817",
        "AccessionNumber": "ACC-7733199",
        "InstitutionName": "St. Example Hospital",
    }
    source = tmp_path / "ct"
    source.mkdir()
    original_values = set()
    for path in sample_path("ct_spleen_dicom").iterdir():
        ds = pydicom.dcmread(path)
        original_values |= {str(ds.get(k, "")) for k in IDENTIFYING} - {""}
        for keyword, value in invented.items():
            setattr(ds, keyword, value)
        ds.save_as(source / path.name)
    volume = load_volume(source)
    np.testing.assert_array_equal(volume.array, spleen_ct.array)
    mask, _ = load_mask_for_volume(sample_path("ct_spleen_dicom_label.nii.gz"), volume)
    out = tmp_path / "spleen_seg.dcm"
    notices = save_mask_as_dicom_seg(volume, mask, source, out, {1: "Spleen"})
    assert any("StudyInstanceUID" in n for n in notices)  # the sample's UIDs are empty

    labels, names, read_notices = load_seg_for_volume(out, volume)
    np.testing.assert_array_equal(labels, mask)
    assert int(np.count_nonzero(labels)) == 130_634 and names == {1: "Spleen"}
    assert read_notices == []

    written = out.read_bytes()
    for value in [*invented.values(), *original_values]:
        assert value.encode() not in written, "identifying value leaked into the SEG"
    seg = pydicom.dcmread(out)
    assert str(seg.PatientName) == "ANONYMOUS^" and seg.PatientID.startswith("SPLEENSCOPE-")
    assert seg.PatientBirthDate == "" and seg.AccessionNumber == ""
    assert "InstitutionName" not in seg
    assert seg.SegmentationType == "BINARY" and seg.Modality == "SEG"


def test_multi_label_organ_map_round_trips_with_its_label_values(tmp_path, spleen_ct):
    organs, _ = load_mask_for_volume(sample_path("ct_spleen_dicom_organs.nii.gz"), spleen_ct)
    names = totalsegmentator_names()
    out = tmp_path / "organs.dcm"
    save_mask_as_dicom_seg(spleen_ct, organs, sample_path("ct_spleen_dicom"), out, names)
    labels, read_names, notices = load_seg_for_volume(out, spleen_ct)
    np.testing.assert_array_equal(labels, organs)  # label 117 stays 117, gaps stay gaps
    assert read_names[1] == names[1] == "spleen" and read_names[5] == "liver"
    assert notices == []


def test_seg_written_for_the_3slice_ct_references_its_images(tmp_path, ct3):
    folder = sample_path("dicom_seg/ct-3slice")
    liver, _, _ = load_seg_for_volume(sample_path("dicom_seg/liver.dcm"), ct3)
    out = tmp_path / "liver_again.dcm"
    assert save_mask_as_dicom_seg(ct3, liver, folder, out, {1: "Liver"}, algorithm="test") == []
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in folder.iterdir()]
    seg = pydicom.dcmread(out)
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    (series,) = seg.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedInstanceSequence} == {
        s.SOPInstanceUID for s in sources
    }
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    # an independent reader agrees on every frame
    parsed = hd.seg.segread(out)
    assert int(parsed.pixel_array.sum()) == 107_098
    labels, names, _ = load_seg_for_volume(out, ct3)
    np.testing.assert_array_equal(labels, liver)
    written = out.read_bytes()
    for value in (sources[0].PatientName, sources[0].AccessionNumber):
        assert str(value) and str(value).encode() not in written


def test_writer_refuses_nifti_sources_and_folders_without_the_series(tmp_path, ct3, spleen_ct):
    mask = np.zeros(ct3.shape, np.uint8)
    with pytest.raises(SpleenScopeError, match="needs a DICOM source"):
        save_mask_as_dicom_seg(
            ct3, mask, sample_path("ct_spleen_dicom_label.nii.gz"), tmp_path / "x.dcm", {}
        )
    with pytest.raises(SpleenScopeError, match="holds no DICOM series"):
        save_mask_as_dicom_seg(ct3, mask, sample_path("ct_spleen_dicom"), tmp_path / "x.dcm", {})
    with pytest.raises(SpleenScopeError, match=r"\.dcm"):
        save_mask_as_dicom_seg(
            ct3, mask, sample_path("dicom_seg/ct-3slice"), tmp_path / "x.nii.gz", {}
        )
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_overlay_loading_and_evaluate_accept_a_seg(tmp_path, ct3, capsys):
    seg_path = sample_path("dicom_seg/liver.dcm")
    labels, notice = load_mask_for_volume(seg_path, ct3)
    assert int(labels.sum()) == 107_098 and notice == ""
    prediction = tmp_path / "pred.nii.gz"
    save_mask(ct3, labels, prediction)
    pred, ref = load_label_volumes(prediction, seg_path)
    np.testing.assert_array_equal(pred.array, ref.array)
    assert main(["evaluate", str(prediction), str(seg_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dice"] == pytest.approx(1.0)
    with pytest.raises(SpleenScopeError, match="no grid of its own"):
        load_label_volumes(seg_path, seg_path)


def test_segment_cli_writes_a_seg_equal_to_its_nifti_mask(tmp_path, ct3, capsys):
    from segmentation.registry import bundled_model_path

    if not bundled_model_path().is_file():
        pytest.skip("no bundled model")
    folder = str(sample_path("dicom_seg/ct-3slice"))
    common = ["--threads", "1", "--json"]
    assert main(["segment", folder, "-o", str(tmp_path / "m.nii.gz"), *common]) == 0
    assert main(["segment", folder, "-o", str(tmp_path / "m.dcm"), *common]) == 0
    capsys.readouterr()
    nifti, _ = load_mask_for_volume(tmp_path / "m.nii.gz", ct3)
    labels, names, _ = load_seg_for_volume(tmp_path / "m.dcm", ct3)
    assert nifti.any()
    np.testing.assert_array_equal(labels, nifti)
    assert names == {1: "Spleen"}
    nifti_input = str(sample_path("mr_abdomen.nii.gz"))
    assert main(["segment", nifti_input, "-o", str(tmp_path / "mr.dcm")]) == 2
    assert "needs a DICOM source" in capsys.readouterr().err


def test_segment_colours_come_from_the_seg(tmp_path):
    colors = seg_label_colors(sample_path("dicom_seg/partial_overlaps.dcm"))
    red, green, blue = colors[1]  # "GREEN"
    assert green > red and green > blue
    red, green, blue = colors[5]  # "DARK_BLUE"
    assert blue > red and blue > green
    assert seg_label_colors(sample_path("ct_spleen_dicom_label.nii.gz")) == {}
