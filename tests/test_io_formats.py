"""MetaImage, NRRD, Analyze, NIfTI pairs, MINC and MGH: same voxels and affine as the NIfTI.

The files are written by the format's own library (SimpleITK, nibabel), not by
SpleenScope, so a reader bug cannot hide behind a matching writer bug. nibabel's
own shipped test data (MINC 1 and 2, MGH, an Analyze header) must open with the
affines nibabel gives them. Bad input gives one line on stderr, exit 2, and no output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from viewer.cli import main
from viewer.io import load_volume
from viewer.io.nibabel_formats import read_nibabel_header
from viewer.volume import to_canonical

sitk = pytest.importorskip("SimpleITK")

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
ITK_SUFFIXES = (".mhd", ".mha", ".nrrd", ".nhdr")


@pytest.fixture(scope="module")
def references(tmp_path_factory, sample_data) -> dict[str, Path]:
    """The sample CT (DICOM, converted once to NIfTI) and MR as NIfTI files."""
    folder = tmp_path_factory.mktemp("references")
    ct = folder / "ct.nii.gz"
    assert main(["convert", str(sample_data / "ct_spleen_dicom"), str(ct)]) == 0
    return {"ct": ct, "mr": sample_data / "mr_abdomen.nii.gz"}


def assert_same_volume(volume, reference, atol=1e-4, same_source_grid=True):
    assert volume.shape == reference.shape
    assert volume.array.dtype == reference.array.dtype
    assert np.array_equal(volume.array, reference.array)
    assert np.allclose(volume.affine, reference.affine, atol=atol)
    if same_source_grid:
        assert np.allclose(volume.source_affine, reference.source_affine, atol=atol)


@pytest.mark.parametrize("case", ["ct", "mr"])
@pytest.mark.parametrize("suffix", ITK_SUFFIXES)
def test_itk_formats_written_by_simpleitk_match_the_nifti(references, tmp_path, case, suffix):
    reference = load_volume(references[case])
    target = tmp_path / f"{case}{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(references[case])), str(target), suffix != ".mhd")
    volume = load_volume(target)
    assert_same_volume(volume, reference)
    # and against SimpleITK's own reading of the same file: array and LPS geometry
    image = sitk.ReadImage(str(target))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction * np.asarray(image.GetSpacing())
    affine_lps[:3, 3] = image.GetOrigin()
    affine_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps
    canonical, canonical_affine = to_canonical(sitk.GetArrayFromImage(image).T, affine_ras)
    assert np.array_equal(volume.array, canonical)
    assert np.allclose(volume.affine, canonical_affine, atol=1e-6)


@pytest.mark.parametrize("case", ["ct", "mr"])
def test_analyze_and_mgz_written_by_nibabel_match_the_nifti(references, tmp_path, case):
    reference = load_volume(references[case])
    image = nib.load(references[case])
    data = np.asanyarray(image.dataobj)
    # Analyze stores only voxel sizes and an origin, with x toward the left (LAS):
    # give it the data in that orientation, as any converter would.
    las = nib.orientations.axcodes2ornt(("L", "A", "S"))
    transform = nib.orientations.ornt_transform(nib.io_orientation(image.affine), las)
    las_data = nib.orientations.apply_orientation(data, transform)
    las_affine = image.affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    analyze = tmp_path / f"{case}.hdr"
    nib.save(nib.Spm2AnalyzeImage(las_data, las_affine), analyze)
    assert (tmp_path / f"{case}.img").is_file()
    for opened in (analyze, tmp_path / f"{case}.img"):  # either file of the pair opens it
        assert_same_volume(load_volume(opened), reference, same_source_grid=False)
    mgz = tmp_path / f"{case}.mgz"
    nib.save(nib.MGHImage(data, image.affine), mgz)
    assert_same_volume(load_volume(mgz), reference)


def test_a_nifti_pair_and_a_nifti_named_img_are_told_apart_by_content(references, tmp_path):
    reference = load_volume(references["mr"])
    image = nib.load(references["mr"])
    nib.save(nib.Nifti1Pair(np.asanyarray(image.dataobj), image.affine), tmp_path / "pair.hdr")
    assert_same_volume(load_volume(tmp_path / "pair.img"), reference)
    nib.save(nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine), tmp_path / "single.nii")
    (tmp_path / "single.nii").rename(tmp_path / "single.img")
    assert_same_volume(load_volume(tmp_path / "single.img"), reference)


@pytest.mark.parametrize(
    "name",
    ["tiny.mnc", "small.mnc", "minc1_1_scale.mnc", "minc1_4d.mnc", "minc2_1_scale.mnc",
     "minc2_4d.mnc", "minc2-4d-d.mnc", "test.mgz"],
)  # fmt: skip
def test_nibabel_shipped_data_opens_with_nibabels_affine(name):
    path = NIBABEL_DATA / name
    if not path.is_file():
        pytest.skip(f"nibabel does not ship {name} in this version")
    image = nib.load(path)
    data = np.asanyarray(image.dataobj)
    if name.startswith("minc") and data.ndim == 4:
        data = data[0]  # MINC stores time first; the affine covers the spatial axes
    if data.ndim == 4:
        data = data[..., 0]
    canonical, canonical_affine = to_canonical(data, image.affine)
    volume = load_volume(path)
    assert np.allclose(volume.array, canonical)
    assert np.allclose(volume.affine, canonical_affine)
    assert np.allclose(volume.source_affine, image.affine)
    if data.ndim == 3 and np.asanyarray(image.dataobj).ndim == 4:
        assert any("4D input" in w for w in volume.warnings)


def test_nibabel_shipped_analyze_header_gives_nibabels_affine_and_wants_its_img(tmp_path, capfd):
    shipped = NIBABEL_DATA / "analyze.hdr"
    if not shipped.is_file():
        pytest.skip("nibabel does not ship analyze.hdr in this version")
    header = tmp_path / "analyze.hdr"
    shutil.copy(shipped, header)  # nibabel ships the header alone: give it an image file
    expected = nib.load(shipped)
    nbytes = int(np.prod(expected.shape)) * expected.get_data_dtype().itemsize
    (tmp_path / "analyze.img").write_bytes(bytes(nbytes))
    assert np.allclose(read_nibabel_header(header).affine_ras, expected.affine)
    assert np.allclose(load_volume(header).source_affine, expected.affine)
    (tmp_path / "analyze.img").unlink()
    assert main(["info", str(header)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without its image file analyze.img" in err[0]


def test_convert_writes_nrrd_and_metaimage_and_masks_save_as_nrrd(sample_data, tmp_path, capsys):
    from viewer.io.writers import save_mask

    source = sample_data / "ct_spleen_dicom"
    volume = load_volume(source)
    for suffix in (".nrrd", ".mhd"):  # one attached and one detached format by the CLI
        out = tmp_path / f"ct{suffix}"
        assert main(["convert", str(source), str(out)]) == 0
        # written on the canonical grid, as convert always does
        assert_same_volume(load_volume(out), volume, atol=1e-6, same_source_grid=False)
    assert main(["convert", str(source), str(tmp_path / "ct.nrrd")]) == 2  # never overwrites
    label_path = sample_data / "ct_spleen_dicom_label.nii.gz"
    label = nib.load(label_path)
    canonical_mask, _ = to_canonical(np.asanyarray(label.dataobj), label.affine)
    written = save_mask(volume, canonical_mask, tmp_path / "spleen.seg.nrrd")
    image = sitk.ReadImage(str(written))
    assert image.GetPixelID() == sitk.sitkUInt8
    # on the DICOM source grid (columns, rows, slices), as Slicer expects it
    source_mask = volume.to_source_grid(canonical_mask)
    assert np.array_equal(sitk.GetArrayFromImage(image).T, source_mask)
    back = load_volume(written)
    assert np.array_equal(back.array, canonical_mask)
    assert np.allclose(back.affine, volume.affine, atol=1e-6)
    assert int(np.count_nonzero(back.array)) == 130_634


def _bad_cases(tmp_path: Path, references) -> dict[str, Path]:
    image = sitk.ReadImage(str(references["mr"]))
    cases = {}
    # a .raw cut short
    sitk.WriteImage(image, str(tmp_path / "short.mhd"))
    raw = tmp_path / "short.raw"
    raw.write_bytes(raw.read_bytes()[:1000])
    cases["truncated raw"] = tmp_path / "short.mhd"
    # a header that declares more voxels than its data file holds
    sitk.WriteImage(image, str(tmp_path / "big.nhdr"))
    text = (tmp_path / "big.nhdr").read_text()
    (tmp_path / "big.nhdr").write_text(text.replace("sizes: 117 91 20", "sizes: 117 91 40"))
    cases["size mismatch"] = tmp_path / "big.nhdr"
    # an attached .mha cut short
    sitk.WriteImage(image, str(tmp_path / "cut.mha"))
    data = (tmp_path / "cut.mha").read_bytes()
    (tmp_path / "cut.mha").write_bytes(data[: len(data) // 2])
    cases["truncated mha"] = tmp_path / "cut.mha"
    # a header whose data file is gone
    sitk.WriteImage(image, str(tmp_path / "lost.mhd"))
    (tmp_path / "lost.raw").unlink()
    cases["missing raw"] = tmp_path / "lost.mhd"
    # an .img without its .hdr
    nib.save(nib.Spm2AnalyzeImage(np.zeros((4, 4, 4), np.int16), np.diag([-1, 1, 1, 1.0])),
             tmp_path / "alone.hdr")  # fmt: skip
    (tmp_path / "alone.hdr").unlink()
    cases["img without hdr"] = tmp_path / "alone.img"
    # an Analyze pair whose .img was cut short
    nib.save(nib.Spm2AnalyzeImage(np.ones((40, 40, 40), np.int16), np.diag([-1, 1, 1, 1.0])),
             tmp_path / "short_pair.hdr")  # fmt: skip
    image_file = tmp_path / "short_pair.img"
    image_file.write_bytes(image_file.read_bytes()[:5000])
    cases["truncated img"] = tmp_path / "short_pair.hdr"
    # a truncated .mgz
    nib.save(nib.MGHImage(np.arange(4000, dtype=np.float32).reshape(20, 20, 10), np.eye(4)),
             tmp_path / "cut.mgz")  # fmt: skip
    data = (tmp_path / "cut.mgz").read_bytes()
    (tmp_path / "cut.mgz").write_bytes(data[: len(data) // 2])
    cases["truncated mgz"] = tmp_path / "cut.mgz"
    return cases


EXPECTED_WORDS = {
    "truncated raw": "truncated",
    "size mismatch": "truncated",
    "truncated mha": "truncated",
    "missing raw": "missing",
    "img without hdr": "alone.hdr",
    "truncated img": "short_pair.img holds 5,000 of the 128,000 bytes",
    "truncated mgz": "cut.mgz",
}


def test_bad_input_gives_one_line_exit_2_and_writes_nothing(references, tmp_path, capfd):
    cases = _bad_cases(tmp_path / "in", references) if (tmp_path / "in").mkdir() is None else {}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    capfd.readouterr()  # what writing the bad files printed is not under test
    for label, path in cases.items():
        output = out_dir / f"{path.stem}.nii.gz"
        assert main(["convert", str(path), str(output)]) == 2, label
        captured = capfd.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (label, captured.err)  # ITK must not print its own errors
        assert lines[0].startswith("spleenscope: error: " + path.name), (label, lines)
        assert EXPECTED_WORDS[label] in lines[0], (label, lines)
        assert captured.out == ""
    assert list(out_dir.iterdir()) == []
