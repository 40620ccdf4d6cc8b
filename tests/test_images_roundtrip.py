"""``export-images`` / ``import-images``: slices as PNG and back, exactly, on the right grid.

The sample DICOM CT and its spleen mask go out as PNG slices and come back with the
same voxels and affine; a mask layer edited outside (pixels changed in one PNG)
comes back on the slice and voxels it was drawn on, and as a DICOM SEG on the source
series; nothing patient-identifying reaches the exported files; a hand-edited
manifest, a missing or resized PNG give one line, exit 2 and no output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from viewer.cli import main
from viewer.io import load_volume
from viewer.volume import to_canonical

PLANTED = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-XYZ",
    "PatientBirthDate": "19450817",
    "AccessionNumber": "ACC99887766",
    "InstitutionName": "Saint Example Hospital",
    "SeriesDescription": "Jane Doe abdomen",
}


@pytest.fixture(scope="module")
def ct_export(tmp_path_factory, sample_data) -> dict:
    """The sample CT (with planted patient values) exported with its spleen mask."""
    root = tmp_path_factory.mktemp("export")
    ct = root / "PID-4711-XYZ_Doe"
    shutil.copytree(sample_data / "ct_spleen_dicom", ct)
    for path in sorted(ct.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    label = sample_data / "ct_spleen_dicom_label.nii.gz"
    out = root / "slices"
    assert main(["export-images", str(ct), str(out), "--mask", str(label)]) == 0
    return {"ct": ct, "label": label, "out": out, "root": root}


def canonical_label(path: Path) -> np.ndarray:
    image = nib.load(path)
    return to_canonical(np.asanyarray(image.dataobj), image.affine)[0]


def test_export_writes_the_promised_files_without_identifiers(ct_export):
    out = ct_export["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shape"] == [512, 512, 20] and manifest["slice_count"] == 20
    assert manifest["spacing"] == pytest.approx([0.9765625, 0.9765625, 2.0])
    assert manifest["stored"]["exact"] is True and manifest["modality"] == "CT"
    assert manifest["layers"][0]["name"] == "mask_1" and manifest["layers"][0]["labels"] == [1]
    # slice positions step 2 mm along z (the slice spacing from ImagePositionPatient)
    z = [p[2] for p in manifest["slice_positions_mm"]]
    assert np.allclose(np.diff(z), 2.0)
    for folder, mode in (("image8", "L"), ("image16", "I;16"), ("mask_1", "L")):
        files = sorted((out / folder).iterdir())
        assert [f.name for f in files] == [f"slice_{k:04d}.png" for k in range(1, 21)]
        with Image.open(files[0]) as image:
            assert image.mode == mode and image.size == (512, 512)
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    names = " ".join(str(p.relative_to(out)) for p in out.rglob("*"))
    for value in PLANTED.values():
        for variant in {value, value.replace("^", " ")}:
            assert variant.encode() not in everything
            assert variant not in names


def test_volume_and_mask_come_back_exactly(ct_export, tmp_path):
    original = load_volume(ct_export["ct"])
    volume_out = tmp_path / "ct.nii.gz"
    assert main(["import-images", str(ct_export["out"]), str(volume_out)]) == 0
    back = load_volume(volume_out)
    assert back.array.dtype == original.array.dtype
    assert np.array_equal(back.array, original.array)
    assert np.allclose(back.affine, original.affine, atol=1e-6)
    label = canonical_label(ct_export["label"])
    for suffix in (".nii.gz", ".nrrd"):
        mask_out = tmp_path / f"spleen{suffix}"
        assert (
            main(["import-images", str(ct_export["out"]), str(mask_out), "--layer", "mask_1"]) == 0
        )
        mask = load_volume(mask_out)
        assert np.array_equal(mask.array, label)
        assert np.allclose(mask.affine, original.affine, atol=1e-6)
        assert int(np.count_nonzero(mask.array)) == 130_634


def test_a_layer_edited_outside_comes_back_on_its_slice_and_as_dicom_seg(ct_export, tmp_path):
    from viewer.io.dicom_seg import load_seg_for_volume

    edited = tmp_path / "edited"
    shutil.copytree(ct_export["out"], edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    # An annotation tool re-saves slice 7 as RGB with a 10 x 20 block painted label 2.
    png = edited / "mask_1" / "slice_0007.png"
    pixels = np.asarray(Image.open(png)).copy()
    pixels[100:110, 300:320] = 2
    Image.fromarray(np.stack([pixels] * 3, axis=-1)).save(png)
    out = tmp_path / "edited.nii.gz"
    assert main(["import-images", str(edited), str(out), "--layer", "mask_1"]) == 0
    mask = load_volume(out).array
    label = canonical_label(ct_export["label"])
    changed = np.argwhere(mask != label)
    assert len(changed) == 200 and set(changed[:, 2]) == {6}  # slice 7, 0-based 6
    assert np.all(mask[mask != label] == 2)
    # the changed voxels lie where the manifest places those pixels in the world
    to_world = np.asarray(manifest["affine"]) @ np.asarray(manifest["pixel_to_voxel"])
    columns, rows = np.meshgrid(np.arange(300, 320), np.arange(100, 110))
    pixel_points = np.stack([columns.ravel(), rows.ravel(), np.full(200, 6), np.ones(200)])
    expected_world = (to_world @ pixel_points)[:3].T
    volume = load_volume(ct_export["ct"])
    changed_world = volume.voxel_to_world(changed)

    def as_set(points):
        return {tuple(np.round(p, 3)) for p in points}

    assert as_set(changed_world) == as_set(expected_world)
    # the same layer as a DICOM SEG that references the source series
    seg = tmp_path / "edited_seg.dcm"
    argv = [
        "import-images",
        str(edited),
        str(seg),
        "--layer",
        "mask_1",
        "--source",
        str(ct_export["ct"]),
    ]
    assert main(argv) == 0
    labels, names, _ = load_seg_for_volume(seg, volume)
    assert np.array_equal(labels, mask)
    header = pydicom.dcmread(seg, stop_before_pixels=True)
    assert str(header.PatientName) != PLANTED["PatientName"]


def test_coronal_export_of_a_nifti_round_trips(sample_data, tmp_path):
    source = sample_data / "mr_abdomen.nii.gz"
    labels = sample_data / "mr_abdomen_organs.nii.gz"
    out = tmp_path / "coronal"
    assert (
        main(["export-images", str(source), str(out), "--axis", "coronal", "--mask", str(labels)])
        == 0
    )
    assert len(list((out / "image16").iterdir())) == 91  # 117 x 91 x 20: y has 91 slices
    original = load_volume(source)
    assert main(["import-images", str(out), str(tmp_path / "mr.nrrd")]) == 0
    back = load_volume(tmp_path / "mr.nrrd")
    assert np.array_equal(back.array, original.array)
    assert np.allclose(back.affine, original.affine, atol=1e-6)
    assert (
        main(["import-images", str(out), str(tmp_path / "organs.nii.gz"), "--layer", "mask_1"]) == 0
    )
    written = nib.load(tmp_path / "organs.nii.gz")  # on the source grid, as the label file is
    reference = nib.load(labels)
    assert np.array_equal(np.asanyarray(written.dataobj), np.asanyarray(reference.dataobj))
    assert np.allclose(written.affine, reference.affine, atol=1e-4)


def _one_error_line(capfd) -> str:
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("spleenscope: error: ")
    return lines[0]


def test_bad_exports_give_one_line_and_write_nothing(ct_export, tmp_path, capfd):
    cases = {}
    edited = tmp_path / "edited_manifest"
    shutil.copytree(ct_export["out"], edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["affine"][2][3] += 10.0  # "fix" the slice origin by hand
    (edited / "manifest.json").write_text(json.dumps(manifest))
    cases["checksum"] = edited
    broken = tmp_path / "broken_json"
    shutil.copytree(ct_export["out"], broken)
    (broken / "manifest.json").write_text((broken / "manifest.json").read_text()[:-40])
    cases["valid JSON"] = broken
    missing = tmp_path / "missing_png"
    shutil.copytree(ct_export["out"], missing)
    (missing / "image16" / "slice_0005.png").unlink()
    cases["slice_0005.png: missing"] = missing
    resized = tmp_path / "resized_png"
    shutil.copytree(ct_export["out"], resized)
    Image.open(resized / "image16" / "slice_0003.png").resize((256, 256)).save(
        resized / "image16" / "slice_0003.png"
    )
    cases["256 x 256 pixels"] = resized
    capfd.readouterr()
    for expected, folder in cases.items():
        out = tmp_path / f"{folder.name}.nii.gz"
        assert main(["import-images", str(folder), str(out)]) == 2, expected
        assert expected in _one_error_line(capfd)
        assert not out.exists()
    # an unknown layer, a DICOM SEG without --source, an export into a non-empty folder
    assert (
        main(
            [
                "import-images",
                str(ct_export["out"]),
                str(tmp_path / "x.nii.gz"),
                "--layer",
                "mask_9",
            ]
        )
        == 2
    )
    assert "mask_9" in _one_error_line(capfd)
    assert (
        main(["import-images", str(ct_export["out"]), str(tmp_path / "x.dcm"), "--layer", "mask_1"])
        == 2
    )
    assert "--source" in _one_error_line(capfd)
    assert main(["export-images", str(ct_export["ct"]), str(missing)]) == 2
    assert "not an empty folder" in _one_error_line(capfd)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == []


def test_values_16_bits_cannot_hold_are_reported_not_passed_off_as_exact(tmp_path, capfd):
    from viewer.image_export.export import stored_encoding

    grid = (np.arange(1000, dtype=np.float32) * np.float32(0.25) - 3).reshape(10, 10, 10)
    assert stored_encoding(grid).exact  # quarter steps: exact with slope 0.25
    rng = np.random.default_rng(0)
    noisy = rng.normal(0, 1000, (20, 20, 20)).astype(np.float32)
    encoding = stored_encoding(noisy)
    assert not encoding.exact and 0 < encoding.max_abs_error <= encoding.slope / 2 * 1.001
    source = tmp_path / "noisy.nii.gz"
    nib.save(nib.Nifti1Image(noisy, np.eye(4)), source)
    capfd.readouterr()
    assert main(["export-images", str(source), str(tmp_path / "out")]) == 0
    assert "within" in capfd.readouterr().err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stored"]["exact"] is False
    assert main(["import-images", str(tmp_path / "out"), str(tmp_path / "back.nii.gz")]) == 0
    assert "within" in capfd.readouterr().err
    back = load_volume(tmp_path / "back.nii.gz").array
    assert np.abs(back - load_volume(source).array).max() <= manifest["stored"]["max_abs_error"]
