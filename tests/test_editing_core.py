"""The mask editor's brush, hole filling and undo, against geometry with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import sample_path
from viewer.editing import MaskEditor, brush_footprint, plane_axes, slice_axis_of


def test_view_names_and_plane_axes():
    assert [slice_axis_of(v) for v in ("sagittal", "coronal", "axial")] == [0, 1, 2]
    assert plane_axes(2) == (0, 1) and plane_axes(1) == (0, 2) and plane_axes(0) == (1, 2)
    with pytest.raises(ValueError):
        slice_axis_of("oblique")


def test_10_mm_brush_on_half_mm_grid_covers_pi_r_squared():
    labels = np.zeros((200, 200, 5), np.uint8)
    editor = MaskEditor(labels, spacing=(0.5, 0.5, 2.0))
    painted = editor.paint("axial", 2, (100, 100), radius_mm=10.0)
    expected = math.pi * 20**2  # 20 voxels of radius
    assert painted == np.count_nonzero(labels)
    assert abs(painted - expected) / expected < 0.02
    assert labels[:, :, 2].sum() == painted and labels[:, :, (0, 1, 3, 4)].sum() == 0
    # the disc is centred where asked: its extent is +-20 voxels around (100, 100)
    ii, jj = np.nonzero(labels[:, :, 2])
    assert (ii.min(), ii.max(), jj.min(), jj.max()) == (80, 120, 80, 120)


def test_anisotropic_spacing_gives_an_ellipse_in_voxels():
    labels = np.zeros((100, 100, 60), np.uint8)
    editor = MaskEditor(labels, spacing=(0.5, 1.0, 2.5))
    # coronal plane: axes 0 (0.5 mm) and 2 (2.5 mm); 10 mm = 20 voxels along i, 4 along k
    editor.paint("coronal", 50, (50, 30), radius_mm=10.0)
    ii, kk = np.nonzero(labels[:, 50, :])
    assert ii.max() - ii.min() == 40 and kk.max() - kk.min() == 8
    area_mm2 = np.count_nonzero(labels) * 0.5 * 2.5
    assert abs(area_mm2 - math.pi * 100) / (math.pi * 100) < 0.06
    # sagittal plane: axes 1 (1 mm) and 2 (2.5 mm)
    labels[:] = 0
    editor.paint(0, 10, (50, 30), radius_mm=5.0)
    jj, kk = np.nonzero(labels[10])
    assert jj.max() - jj.min() == 10 and kk.max() - kk.min() == 4


def test_tiny_brush_still_paints_the_voxel_under_it_and_edges_clip():
    labels = np.zeros((10, 10, 3), np.uint8)
    editor = MaskEditor(labels, spacing=(1.0, 1.0, 1.0))
    assert editor.paint("axial", 1, (3.2, 6.9), radius_mm=0.1) == 1
    assert labels[3, 7, 1] == 1
    assert editor.paint("axial", 1, (0, 0), radius_mm=3.0) > 0  # corner: clipped, no error
    assert brush_footprint((-50, -50), 2.0, (1, 1), (10, 10)) is None
    assert editor.paint("axial", 7, (5, 5), radius_mm=2.0) == 0  # no such slice


def test_threshold_limited_paint_on_real_ct(sample_data):
    from viewer.io import load_volume

    volume = load_volume(sample_path("ct_spleen_dicom"))
    labels = np.zeros(volume.shape, np.uint8)
    editor = MaskEditor(labels, spacing=volume.spacing, intensities=volume.array)
    k = volume.shape[2] // 2
    centre = (256.0, 256.0)
    painted = editor.paint("axial", k, centre, radius_mm=60.0, threshold=(0, 200))
    hu = volume.array[:, :, k]
    disc = np.zeros(volume.shape, bool)
    a_box, disc2d = brush_footprint(centre, 60.0, volume.spacing[:2], volume.shape[:2])
    disc[a_box[0], a_box[1], k] = disc2d
    inside_window = disc & (volume.array >= 0) & (volume.array <= 200)
    assert painted == inside_window.sum() > 0
    assert np.array_equal(labels.astype(bool), inside_window)
    assert 0 < painted < disc.sum()  # fat and air in the disc stayed unpainted
    assert hu[labels[:, :, k] > 0].min() >= 0 and hu[labels[:, :, k] > 0].max() <= 200
    # erase limited the same way leaves the voxels outside the window alone
    labels[:] = 1
    editor.erase("axial", k, centre, radius_mm=60.0, threshold=(0, 200))
    assert np.array_equal(labels[:, :, k] == 0, inside_window[:, :, k])


def test_erase_only_one_label_and_fill_holes_keeps_other_labels():
    labels = np.zeros((40, 40, 3), np.uint8)
    labels[5:35, 5:35, 1] = 1
    labels[15:20, 15:20, 1] = 0  # a hole
    labels[25:28, 25:28, 1] = 2  # a lesion inside, another label
    editor = MaskEditor(labels)
    assert editor.fill_holes_in_slice("axial", 1, label=1) == 25
    assert labels[15:20, 15:20, 1].min() == 1 and (labels[25:28, 25:28, 1] == 2).all()
    editor.erase("axial", 1, (26, 26), radius_mm=30.0, label=2)
    assert (labels == 2).sum() == 0 and (labels == 1).sum() == 30 * 30 - 9
    assert editor.fill_holes_in_slice("axial", 0) == 0  # empty slice: nothing to do


def test_undo_redo_restore_bit_for_bit():
    rng = np.random.default_rng(0)
    labels = (rng.random((64, 64, 16)) > 0.7).astype(np.uint8)
    original = labels.copy()
    editor = MaskEditor(labels, spacing=(0.7, 0.7, 3.0))
    states = [labels.copy()]
    editor.begin_stroke("paint")
    editor.paint("axial", 5, (10, 10), 4.0)
    editor.paint_line("axial", 5, (10, 10), (50, 40), 4.0)  # the box grows during the stroke
    editor.end_stroke()
    states.append(labels.copy())
    editor.paint("coronal", 30, (32, 8), 6.0, label=3)
    states.append(labels.copy())
    editor.begin_stroke("erase")
    editor.paint_line("sagittal", 20, (5, 2), (60, 14), 3.0, erase=True)
    editor.end_stroke()
    states.append(labels.copy())
    editor.fill_holes_in_slice("axial", 9)
    states.append(labels.copy())
    assert editor.undo_depth == 4
    for expected in reversed(states[:-1]):
        assert editor.undo() is not None
        assert np.array_equal(labels, expected)
    assert np.array_equal(labels, original) and editor.undo() is None
    for expected in states[1:]:
        editor.redo()
        assert np.array_equal(labels, expected)
    assert editor.redo() is None
    # a new stroke after an undo drops the redo steps
    editor.undo()
    editor.paint("axial", 0, (1, 1), 1.0, label=5)
    assert not editor.can_redo


def test_changed_counter_and_region_follow_every_modification():
    labels = np.zeros((20, 20, 4), np.uint8)
    editor = MaskEditor(labels)
    assert editor.changed == 0
    editor.paint("axial", 1, (10, 10), 2.0)
    first = editor.changed
    assert first > 0
    assert editor.paint("axial", 1, (10, 10), 2.0) == 0 and editor.changed == first  # no-op
    box = editor.take_changed_region()
    assert box == (slice(8, 13), slice(8, 13), slice(1, 2))
    assert editor.take_changed_region() is None
    editor.undo()
    assert editor.changed == first + 1 and editor.take_changed_region() == box
    assert labels.sum() == 0


def test_memory_per_stroke_is_bounded_by_its_box_and_history_is_capped():
    labels = np.zeros((512, 512, 200), np.uint8)  # 52 MB volume
    editor = MaskEditor(labels, spacing=(0.8, 0.8, 2.0), max_strokes=50)
    editor.paint("axial", 100, (256, 256), radius_mm=8.0)  # 10 voxels radius
    box_voxels = 21 * 21
    assert editor.history_bytes() == 2 * box_voxels  # before + after, uint8
    for i in range(80):
        editor.paint("axial", i, (100 + i, 100), radius_mm=8.0)
    assert editor.undo_depth == 50
    assert editor.history_bytes() <= 50 * 2 * box_voxels
    small = MaskEditor(labels, max_bytes=10_000)
    for i in range(40):
        small.paint("axial", 150, (30 + 10 * i, 300), radius_mm=20.0)
    assert small.history_bytes() <= 10_000 and small.undo_depth >= 1


def test_labels_are_edited_in_place_and_bad_input_is_refused():
    labels = np.zeros((8, 8, 8), np.uint16)
    view = labels[...]
    editor = MaskEditor(labels)
    editor.paint("axial", 3, (4, 4), 1.5, label=300)
    assert editor.labels is labels and view[4, 4, 3] == 300
    with pytest.raises(ValueError):
        editor.paint("axial", 3, (4, 4), 1.0, label=0)
    with pytest.raises(ValueError):
        editor.paint("axial", 3, (4, 4), 1.0, threshold=(0, 1))  # no image given
    with pytest.raises(ValueError):
        MaskEditor(np.zeros((4, 4), np.uint8))
