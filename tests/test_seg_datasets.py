"""Finding and checking training cases; the user's collection; the model registry."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from segmentation import registry
from segmentation.config import ModelConfig
from segmentation.datasets import add_case_to_collection, find_cases, load_case, validate_cases
from segmentation.model_file import default_metadata, save_model
from segmentation.unet import build_network
from tests.seg_support import phantom_dataset, require_sample
from viewer.errors import ModelFileError, SpleenScopeError
from viewer.phantom import make_phantom


def test_msd_folder_pairs_images_and_labels_by_name(tmp_path):
    data = phantom_dataset(tmp_path, cases=2)
    (data / "imagesTr" / "._spleen_0.nii.gz").write_bytes(b"macOS junk")
    nib.save(make_phantom(spacing=(8.0, 8.0, 8.0)).image, data / "imagesTr" / "lonely.nii.gz")
    cases = find_cases(data)
    assert [case.name for case in cases] == ["spleen_0", "spleen_1"]
    assert validate_cases(cases) == []
    volume, label = load_case(cases[0])
    assert label.shape == volume.shape and label.dtype == np.uint8


def test_dicom_folder_pair(tmp_path):
    series = require_sample("ct_spleen_dicom")
    label = require_sample("ct_spleen_dicom_label.nii.gz")
    cases = find_cases([(series, label)])
    volume, mask = load_case(cases[0])
    assert volume.shape == (512, 512, 20) and int(mask.sum()) == 130634


def test_problems_are_reported_one_line_each(tmp_path):
    data = phantom_dataset(tmp_path, cases=2)
    bad_values = nib.load(data / "labelsTr" / "spleen_1.nii.gz")
    array = np.asarray(bad_values.dataobj) * 3
    nib.save(nib.Nifti1Image(array, bad_values.affine), data / "labelsTr" / "spleen_1.nii.gz")
    other_grid = make_phantom(spacing=(5.0, 5.0, 5.0))
    nib.save(other_grid.mask, data / "labelsTr" / "spleen_0.nii.gz")
    problems = validate_cases(find_cases(data))
    assert len(problems) == 2
    assert "spleen_0" in problems[0] and "shape" in problems[0]
    assert "spleen_1" in problems[1] and "label values 0, 3" in problems[1]
    with pytest.raises(SpleenScopeError, match="not a dataset folder"):
        find_cases(tmp_path / "imagesTr")


def test_collection_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    phantom = make_phantom(spacing=(4.0, 4.0, 4.0), axcodes="LPS")
    volume = phantom.volume()
    first = add_case_to_collection(volume, phantom.canonical_mask())
    second = add_case_to_collection(volume, phantom.canonical_mask())
    assert first.name == "case_001.nii.gz" and second.name == "case_002.nii.gz"
    assert first.parent.parent == registry.user_collection_dir()
    cases = find_cases(registry.user_collection_dir())
    assert validate_cases(cases) == []
    reloaded, label = load_case(cases[0])
    assert np.array_equal(label, phantom.canonical_mask())
    assert np.allclose(reloaded.affine, volume.affine)


def test_registry_lists_and_remembers_the_active_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(tmp_path / "home"))
    assert registry.active_model_path() == registry.bundled_model_path()
    config = ModelConfig(base_channels=4, depth=2, pad_multiple=4)
    mine = save_model(
        registry.user_models_dir() / "mine.pt",
        build_network(config),
        config,
        default_metadata("mine", validation={"val_dice": 0.8}),
    )
    (registry.user_models_dir() / "junk.pt").write_text("not a model")
    entries = {entry.name: entry for entry in registry.list_models()}
    assert entries["mine"].val_dice == 0.8 and not entries["mine"].is_bundled
    # one bundled model per modality (CT and MR), each listed once with its modality
    bundled = [e for e in entries.values() if e.is_bundled]
    assert sorted(e.modality for e in bundled) == [
        m for m in ("CT", "MR") if registry.bundled_model_path(m).is_file()
    ]
    registry.set_active_model(mine)
    assert registry.active_model_path() == mine.resolve()
    # a CT model made active never changes what an MR is segmented with
    assert registry.active_model_path("MR") == registry.bundled_model_path("MR")
    with pytest.raises(ModelFileError):
        registry.set_active_model(registry.user_models_dir() / "junk.pt")
    assert registry.active_model_path() == mine.resolve()
    registry.set_active_model(None)
    assert registry.active_model_path() == registry.bundled_model_path()
