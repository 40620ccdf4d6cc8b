"""``spleenscope segment``: Dice on the real CT, masks on the input's exact grid, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from segmentation.metrics import dice_iou
from segmentation.registry import bundled_model_path
from tests.seg_support import REPO, require_sample
from viewer.cli import main
from viewer.io import load_volume
from viewer.phantom import make_phantom

pytestmark = pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model")


def test_segment_sample_ct_reaches_dice_090(tmp_path):
    """The bundled model, run by the real command, against the sample CT's label."""
    series = require_sample("ct_spleen_dicom")
    label_path = require_sample("ct_spleen_dicom_label.nii.gz")
    out = tmp_path / "mask.nii.gz"
    uncertainty = tmp_path / "uncertainty.nii.gz"
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "segment", str(series), "-o", str(out),
         "--json", "--device", "cpu", "--threads", "2", "--uncertainty", str(uncertainty)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for key in ("volume_ml", "voxels", "device", "seconds", "slices", "model"):
        assert key in report
    # The trust contract: modality of the input and of the model, a range, a verdict.
    assert report["modality"] == report["model_modality"] == "CT"
    low, high = report["volume_ml_range"]
    assert low < report["volume_ml"] < high
    assert report["quality"]["verdict"] == "ok" and report["quality"]["reasons"] == []
    assert report["quality"]["uncertain_slices"] == []
    assert "quality: ok" in done.stderr
    # The uncertainty map lies on the input's grid, 0..1, highest at the spleen's rim.
    u = nib.load(uncertainty)
    assert u.shape == (512, 512, 20) and np.allclose(u.affine, nib.load(out).affine)
    values = np.asarray(u.dataobj)
    assert 0.0 <= values.min() and values.max() <= 1.0 and values.max() > 0.9
    assert report["slices"] == 20
    mask = load_volume(out)
    label = load_volume(label_path)
    assert mask.shape == label.shape and np.allclose(mask.affine, label.affine, atol=1e-4)
    dice, _ = dice_iou(mask.array > 0, label.array > 0)
    assert dice >= 0.9, dice
    assert report["voxels"] == int(np.count_nonzero(mask.array))
    assert report["volume_ml"] == pytest.approx(report["voxels"] * 0.9765625**2 * 2 / 1000, 1e-3)
    # Written on the DICOM series' own grid (columns, rows, slices in acquisition order).
    assert nib.load(out).shape == (512, 512, 20)


def test_mask_of_a_non_canonical_nifti_is_on_its_exact_grid(tmp_path, capsys):
    phantom = make_phantom(spacing=(3.0, 2.5, 4.0), field_of_view_mm=(330, 260, 120), axcodes="PIL")
    source = tmp_path / "phantom_pil.nii.gz"
    nib.save(phantom.image, source)
    out = tmp_path / "mask.nii.gz"
    probabilities = tmp_path / "prob.nii.gz"
    code = main(
        [
            "segment",
            str(source),
            "-o",
            str(out),
            "--probabilities",
            str(probabilities),
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    written = nib.load(out)
    assert written.shape == phantom.image.shape
    assert np.allclose(written.affine, phantom.image.affine)
    assert written.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(written.dataobj)).tolist()) <= {0, 1}
    assert int(np.count_nonzero(np.asarray(written.dataobj))) == report["voxels"]
    prob = nib.load(probabilities)
    assert prob.shape == phantom.image.shape and np.allclose(prob.affine, phantom.image.affine)
    assert prob.get_data_dtype() == np.float32


def test_never_overwrites_the_input(tmp_path, capsys):
    phantom = make_phantom(spacing=(4.0, 4.0, 4.0), field_of_view_mm=(200, 160, 80))
    source = tmp_path / "case.nii.gz"
    nib.save(phantom.image, source)
    before = source.read_bytes()
    assert main(["segment", str(source), "-o", str(source)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "input" in error
    assert source.read_bytes() == before


def test_corrupt_model_file_exits_2_with_one_line(tmp_path):
    phantom = make_phantom(spacing=(4.0, 4.0, 4.0), field_of_view_mm=(200, 160, 80))
    source = tmp_path / "case.nii.gz"
    nib.save(phantom.image, source)
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(bundled_model_path().read_bytes()[:5000])
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "segment", str(source), "-o",
         str(tmp_path / "m.nii.gz"), "--model", str(corrupt)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.pt" in lines[0] and "model" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "m.nii.gz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required"),
        (["IN", "-o", "mask.txt"], "must end in .nii, .nii.gz or .dcm"),
        (["IN", "-o", "m.nii.gz", "--probabilities", "p.npy"], "probability map must end"),
        (["IN", "-o", "m.nii.gz", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["IN", "-o", "m.nii.gz", "--axis", "oblique"], "invalid choice"),
    ],
)
def test_bad_command_lines_are_one_line_exit_2(tmp_path, args, message):
    phantom = make_phantom(spacing=(4.0, 4.0, 4.0), field_of_view_mm=(200, 160, 80))
    source = tmp_path / "case.nii.gz"
    nib.save(phantom.image, source)
    args = [str(source) if a == "IN" else str(tmp_path / a) if "." in a else a for a in args]
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "segment", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
