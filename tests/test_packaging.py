"""A wheel built from a clean clone, installed without -e, works from any folder.

What a user of ``pip install .`` gets: the ``spleenscope`` command with its presets,
colour tables, style sheet and bundled model, none of them found through the
checkout. The wheel is built from a ``git clone`` of the committed tree (so a file
that is only in a working copy cannot make it pass), installed with ``--target``
into a folder of its own, and run from another folder with only that folder on
PYTHONPATH; the third-party dependencies come from the test's own environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, sample_path
from viewer.grid import same_grid
from viewer.io import load_volume

pytestmark = pytest.mark.timeout(240)

OUR_PACKAGES = ("viewer", "segmentation", "resources", "models")


def _run(command: list[str], cwd: Path, env: dict | None = None, timeout: float = 120):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({done.returncode}):\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """``{"site": DIR, "script": DIR/bin/spleenscope, "env": ..., "elsewhere": ...}``."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    root = tmp_path_factory.mktemp("packaging")
    clone, dist, site, elsewhere = (root / name for name in ("clone", "dist", "site", "elsewhere"))
    elsewhere.mkdir()
    _run(["git", "clone", "--quiet", "--no-local", str(REPO_ROOT), str(clone)], cwd=root)
    # No build isolation and no index: build with the setuptools already installed,
    # so the test needs no network.
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--no-index", "--wheel-dir", str(dist), str(clone)], cwd=root, timeout=180)
    wheels = sorted(dist.glob("spleenscope-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, found {wheels}"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
          "--target", str(site), str(wheels[0])], cwd=root, timeout=180)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPLEENSCOPE")}
    env.update(
        PYTHONPATH=str(site),
        SPLEENSCOPE_HOME=str(root / "home"),  # no user models or settings
        QT_QPA_PLATFORM="offscreen",
        SPLEENSCOPE_THREADS="2",
    )
    script = site / "bin" / "spleenscope"
    assert script.is_file(), "the wheel did not install the spleenscope command"
    return {"site": site, "script": script, "env": env, "elsewhere": elsewhere}


def test_wheel_holds_code_and_data_not_the_checkout(installed):
    site = installed["site"]
    probe = (
        "import json, importlib\n"
        "from viewer.package_data import resources_dir, bundled_models_dir\n"
        "from viewer.ui.app import style_sheet\n"
        "from segmentation.registry import BUNDLED_MODEL_NAMES, bundled_model_path\n"
        f"mods = {{n: importlib.import_module(n).__file__ for n in {OUR_PACKAGES!r}}}\n"
        "print(json.dumps({'modules': mods, 'resources': str(resources_dir()),\n"
        "    'models': str(bundled_models_dir()),\n"
        "    'bundled': {m: str(bundled_model_path(m)) for m in BUNDLED_MODEL_NAMES},\n"
        "    'style': style_sheet()}))\n"
    )
    done = _run([sys.executable, "-c", probe], cwd=installed["elsewhere"], env=installed["env"])
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for name, path in found["modules"].items():
        assert Path(path).is_relative_to(site), f"{name} came from {path}, not the install"
    assert Path(found["resources"]) == site / "resources"
    assert found["bundled"]["CT"] == str(site / "models" / "spleen_unet2d.pt")
    for modality, model in found["bundled"].items():  # every bundled model, with weights
        assert Path(model).parent == site / "models", f"{modality} model outside the install"
        assert Path(model).stat().st_size > 1_000_000, f"{modality} model has no weights"
    for name in ("window_presets.json", "colors.json", "label_names.json", "style.qss",
                 "check.svg", "icon.svg"):
        assert (site / "resources" / name).is_file(), f"resources/{name} missing from the wheel"
    for name in ("README.md", "spleen_unet2d.training.json"):
        assert (site / "models" / name).is_file(), f"models/{name} missing from the wheel"
    # The style sheet's images point into the installed package, and exist there.
    assert f"url({(site / 'resources').as_posix()}/check.svg)" in found["style"]



def test_wheel_states_both_licences_and_carries_their_texts(installed):
    """The MR weights inside the wheel are CC BY-NC-SA 4.0, not Apache-2.0 like the code:
    a user who installs the wheel must be able to see that and read both texts."""
    (dist_info,) = installed["site"].glob("spleenscope-*.dist-info")
    metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
    assert "License-Expression: Apache-2.0 AND CC-BY-NC-SA-4.0" in metadata
    licences = {path.name: path.read_text(encoding="utf-8") for path in
                (dist_info / "licenses").rglob("*") if path.is_file()}
    assert "Apache License" in licences["LICENSE"]
    assert "CC BY-NC-SA 4.0" in licences["LICENSE-MR-MODEL.txt"]
    assert "spleen_mr_unet2d.pt" in licences["LICENSE-MR-MODEL.txt"]

def test_installed_command_segments_the_sample_ct_from_another_folder(installed):
    ct = sample_path("ct_spleen_dicom")
    reference = sample_path("ct_spleen_dicom_label.nii.gz")
    out = installed["elsewhere"] / "ct_seg.nii.gz"
    _run([str(installed["script"]), "segment", str(ct), "-o", out.name, "--json"],
         cwd=installed["elsewhere"], env=installed["env"], timeout=180)
    # The mask is written on the DICOM's own grid (LPS rows); the reference is stored
    # LAS: compare them on the canonical grid both load to.
    mask, truth = load_volume(out), load_volume(reference)
    assert nib.load(out).shape == (512, 512, 20)
    assert same_grid(mask.affine, mask.shape, truth.affine, truth.shape)
    predicted = np.asarray(mask.array) > 0
    expected = np.asarray(truth.array) > 0
    dice = 2 * np.logical_and(predicted, expected).sum() / (predicted.sum() + expected.sum())
    assert dice >= 0.9, f"Dice {dice:.3f} of the installed bundled model on the sample CT"


def test_installed_command_takes_a_screenshot_from_another_folder(installed):
    ct = sample_path("ct_spleen_dicom")
    mask = sample_path("ct_spleen_dicom_label.nii.gz")
    shot = installed["elsewhere"] / "shot.png"
    _run([str(installed["script"]), "view", str(ct), "--mask", str(mask), "--preset", "abdomen",
          "--screenshot", shot.name, "--size", "800x600"],
         cwd=installed["elsewhere"], env=installed["env"], timeout=180)
    from PyQt5.QtGui import QImage

    image = QImage(str(shot))
    assert not image.isNull() and (image.width(), image.height()) == (800, 600)
    colours = {image.pixel(x, y) for x in range(0, 800, 7) for y in range(0, 600, 7)}
    assert len(colours) > 50, "the screenshot is nearly uniform: no image was drawn"
