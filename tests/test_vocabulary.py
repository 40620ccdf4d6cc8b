"""The three vocabulary modules: file names, grid geometry, devices and threads.

Each fact lives in one module; these tests pin the facts a user meets: the default
output name beside the input, the refusal to write over what was opened, when a
mask counts as lying on its image's grid, and how many CPU threads a run gets.
"""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.devices import cpu_threads, usable_cores
from viewer.errors import SpleenScopeError
from viewer.grid import (
    LPS_TO_RAS,
    SAME_GRID_TOLERANCE_MM,
    lps_to_ras,
    ras_to_lps,
    same_grid,
    slice_axis_of,
    view_of_axis,
)
from viewer.io.file_names import (
    DICOM,
    NIFTI,
    case_key,
    check_output_path,
    dialog_filter,
    edited_mask_path,
    format_of,
    mask_path_beside,
    require_format,
    split_suffix,
    with_default_suffix,
)


@pytest.mark.parametrize(
    "name, stem, suffix",
    [
        ("case.nii.gz", "case", ".nii.gz"),
        ("Case.NII.GZ", "Case", ".NII.GZ"),
        ("case.nii", "case", ".nii"),
        ("seg.dcm", "seg", ".dcm"),
        ("notes.txt", "notes.txt", ""),
        (".nii.gz", ".nii.gz", ""),  # a bare suffix is not a name
    ],
)
def test_split_suffix(name, stem, suffix):
    assert split_suffix(name) == (stem, suffix)


def test_default_outputs_sit_beside_the_input(tmp_path):
    folder = tmp_path / "ct_series"
    folder.mkdir()
    assert mask_path_beside(tmp_path / "case.nii.gz") == tmp_path / "case_seg.nii.gz"
    assert mask_path_beside(tmp_path / "case.nii") == tmp_path / "case_seg.nii"
    assert mask_path_beside(folder) == tmp_path / "ct_series_seg.nii.gz"
    assert mask_path_beside(tmp_path / "x.dcm") == tmp_path / "x_seg.nii.gz"
    assert mask_path_beside(tmp_path / "case.nii.gz", DICOM) == tmp_path / "case_seg.dcm"
    assert with_default_suffix(tmp_path / "typed") == tmp_path / "typed.nii.gz"
    assert with_default_suffix(tmp_path / "typed.NII") == tmp_path / "typed.NII"


def test_edited_copy_never_takes_the_opened_name(tmp_path):
    opened = tmp_path / "label.nii.gz"
    opened.write_bytes(b"x")
    first = edited_mask_path(opened)
    assert first == tmp_path / "label_edited.nii.gz"
    first.write_bytes(b"x")
    assert edited_mask_path(opened) == tmp_path / "label_edited_2.nii.gz"
    assert edited_mask_path(tmp_path / "seg.dcm") == tmp_path / "seg_edited.nii.gz"


def test_case_key_pairs_predictions_with_references():
    assert case_key("spleen_1_pred.nii.gz") == case_key("spleen_1.nii.gz") == "spleen_1"
    assert case_key("spleen_1_0000.nii.gz") == "spleen_1"
    assert case_key("SPLEEN_2_SEG.NII") == "SPLEEN_2"


def test_wrong_suffix_is_one_line_naming_what_is_allowed():
    assert require_format("out.nii.gz", NIFTI.key, DICOM.key) is NIFTI
    with pytest.raises(SpleenScopeError, match=r"^mask\.txt: the output must end in "
                       r"\.nii, \.nii\.gz or \.dcm$"):
        require_format("mask.txt", NIFTI.key, DICOM.key)
    with pytest.raises(SpleenScopeError, match=r"^p\.dcm: the probability map must end in "
                       r"\.nii or \.nii\.gz$"):
        require_format("p.dcm", NIFTI.key, what="the probability map")


def test_output_check_protects_the_input(tmp_path):
    source = tmp_path / "case.nii.gz"
    source.write_bytes(b"image")
    folder = tmp_path / "dicom"
    folder.mkdir()
    with pytest.raises(SpleenScopeError, match="refusing to write over or inside the input"):
        check_output_path(source, source, overwrite=True)  # --overwrite never means the input
    with pytest.raises(SpleenScopeError, match="refusing to write over or inside the input"):
        check_output_path(folder / "seg.nii.gz", folder, overwrite=False)
    existing = tmp_path / "old_seg.nii.gz"
    existing.write_bytes(b"mask")
    with pytest.raises(SpleenScopeError, match="already exists"):
        check_output_path(existing, source, overwrite=False)
    check_output_path(existing, source, overwrite=True)
    with pytest.raises(SpleenScopeError, match="no such folder"):
        check_output_path(tmp_path / "missing" / "x.nii.gz", source, overwrite=False)
    assert source.read_bytes() == b"image" and existing.read_bytes() == b"mask"


def test_formats_table_drives_names_and_dialog_filters():
    assert format_of("a.nii.gz") is NIFTI and format_of("a.dcm") is DICOM
    assert format_of("IM0001") is None  # DICOM is found by content, not by name
    assert dialog_filter(NIFTI.key) == "NIfTI (*.nii.gz *.nii)"
    assert dialog_filter(NIFTI.key, DICOM.key, everything=True) == (
        "Images (*.nii.gz *.nii *.dcm);;NIfTI (*.nii.gz *.nii);;DICOM (*.dcm);;All files (*)"
    )


def test_same_grid_tolerance_and_a_saved_mask_round_trip(tmp_path):
    from viewer.io import load_volume
    from viewer.io.writers import save_mask
    from viewer.phantom import make_phantom

    phantom = make_phantom(spacing=(4.0, 4.0, 4.0))
    path = tmp_path / "phantom.nii.gz"
    phantom.image.to_filename(path)
    volume = load_volume(path)
    mask_path = save_mask(volume, np.ones(volume.shape, np.uint8), tmp_path / "mask.nii.gz")
    mask = load_volume(mask_path)
    assert same_grid(volume.affine, volume.shape, mask.affine, mask.shape)

    shifted = volume.affine.copy()
    shifted[0, 3] += SAME_GRID_TOLERANCE_MM / 2
    assert same_grid(volume.affine, volume.shape, shifted, volume.shape)
    shifted[0, 3] += 2 * SAME_GRID_TOLERANCE_MM
    assert not same_grid(volume.affine, volume.shape, shifted, volume.shape)
    wider = volume.affine.copy()
    wider[0, 0] *= 1.01  # 1 % larger voxels: several voxels off at the far edge
    assert not same_grid(volume.affine, volume.shape, wider, volume.shape)
    assert not same_grid(volume.affine, volume.shape, volume.affine, (1, 2, 3))


def test_lps_ras_flip():
    point_lps = np.array([10.0, -20.0, 30.0])
    assert np.array_equal(lps_to_ras(point_lps), [-10.0, 20.0, 30.0])
    assert np.array_equal(ras_to_lps(lps_to_ras(point_lps)), point_lps)
    assert np.array_equal((LPS_TO_RAS @ np.append(point_lps, 1.0))[:3], lps_to_ras(point_lps))
    assert np.array_equal(LPS_TO_RAS @ LPS_TO_RAS, np.eye(4))


def test_view_names_and_axes():
    assert [slice_axis_of(v) for v in ("sagittal", "coronal", "axial")] == [0, 1, 2]
    assert slice_axis_of("Axial ") == 2 and slice_axis_of("1") == 1 and slice_axis_of(0) == 0
    assert [view_of_axis(a) for a in (0, 1, 2)] == ["sagittal", "coronal", "axial"]
    with pytest.raises(ValueError, match="unknown view"):
        slice_axis_of("oblique")
    with pytest.raises(ValueError, match="0, 1 or 2"):
        slice_axis_of(3)


def test_one_thread_policy(monkeypatch):
    monkeypatch.delenv("SPLEENSCOPE_THREADS", raising=False)
    assert cpu_threads() == max(1, min(usable_cores(), 8))
    assert cpu_threads(3) == 3
    monkeypatch.setenv("SPLEENSCOPE_THREADS", "1")
    assert cpu_threads() == 1 and cpu_threads(4) == 1
    monkeypatch.setenv("SPLEENSCOPE_THREADS", "two")
    with pytest.raises(SpleenScopeError, match="SPLEENSCOPE_THREADS='two' is not a whole number"):
        cpu_threads()


def test_window_segments_with_the_threads_the_cli_uses(monkeypatch):
    """The window's worker held a core back (1 thread on 2 cores where the CLI used 2)."""
    from viewer.ui.segment_worker import worker_threads

    monkeypatch.delenv("SPLEENSCOPE_THREADS", raising=False)
    assert worker_threads() == cpu_threads() == max(1, min(usable_cores(), 8))
