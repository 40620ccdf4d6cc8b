"""``spleenscope survey``: one row per series or volume, odd cases flagged, no patient values.

The shared sample folder is surveyed as a user would: every DICOM series appears
with its modality, spacing and warnings, the gantry-tilt and not-a-volume series
are flagged, and a copy of the CT with a slice taken out is flagged for its missing
slice. The HTML report is opened in a real headless browser and its plots must
show. Planted patient values never reach the HTML, CSV or JSON.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image

from viewer.cli import main
from viewer.survey.outliers import robust_z

PLANTED = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-XYZ",
    "PatientBirthDate": "19450817",
    "StudyDate": "20230405",
    "AccessionNumber": "ACC99887766",
}


def survey_json(capsys, *argv) -> dict:
    assert main(["survey", "--json", *argv]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory, sample_data):
    """The sample CT twice: complete, and with slice 10 of 20 missing; patient values planted."""
    root = tmp_path_factory.mktemp("study")
    for name in ("complete", "gap"):
        shutil.copytree(sample_data / "ct_spleen_dicom", root / name)
    for path in sorted((root / "complete").iterdir()) + sorted((root / "gap").iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=False)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"  # the sample's own UID is empty
        ds.save_as(path)
    gap = sorted(
        (root / "gap").iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    gap[9].unlink()
    shutil.copy(sample_data / "mr_abdomen.nii.gz", root / "mr.nii.gz")
    return root


def test_survey_of_the_sample_folder_lists_and_flags_what_loading_would(capsys, sample_data):
    document = survey_json(capsys, str(sample_data))
    rows = {row["path"]: row for row in document["rows"]}
    ct = rows["ct_spleen_dicom"]
    assert ct["format"] == "DICOM" and ct["modality"] == "CT"
    assert ct["shape"] == [512, 512, 20] and ct["dtype"] == "int16"
    assert ct["spacing_mm"] == pytest.approx(
        [0.9766, 0.9766, 2.0], abs=1e-4
    )  # step, not 3 mm thickness
    assert ct["orientation"] == "LPS" and ct["warnings"] == []
    tilt = rows["dicom_edge/gantrytilting"]
    assert tilt["modality"] == "CT" and any(
        "gantry tilt of 14.0 degrees" in f for f in tilt["flags"]
    )
    assert any("same position" in f for f in rows["dicom_edge/notavolume"]["flags"])
    for variant in (
        "anatomical",
        "compressed_j2k",
        "compressed_jpeg",
        "compressed_jpegls",
        "compressed_rle",
    ):
        row = rows[f"dicom_edge/mr4_{variant}"]
        assert (
            row["modality"] == "MR"
            and row["shape"] == [256, 256, 4]
            and row["orientation"] == "PIR"
        )
    shear = rows["orientation/shear_sform_vs_qform.nii.gz"]
    assert any("sheared grid (gantry tilt) of 18.5 degrees" in f for f in shear["flags"])
    assert any("4D" in f for f in rows["orientation/oblique_4d.nii.gz"]["flags"])
    chaos = [p for p in rows if p.startswith("mr_spleen_chaos/imagesTr/")]
    assert len(chaos) == 12
    assert rows[chaos[0]]["spacing_mm"] == pytest.approx([1.25, 1.25, 7.7], abs=1e-3)
    summary = document["summary"]
    assert summary["series_and_volumes"] == len(document["rows"]) == 66
    assert summary["by_format"] == {"DICOM": 12, "NIfTI": 54}
    assert summary["skipped_non_image_dicom"] == 2  # the two DICOM SEG files
    assert summary["unreadable"] == []


def test_a_missing_slice_is_flagged_and_no_patient_value_is_written(capsys, study_folder, tmp_path):
    html_path, csv_path = tmp_path / "report.html", tmp_path / "table.csv"
    assert main(["survey", str(study_folder), "-o", str(html_path), "--csv", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    document = survey_json(capsys, str(study_folder), "--intensities")
    rows = {row["path"]: row for row in document["rows"]}
    assert rows["complete"]["missing_slices"] == 0 and rows["complete"]["flags"] == []
    gap = rows["gap"]
    assert gap["shape"] == [512, 512, 19] and gap["missing_slices"] == 1
    assert any(
        "1 missing slice(s): gaps up to 4 mm where the step is 2 mm" in f for f in gap["flags"]
    )
    assert gap["slice_step_mm"] == pytest.approx(2.0)
    # intensities of CT from sampled slices, in HU
    assert rows["complete"]["intensity_p1"] == pytest.approx(-1024, abs=1)
    assert 0 < rows["complete"]["intensity_p99"] < 2000
    assert rows["mr.nii.gz"]["intensity_p50"] is not None
    assert document["summary"]["dicom_studies"] == 1 and document["summary"]["dicom_patients"] == 1
    with open(csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert {r["path"] for r in table} == {"complete", "gap", "mr.nii.gz"}
    outputs = html_path.read_text() + csv_path.read_text() + json.dumps(document) + printed
    for value in PLANTED.values():
        for variant in {value, value.replace("^", " "), value.replace("^", ", ")}:
            assert variant not in outputs


def test_hide_paths_replaces_names(capsys, study_folder):
    document = survey_json(capsys, str(study_folder), "--hide-paths")
    assert [r["path"] for r in document["rows"]] == ["case 001", "case 002", "case 003"]


def test_the_html_report_opens_in_a_headless_browser_with_its_plots(sample_data, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; make system-packages)")
    report = tmp_path / "report.html"
    assert main(["survey", str(sample_data / "dicom_edge"), "-o", str(report)]) == 0
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 3  # spacing, shape, orientation
    assert "http://" not in text and "https://" not in text  # self-contained
    shot = tmp_path / "shot.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900",
        f"--screenshot={shot}", report.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # matplotlib's default blue (#1f77b4) fills the bars of the plots, and nothing else
    # on the page has that colour: if the embedded PNGs failed to decode, it is absent.
    blue = np.all(np.abs(pixels - [31, 119, 180]) <= 12, axis=-1)
    assert blue.sum() > 2000, f"only {int(blue.sum())} plot-blue pixels on the page"


def test_robust_z_flags_the_odd_value_and_not_the_rest():
    scores = robust_z(np.array([2.0, 2.0, 2.1, 1.9, 2.0, 7.7]))
    assert abs(scores[-1]) > 3.5 and np.all(np.abs(scores[:-1]) < 3.5)
    assert np.all(robust_z(np.full(5, 3.0)) == 0)


def test_bad_survey_requests_give_one_line_and_write_nothing(capfd, study_folder, tmp_path):
    cases = [
        (["survey", str(tmp_path / "nope")], "no such folder"),
        (
            ["survey", str(study_folder), "-o", str(study_folder / "r.html")],
            "inside the surveyed folder",
        ),
        (["survey", str(study_folder), "-o", str(tmp_path / "r.pdf")], "must end in .html"),
    ]
    (tmp_path / "taken.csv").write_text("keep me")
    cases.append(
        (["survey", str(study_folder), "--csv", str(tmp_path / "taken.csv")], "already exists")
    )
    for argv, expected in cases:
        assert main(argv) == 2
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    assert (tmp_path / "taken.csv").read_text() == "keep me"
    assert not (study_folder / "r.html").exists() and not (tmp_path / "r.pdf").exists()


def test_every_volume_format_is_one_row_and_companion_files_are_not(capsys, sample_data, tmp_path):
    import nibabel as nib

    folder = tmp_path / "formats"
    folder.mkdir()
    source = sample_data / "mr_abdomen.nii.gz"
    for name in ("mr.mhd", "mr.nrrd"):
        assert main(["convert", str(source), str(folder / name)]) == 0
    image = nib.load(source)
    nib.save(nib.MGHImage(np.asanyarray(image.dataobj), image.affine), folder / "mr.mgz")
    nib.save(nib.Spm2AnalyzeImage(np.zeros((8, 8, 8), np.int16), np.diag([-2.0, 2, 2, 1])),
             folder / "pair.hdr")  # fmt: skip
    nib.save(nib.Spm2AnalyzeImage(np.zeros((8, 8, 8), np.int16), np.diag([-2.0, 2, 2, 1])),
             folder / "lonely.hdr")  # fmt: skip
    (folder / "lonely.hdr").unlink()  # its .img stays behind
    capsys.readouterr()
    document = survey_json(capsys, str(folder))
    rows = {row["path"]: row for row in document["rows"]}
    assert {p: r["format"] for p, r in rows.items()} == {
        "mr.mhd": "MetaImage", "mr.nrrd": "NRRD", "mr.mgz": "MGH", "pair.hdr": "Analyze",
    }  # fmt: skip
    for name in ("mr.mhd", "mr.nrrd", "mr.mgz"):
        assert rows[name]["shape"] == [117, 91, 20] and rows[name]["dtype"] == "int16"
        assert rows[name]["spacing_mm"] == pytest.approx([3.0, 3.0, 3.0])
    assert rows["pair.hdr"]["orientation"] == "LAS" and rows["pair.hdr"]["shape"] == [8, 8, 8]
    unreadable = document["summary"]["unreadable"]
    assert len(unreadable) == 1 and unreadable[0].startswith("lonely.img: ")
    assert "without its header lonely.hdr" in unreadable[0]


def test_worker_processes_give_the_same_rows(sample_data, monkeypatch):
    from viewer.survey import collect

    monkeypatch.setattr(collect, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(collect, "CHUNK_FILES", 5)
    one = collect.survey_folder(sample_data / "dicom_edge", show_bar=False, workers=1)
    two = collect.survey_folder(sample_data / "dicom_edge", show_bar=False, workers=2)
    assert [r.to_dict() for r in one.rows] == [r.to_dict() for r in two.rows]
    assert one.summary() == two.summary()


def test_series_templates_give_the_records_the_reader_gives(sample_data):
    """The shortcut for slices 2..n of a series must not change a single record."""
    from viewer.io.dicom_records import records_from_dataset
    from viewer.survey.collect import SeriesTemplates, read_survey_header, walk

    templates = SeriesTemplates()
    files = walk(sample_data / "ct_spleen_dicom") + walk(sample_data / "dicom_edge")
    shortcuts = 0
    for path in files:
        ds = read_survey_header(path)
        if ds is None or "Rows" not in ds:
            continue
        direct = records_from_dataset(read_survey_header(path), path)
        kind, payload = templates.examine(ds, path)
        assert kind == "slices"
        records, _ = payload
        assert records == direct and [r.extra for r in records] == [r.extra for r in direct]
        shortcuts += SeriesTemplates.key(ds) in templates._known
    assert shortcuts > 20  # the CT's slices after the first took the shortcut


def test_two_series_in_one_folder_are_two_labelled_rows(capsys, sample_data, tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(sample_data / "dicom_edge" / "mr4_anatomical", mixed)
    for path in (sample_data / "dicom_edge" / "gantrytilting").iterdir():
        shutil.copy(path, mixed / f"ct_{path.name}")
    rows = survey_json(capsys, str(tmp_path))["rows"]
    assert [(r["path"], r["modality"], r["shape"]) for r in rows] == [
        ("mixed (series 1 of 2)", "CT", [512, 512, 4]),
        ("mixed (series 2 of 2)", "MR", [256, 256, 4]),
    ]
