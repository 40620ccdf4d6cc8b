"""The Qt-free viewer core: view geometry and letters, cursor, window/level, overlays.

Geometry is checked against analytic phantoms and the shared orientation files;
overlays against the real sample CT and its TotalSegmentator masks.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import sample_path
from viewer.errors import GeometryError
from viewer.io import load_volume
from viewer.overlay_render import LayerRenderer, outline_mask
from viewer.overlays import (
    OverlayLayer,
    OverlayStack,
    guess_label_names,
    label_colors,
    load_mask_for_volume,
    present_labels,
)
from viewer.phantom import make_phantom
from viewer.slicing import direction_letter, extract_slice, slice_position_mm, view_geometry
from viewer.view_state import ViewState
from viewer.window_level import (
    auto_window,
    default_window,
    levels_from_window,
    load_presets,
    preset_by_key,
)

RADIOLOGICAL_LETTERS = {
    "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
    "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
    "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
}
ORIENTATION_CASES = ["RAS", "LAS", "LPS", "PIL", "ASR", "SRA"]


def _rotation_x(degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    r = np.eye(4)
    r[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return r


# ------------------------------------------------------------------ geometry
@pytest.mark.parametrize("view", ["axial", "coronal", "sagittal"])
def test_canonical_grid_letters_radiological(view):
    geometry = view_geometry(np.diag([0.8, 0.8, 5.0, 1.0]), (100, 90, 30), view)
    assert geometry.letters == RADIOLOGICAL_LETTERS[view]


def test_neurological_puts_patient_left_on_screen_left():
    affine = np.eye(4)
    for view in ("axial", "coronal"):
        geometry = view_geometry(affine, (10, 10, 10), view, radiological=False)
        assert geometry.letters["left"] == "L" and geometry.letters["right"] == "R"
        assert not geometry.flip_horizontal
    assert view_geometry(affine, (10, 10, 10), "axial").flip_horizontal  # radiological


def test_letters_follow_the_affine_not_the_axis_order():
    """A grid whose first axis runs toward the LEFT is flipped the other way, and
    the letters stay anatomically right (computed, not assumed)."""
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])
    geometry = view_geometry(affine, (10, 10, 10), "axial")
    assert not geometry.flip_horizontal
    assert geometry.letters == RADIOLOGICAL_LETTERS["axial"]
    # a 40-degree tilt about x makes the vertical axis of axial clearly oblique
    tilted = _rotation_x(40) @ np.eye(4)
    letters = view_geometry(tilted, (10, 10, 10), "axial").letters
    assert letters["top"] == "AS" and letters["bottom"] == "PI"
    assert direction_letter(np.array([0.0, 0.0, -1.0])) == "I"


def test_physical_aspect_of_anisotropic_phantom():
    phantom = make_phantom(spacing=(0.8, 0.8, 5.0), field_of_view_mm=(200.0, 160.0, 100.0))
    volume = phantom.volume()
    coronal = view_geometry(volume.affine, volume.shape, "coronal")
    width, height = coronal.extent_mm
    assert coronal.pixel_size_mm == pytest.approx((0.8, 5.0))
    assert width == pytest.approx(200.0) and height == pytest.approx(100.0)
    x, y, w, h = coronal.image_rect()
    assert (x, y) == pytest.approx((-0.4, -2.5))
    assert h / w == pytest.approx(100.0 / 200.0)


def test_view_points_round_trip_and_slice_positions():
    volume = make_phantom(spacing=(0.8, 0.8, 5.0), field_of_view_mm=(200.0, 160.0, 100.0)).volume()
    sagittal = view_geometry(volume.affine, volume.shape, "sagittal")
    ijk = np.array([12.0, 40.0, 7.0])
    u, v = sagittal.voxel_to_view_point(ijk)
    assert (u, v) == pytest.approx((40 * 0.8, 7 * 5.0))
    assert sagittal.view_point_to_voxel(u, v, 12) == pytest.approx(ijk)
    axial = view_geometry(volume.affine, volume.shape, "axial")
    assert slice_position_mm(volume.affine, axial, 7) == pytest.approx(volume.voxel_to_world(ijk)[2])
    plane = extract_slice(volume.array, axial, 7)
    assert plane.shape == (250, 200) and np.shares_memory(plane, volume.array)


def test_shared_orientation_cases_look_identical():
    """Six axis orders of one head: same letters and the same pixels in every view."""
    reference = None
    for code in ORIENTATION_CASES:
        volume = load_volume(sample_path(f"orientation/nifti_space_{code}.nii.gz"))
        state = ViewState(volume.affine, volume.shape)
        shown = {}
        for view in ("axial", "coronal", "sagittal"):
            geometry = state.geometry(view)
            assert geometry.letters == RADIOLOGICAL_LETTERS[view], (code, view)
            shown[view] = (geometry.flip_horizontal, geometry.flip_vertical,
                           extract_slice(volume.array, geometry, state.slice_index(view)).copy())
        if reference is None:
            reference = shown
            continue
        for view in shown:
            assert shown[view][:2] == reference[view][:2]
            np.testing.assert_array_equal(shown[view][2], reference[view][2])


def test_oblique_file_letters_from_its_affine():
    volume = load_volume(sample_path("orientation/oblique_4d.nii.gz"))
    # about 9 degrees about x: still dominated by the canonical directions
    for view in ("axial", "coronal", "sagittal"):
        assert view_geometry(volume.affine, volume.shape, view).letters == RADIOLOGICAL_LETTERS[view]
    # the same data tilted a further 30 degrees reads as oblique in axial
    tilted = _rotation_x(30) @ volume.affine
    assert view_geometry(tilted, volume.shape, "axial").letters["top"] == "AS"


# ---------------------------------------------------------------- view state
def test_cursor_moves_views_to_slices_through_it():
    volume = make_phantom(spacing=(1.0, 1.0, 2.0), field_of_view_mm=(120.0, 100.0, 80.0)).volume()
    state = ViewState(volume.affine, volume.shape)
    seen = []
    state.subscribe(seen.append)
    target = volume.voxel_to_world([30, 20, 10])
    state.set_cursor_world(target)
    assert seen == ["cursor"]
    assert state.slice_index("sagittal") == 30
    assert state.slice_index("coronal") == 20
    assert state.slice_index("axial") == 10
    state.set_slice("axial", 12)
    assert state.cursor_index() == (30, 20, 12)
    state.step_slice("axial", 1000)
    assert state.slice_index("axial") == volume.shape[2] - 1
    state.set_cursor_world([1e6, -1e6, 0])  # outside: clamped inside the volume
    assert state.cursor_index()[:2] == (volume.shape[0] - 1, 0)


def test_radiological_switch_notifies():
    state = ViewState(np.eye(4), (5, 5, 5))
    seen = []
    state.subscribe(seen.append)
    state.set_radiological(False)
    assert seen == ["orientation"]
    assert state.geometry("axial").letters["left"] == "L"


# -------------------------------------------------------------- window/level
def test_presets_and_levels():
    keys = [p.key for p in load_presets()]
    assert keys == ["abdomen", "liver", "lung", "bone", "brain"]
    lung = preset_by_key("lung")
    assert (lung.center, lung.width) == (-600, 1500)
    assert levels_from_window(40, 400) == (-160.0, 240.0)
    with pytest.raises(KeyError):
        preset_by_key("nonsense")


def test_default_window_ct_header_and_mr_auto():
    ct = load_volume(sample_path("ct_spleen_dicom"))
    assert default_window(ct) == pytest.approx(ct.window)
    mr = load_volume(sample_path("mr_abdomen.nii.gz"))
    center, width = default_window(mr)
    low, high = mr.value_range
    assert low < center < high and 0 < width <= high - low
    assert default_window(mr) == auto_window(mr.array)


# ------------------------------------------------------------------ overlays
def test_spleen_mask_lies_on_the_ct_grid():
    ct = load_volume(sample_path("ct_spleen_dicom"))
    labels, notice = load_mask_for_volume(sample_path("ct_spleen_dicom_label.nii.gz"), ct)
    assert notice == ""
    assert labels.dtype == np.uint8 and labels.shape == ct.shape
    assert int(np.count_nonzero(labels)) == 130_634
    assert ct.mask_volume_ml(labels) == pytest.approx(249.2, abs=0.1)
    # the spleen is on the patient's left: negative x in RAS
    centre = ct.voxel_to_world(np.argwhere(labels).mean(axis=0))
    assert centre[0] < -50


def test_multilabel_names_and_colors():
    ct = load_volume(sample_path("ct_spleen_dicom"))
    labels, _ = load_mask_for_volume(sample_path("ct_spleen_dicom_organs.nii.gz"), ct)
    present = present_labels(labels)
    assert present[:3] == [1, 5, 6]
    names = guess_label_names(present, ct.modality)
    assert names[1] == "spleen" and names[5] == "liver" and names[6] == "stomach"
    layer = OverlayLayer("organs", labels, label_names=names)
    assert set(present) <= set(layer.colors)
    assert len({layer.colors[label] for label in present}) == len(present)


def test_mask_on_another_grid_is_resampled_with_a_notice(tmp_path):
    phantom = make_phantom(spacing=(1.0, 1.0, 2.0), field_of_view_mm=(240.0, 200.0, 160.0))
    volume = phantom.volume()
    coarse = make_phantom(spacing=(2.0, 2.0, 4.0), field_of_view_mm=(240.0, 200.0, 160.0),
                          axcodes="LPS")
    path = tmp_path / "coarse_mask.nii.gz"
    nib.save(coarse.mask, path)
    labels, notice = load_mask_for_volume(path, volume)
    assert "resampled" in notice and "nearest neighbour" in notice
    assert labels.shape == volume.shape
    dice = 2 * np.logical_and(labels, phantom.canonical_mask()).sum() / (
        labels.astype(bool).sum() + phantom.canonical_mask().astype(bool).sum()
    )
    assert dice > 0.9
    assert volume.mask_volume_ml(labels) == pytest.approx(phantom.spleen_volume_ml, rel=0.08)


def test_mask_that_does_not_overlap_is_refused(tmp_path):
    volume = make_phantom(field_of_view_mm=(100.0, 100.0, 60.0)).volume()
    far = make_phantom(field_of_view_mm=(100.0, 100.0, 60.0),
                       spleen_center_mm=(-20.0, 0.0, 0.0))
    image = nib.Nifti1Image(np.asarray(far.mask.dataobj), far.mask.affine.copy())
    image.affine[:3, 3] += 5000.0
    shifted = nib.Nifti1Image(np.asarray(far.mask.dataobj), image.affine)
    path = tmp_path / "far.nii.gz"
    nib.save(shifted, path)
    with pytest.raises(GeometryError):
        load_mask_for_volume(path, volume)


def test_rendering_colours_outline_and_stack():
    labels = np.zeros((8, 8, 1), np.uint8)
    labels[2:6, 2:6, 0] = 1
    layer = OverlayLayer("m", labels, colors={1: (255, 0, 0)}, opacity=0.5)
    renderer = LayerRenderer(layer)
    rgba = renderer.render("axial", 0, labels[:, :, 0])
    assert tuple(rgba[3, 3]) == (255, 0, 0, 128) and tuple(rgba[0, 0]) == (0, 0, 0, 0)
    layer.mode = "outline"
    outline = renderer.render("axial", 0, labels[:, :, 0])
    assert outline[3, 3, 3] == 0 and tuple(outline[2, 3]) == (255, 0, 0, 255)
    assert int((outline_mask(labels[:, :, 0]) > 0).sum()) == 12  # 4x4 square ring
    stack = OverlayStack()
    stack.add(layer)
    stack.add(OverlayLayer("m", labels * 2))  # replace by name
    assert len(stack) == 1 and stack.label_at((3, 3, 0))[0][1] == 2
    assert label_colors(3)[1] != label_colors(3)[2]


def test_mr_organ_map_names_only_the_classes_ct_and_mr_share():
    mr = load_volume(sample_path("mr_abdomen.nii.gz"))
    labels, _ = load_mask_for_volume(sample_path("mr_abdomen_organs.nii.gz"), mr)
    present = present_labels(labels)
    assert max(present) > 9  # TotalSegmentator MR classes beyond the shared ones
    names = guess_label_names(present, "MR")
    assert names[1] == "spleen" and names[5] == "liver"
    assert set(names) == {label for label in present if label <= 9}
