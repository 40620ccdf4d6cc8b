"""``spleenscope models``: list, import, activate; a worse model needs ``--yes``.

The worse model is the bundled CT model with its output layer biased so far that it
calls much of the abdomen spleen (a badly trained model once reported 1252 mL for a
250 mL spleen): a real model file, scored by the real pipeline on the real sample CT.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from segmentation import registry
from segmentation.model_file import load_model, save_model
from tests.seg_support import require_sample
from viewer.cli import main


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPLEENSCOPE_THREADS", "2")
    require_sample("ct_spleen_dicom")
    if not registry.bundled_model_path().is_file():
        pytest.skip("no bundled model")


@pytest.fixture
def worse_model(tmp_path):
    bundled = load_model(registry.bundled_model_path())
    with torch.no_grad():
        bundled.network.head.bias.add_(12.0)
    metadata = dict(bundled.metadata, name="overeager CT model")
    return save_model(tmp_path / "downloads" / "overeager.pt", bundled.network, bundled.config,
                      metadata)


def _listed(capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    return {row["file"]: row for row in json.loads(capsys.readouterr().out)["models"]}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("spleenscope")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def test_list_shows_the_bundled_models_active(capsys):
    rows = _listed(capsys)
    ct, mr = rows["spleen_unet2d.pt"], rows["spleen_mr_unet2d.pt"]
    assert (ct["modality"], ct["kind"], ct["active"]) == ("CT", "bundled", True)
    assert (mr["modality"], mr["kind"], mr["active"]) == ("MR", "bundled", True)
    assert ct["val_dice"] > 0.9
    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^\* spleen_unet2d\.pt +CT +0\.\d{3} +bundled", text, re.M), text


def test_a_damaged_file_is_refused_in_one_line_and_nothing_is_copied(tmp_path, capsys):
    damaged = tmp_path / "half.pt"
    damaged.write_bytes(registry.bundled_model_path().read_bytes()[:50_000])
    assert main(["models", "import", str(damaged)]) == 2
    assert "half.pt: not a readable SpleenScope model file" in _one_line_error(capsys)
    assert list(registry.user_models_dir().iterdir()) == []
    assert main(["models", "activate", "no_such_model"]) == 2
    assert "no such model or file" in _one_line_error(capsys)
    # two files carrying the same model name: the name alone does not choose
    for name in ("a.pt", "b.pt"):
        (registry.user_models_dir() / name).write_bytes(registry.bundled_model_path().read_bytes())
    bundled_name = load_model(registry.bundled_model_path()).name
    assert main(["models", "activate", bundled_name]) == 2
    assert "several models match" in _one_line_error(capsys)


def test_import_copies_once_never_over_an_existing_model(worse_model, tmp_path, capsys):
    assert main(["models", "import", str(worse_model)]) == 0
    copied = registry.user_models_dir() / "overeager.pt"
    assert copied.read_bytes() == worse_model.read_bytes()
    row = _listed(capsys)["overeager.pt"]
    assert (row["kind"], row["active"], row["modality"]) == ("user", False, "CT")
    # the same file again: not a second copy
    assert main(["models", "import", str(worse_model)]) == 0
    assert "already in your models folder" in capsys.readouterr().out
    # another model of the same file name: a new name, the first one untouched
    other = tmp_path / "elsewhere" / "overeager.pt"
    other.parent.mkdir()
    other.write_bytes(registry.bundled_model_path().read_bytes())
    assert main(["models", "import", str(other)]) == 0
    assert copied.read_bytes() == worse_model.read_bytes()
    assert (registry.user_models_dir() / "overeager_2.pt").read_bytes() == other.read_bytes()
    assert sorted(p.name for p in registry.user_models_dir().glob("*.pt")) == [
        "overeager.pt", "overeager_2.pt"]


def test_a_worse_model_is_refused_without_yes(worse_model, capsys):
    code = main(["models", "import", str(worse_model), "--activate", "--device", "cpu"])
    assert code == 2
    out = capsys.readouterr()
    scores = re.findall(r"mean Dice (\d\.\d{3})", out.out)
    assert len(scores) == 2, out.out  # both scores, on the same cases
    new, active = map(float, scores)
    assert active > 0.9 and new < active - 0.1
    assert "on the same 1 validation case (sample CT)" in out.out
    errors = [line for line in out.err.splitlines() if line.startswith("spleenscope")]
    assert len(errors) == 1 and "pass --yes" in errors[0], out.err
    assert "Traceback" not in out.err
    # imported, but the bundled model is still the active one
    assert registry.active_model_path() == registry.bundled_model_path()
    assert _listed(capsys)["overeager.pt"]["active"] is False

    # --yes: the user insists, and the list says so
    assert main(["models", "activate", "overeager", "--yes", "--device", "cpu"]) == 0
    assert "active CT model: overeager CT model" in capsys.readouterr().out
    assert registry.active_model_path() == (registry.user_models_dir() / "overeager.pt").resolve()
    rows = _listed(capsys)
    assert rows["overeager.pt"]["active"] and not rows["spleen_unet2d.pt"]["active"]
    assert rows["spleen_mr_unet2d.pt"]["active"]  # the MR choice is untouched

    # back to the bundled model (it scores higher): no --yes needed
    assert main(["models", "activate", "spleen_unet2d", "--device", "cpu"]) == 0
    assert registry.active_model_path() == registry.bundled_model_path()

    # a file elsewhere is imported first: the active model never lives in Downloads
    colleague = worse_model.with_name("colleague.pt")
    colleague.write_bytes(registry.bundled_model_path().read_bytes())
    capsys.readouterr()
    assert main(["models", "activate", str(colleague), "--device", "cpu"]) == 0
    assert "imported colleague.pt" in capsys.readouterr().out
    assert registry.active_model_path() == (registry.user_models_dir() / "colleague.pt").resolve()
