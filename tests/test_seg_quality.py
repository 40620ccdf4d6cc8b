"""Modality detection on the real sample volumes, and the verdict every result carries.

A wrong number must never look like a right one: an MR pushed through the CT model,
an empty mask, a "spleen" on the patient's right all get ``failed``; the sample CT,
segmented well, gets ``ok``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from segmentation.quality import assess
from segmentation.registry import bundled_model_path
from segmentation.study import segment_study
from segmentation.uncertainty import entropy_map, summarize
from tests.seg_support import require_sample, sample_data_dir
from viewer.errors import SpleenScopeError
from viewer.io import load_volume
from viewer.modality import CT, MR, UNKNOWN, detect_modality, guess_from_intensities
from viewer.window_level import looks_like_ct

# What each shared volume is; every image file in the data folder must be listed here.
EXPECTED = [
    # Label maps and a synthetic test pattern: not images of a patient.
    ("label", UNKNOWN),
    ("organs", UNKNOWN),
    ("mr_spleen_chaos/labelsTr/", UNKNOWN),
    ("orientation/sform_only.nii.gz", UNKNOWN),
    ("ct_spleen_dicom", CT),
    ("dicom_seg/ct-3slice", CT),
    ("dicom_edge/gantrytilting", CT),
    ("orientation/shear_sform_vs_qform.nii.gz", CT),  # head CT NIfTI: no header modality
    ("mr_abdomen.nii.gz", MR),
    ("mr_spleen_chaos/imagesTr/", MR),
    ("orientation/nifti_space_", MR),
    ("orientation/oblique_4d.nii.gz", MR),
    ("orientation/big_endian_las.nii", MR),
    ("orientation/nifti2.nii.gz", MR),
    ("dicom_edge/mr", MR),
    ("dicom_edge/slicecount", MR),
    ("dicom_edge/sliceorientation", MR),
]
NOT_VOLUMES = ("dicom_edge/notavolume",)


def _shared_volumes() -> list[str]:
    root = sample_data_dir()
    if not root.is_dir():
        return []
    found = {str(p.relative_to(root)) for p in root.rglob("*.nii*")}
    found |= {str(p.parent.relative_to(root)) for p in root.rglob("*") if _is_dicom_slice(p)}
    return sorted(p for p in found if not p.startswith(NOT_VOLUMES) and not p.endswith(".dcm"))


def _is_dicom_slice(path) -> bool:
    if not path.is_file() or path.suffix in (".gz", ".nii", ".txt", ".md", ".dcm"):
        return False
    with open(path, "rb") as handle:
        return handle.read(132)[128:132] == b"DICM"


def _expected(relative: str) -> str:
    for pattern, modality in EXPECTED:
        if (
            (pattern in relative)
            if pattern in ("label", "organs")
            else relative.startswith(pattern)
        ):
            return modality
    raise AssertionError(f"{relative}: not in EXPECTED; say what this volume is")


@pytest.mark.parametrize("relative", _shared_volumes())
def test_modality_of_every_shared_volume(relative):
    volume = load_volume(sample_data_dir() / relative)
    guess = detect_modality(volume)
    assert guess.modality == _expected(relative), guess.reason
    assert looks_like_ct(volume) == (guess.modality == CT)


def test_a_plain_ct_nifti_is_ct_whatever_its_floor():
    """NIfTI keeps no modality; -1024, -1100 or -3024 outside the scan is all still CT."""
    volume = load_volume(require_sample("ct_spleen_dicom"))
    array = np.asarray(volume.array, dtype=np.float32)
    for floor in (-1024.0, -1100.0, -3024.0):
        padded = array.copy()
        padded[:40] = floor  # the corners outside a round field of view
        nifti_like = dataclasses.replace(volume, array=padded, modality="")
        assert padded.min() == min(floor, array.min())
        guess = detect_modality(nifti_like)
        assert (guess.modality, guess.source) == (CT, "intensities"), (floor, guess.reason)
    # The same values scaled to an arbitrary positive range (as MR has) are not CT.
    mr_like = (array - array.min()) * 0.37
    assert guess_from_intensities(mr_like).modality == MR


def test_uncertainty_map_is_binary_entropy():
    p = np.array([0.0, 0.5, 1.0, 0.1, 0.9], dtype=np.float32)
    u = entropy_map(p)
    assert u[0] == 0 and u[2] == pytest.approx(0, abs=1e-4) and u[1] == pytest.approx(1.0)
    assert u[3] == pytest.approx(u[4]) == pytest.approx(0.469, abs=1e-3)


@pytest.fixture(scope="module")
def sample_ct_study():
    if not bundled_model_path().is_file():
        pytest.skip("no bundled model")
    volume = load_volume(require_sample("ct_spleen_dicom"))
    return volume, segment_study(volume, device="cpu", keep_probabilities=True)


def test_sample_ct_is_ok_with_a_range_around_its_volume(sample_ct_study):
    volume, study = sample_ct_study
    summary = study.summary()
    assert summary["modality"] == summary["model_modality"] == "CT"
    assert summary["quality"]["verdict"] == "ok", summary["quality"]
    low, high = summary["volume_ml_range"]
    assert low < summary["volume_ml"] < high
    # The range is a few percent wide on a good result (measured 223-261 around 241.7 mL).
    assert (high - low) / summary["volume_ml"] < 0.25
    assert summary["quality"]["uncertain_slices"] == []
    # The spleen runs past both ends of these 20 slices: said, without doubting the mask.
    assert any("lower bounds" in note for note in summary["quality"]["notes"])


def _judge(volume, study, mask, probabilities):
    uncertainty = summarize(probabilities, mask, volume.affine, 2)
    from segmentation.measurements import measure_spleen

    return assess(
        guess=study.modality,
        model_modality="CT",
        requested_modality="auto",
        image=volume.array,
        mask=mask,
        probabilities=probabilities,
        threshold=0.5,
        affine=volume.affine,
        axis=2,
        measurements=measure_spleen(mask, volume.affine),
        uncertainty=uncertainty,
    )


def test_a_spleen_on_the_patients_right_fails(sample_ct_study):
    volume, study = sample_ct_study
    # Mirror the result left-right: the same organ, now where the liver is.
    mirrored = _judge(volume, study, study.mask[::-1].copy(), study.probabilities[::-1].copy())
    assert mirrored.verdict == "failed"
    assert any("right of the body's midline" in r for r in mirrored.reasons), mirrored.reasons


def test_empty_and_tiny_results_fail(sample_ct_study):
    volume, study = sample_ct_study
    empty = _judge(volume, study, np.zeros_like(study.mask), np.zeros_like(study.probabilities))
    assert empty.verdict == "failed" and "no spleen found" in empty.reasons[0]
    i, j, k = (int(axis[0]) for axis in np.nonzero(study.mask))
    tiny = np.zeros_like(study.mask)
    box = (slice(i, i + 15), slice(j, j + 15), slice(k, k + 3))
    tiny[box] = study.mask[box]
    assert 0 < tiny.sum() * 0.9765625**2 * 2 / 1000 < 20
    verdict = _judge(volume, study, tiny, tiny.astype(np.float32))
    assert verdict.verdict == "failed" and "implausible spleen volume" in verdict.reasons[0]


def test_mr_forced_through_the_ct_model_fails():
    volume = load_volume(require_sample("mr_spleen_chaos", "imagesTr", "chaos_t2_p01.nii.gz"))
    study = segment_study(volume, modality="ct", device="cpu")
    assert study.model_modality == "CT" and study.modality.modality == "MR"
    assert study.quality.verdict == "failed"
    assert "trained on CT" in study.quality.reasons[0]


def test_unknown_modality_choice_is_a_clear_error(sample_ct_study):
    volume, _ = sample_ct_study
    with pytest.raises(SpleenScopeError, match="choose auto, ct or mr"):
        segment_study(volume, modality="pet")


def test_a_region_in_the_left_side_wall_is_checked(sample_ct_study):
    """A plausible volume at the spleen's height, but its centre 15 mm inside the body's
    left outline: where models that miss the spleen put their region (measured on
    another MR sequence), never where a spleen's centre lies."""
    volume, study = sample_ct_study
    spacing = np.asarray(volume.spacing)
    body_left = int(np.nonzero((np.asarray(volume.array) > -500).any(axis=(1, 2)))[0].min())
    _, j, k = (axis.mean() for axis in np.nonzero(study.mask))
    centre = np.array([body_left + 15.0 / spacing[0], j, k])
    grid = np.indices(study.mask.shape, dtype=np.float32)
    semi_axes_mm = np.array([12.0, 40.0, 30.0])
    inside = sum(((grid[a] - centre[a]) * spacing[a] / semi_axes_mm[a]) ** 2 for a in range(3))
    wall = (inside <= 1.0).astype(np.uint8)
    assert 20 < wall.sum() * spacing.prod() / 1000 < 3000  # the volume alone looks fine
    verdict = _judge(volume, study, wall, wall.astype(np.float32))
    assert verdict.verdict == "check"
    # 15 mm, give or take the 2-voxel step the body's outline is found with
    assert any(re.search(r"left side wall \(1[4-6] mm inside", r) for r in verdict.reasons), (
        verdict.reasons)
    assert not any("side wall" in r for r in _judge(volume, study, study.mask,
                                                     study.probabilities).reasons)
