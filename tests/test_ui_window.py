"""The real main window driven with pytest-qt: clicks, keys, readout, overlay pixels.

Exact geometry is checked on the analytic phantom; HU values and overlay colours on
the real sample CT, against values read independently with pydicom.
"""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PyQt5.QtCore import QEvent, QMimeData, QPoint, QPointF, QRectF, QSettings, Qt, QUrl
from PyQt5.QtGui import QDropEvent, QMouseEvent
from PyQt5.QtWidgets import QApplication

from tests.conftest import sample_path
from viewer.io import load_volume
from viewer.phantom import make_phantom
from viewer.ui.app import configure_pyqtgraph
from viewer.ui.dialogs import SHORTCUTS, ShortcutsDialog
from viewer.ui.main_window import MainWindow

ORIENTATION_CASES = ["RAS", "LAS", "LPS", "PIL", "ASR", "SRA"]
LETTERS = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


@pytest.fixture
def window(qtbot, tmp_path):
    configure_pyqtgraph()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings, with_tools=False)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture(scope="module")
def ct_volume():
    return load_volume(sample_path("ct_spleen_dicom"))


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(spacing=(0.8, 0.8, 5.0), field_of_view_mm=(240.0, 200.0, 150.0))


def _mouse(widget, kind, pos, button=Qt.NoButton, buttons=Qt.NoButton, modifiers=Qt.NoModifier):
    """Send one mouse event straight to a widget (QTest moves carry no buttons in Qt 5).

    pyqtgraph drops move events closer than ~1/60 s apart, so moves are spaced out.
    """
    if kind == QEvent.MouseMove:
        time.sleep(0.02)
    event = QMouseEvent(kind, QPointF(pos), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def _zoom_on_voxel(view, ijk, half_width_mm=10.0):
    """Zoom so one voxel covers many screen pixels (a grab then samples it exactly)."""
    u, v = view.view_point_of_voxel(ijk)
    view.box.setRange(QRectF(u - half_width_mm, v - half_width_mm, 2 * half_width_mm,
                             2 * half_width_mm), padding=0)


def _click_voxel(qtbot, view, ijk, modifier=Qt.NoModifier):
    pos = view.widget_pos_of_voxel(ijk)
    qtbot.mouseClick(view.canvas.viewport(), Qt.LeftButton, modifier, pos)


def test_click_in_axial_moves_coronal_and_sagittal(qtbot, window, phantom):
    volume = phantom.volume()
    window.set_volume(volume)
    axial = window.views["axial"]
    start_axial = axial.slice_index
    target = (70, 150, start_axial)
    with qtbot.waitSignal(window.cursor_moved, timeout=2000):
        _click_voxel(qtbot, axial, target)
    assert window.views["sagittal"].slice_index == 70
    assert window.views["coronal"].slice_index == 150
    assert axial.slice_index == start_axial  # a click never changes the clicked view's slice
    world = window.cursor_world()
    assert world == pytest.approx(volume.voxel_to_world(target), abs=0.8)
    # crosshair lines in coronal sit on the clicked point (x in mm along voxel axis 0)
    assert window.views["coronal"].vline.value() == pytest.approx(70 * 0.8, abs=0.8)


def test_physical_aspect_ratio_on_screen(window, phantom):
    window.set_volume(phantom.volume())
    coronal = window.views["coronal"]
    rect = coronal.image_item.mapRectToView(coronal.image_item.boundingRect())
    assert rect.height() / rect.width() == pytest.approx(150.0 / 240.0, rel=1e-6)
    on_screen = coronal.image_item.sceneBoundingRect()
    assert on_screen.height() / on_screen.width() == pytest.approx(150.0 / 240.0, rel=0.01)


def test_radiological_convention_puts_phantom_spleen_on_screen_right(window, phantom):
    volume = phantom.volume()
    window.set_volume(volume)
    centre = volume.world_to_nearest_voxel(phantom.spleen_center_mm)
    window.set_cursor_world(phantom.spleen_center_mm)
    for name in ("axial", "coronal"):
        view = window.views[name]
        assert view.widget_pos_of_voxel(centre).x() > view.canvas.width() / 2, name
    window.act_radiological.setChecked(False)  # neurological
    for name in ("axial", "coronal"):
        view = window.views[name]
        assert view.widget_pos_of_voxel(centre).x() < view.canvas.width() / 2, name
        assert view.letter_labels["left"].text() == "L"


@pytest.mark.parametrize("code", ORIENTATION_CASES)
def test_orientation_letters_in_the_window(window, code):
    volume = load_volume(sample_path(f"orientation/nifti_space_{code}.nii.gz"))
    window.set_volume(volume)
    for name, (left, right, top, bottom) in LETTERS.items():
        letters = window.views[name].letter_labels
        shown = (letters["left"].text(), letters["right"].text(),
                 letters["top"].text(), letters["bottom"].text())
        assert shown == (left, right, top, bottom), (code, name)
    reference = load_volume(sample_path("orientation/nifti_space_RAS.nii.gz"))
    np.testing.assert_array_equal(window.views["axial"].image_item.image,
                                  reference.array[:, :, window.views["axial"].slice_index])


def _dicom_truth():
    """(RAS world point, HU) of one pixel, read straight from one DICOM file."""
    folder = sample_path("ct_spleen_dicom")
    path = sorted(p for p in folder.iterdir() if p.is_file())[5]
    ds = pydicom.dcmread(path)
    row, col = 300, 350
    hu = float(ds.pixel_array[row, col]) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ipp = np.array(ds.ImagePositionPatient, float)
    iop = np.array(ds.ImageOrientationPatient, float)
    spacing_row, spacing_col = (float(v) for v in ds.PixelSpacing)
    lps = ipp + iop[:3] * spacing_col * col + iop[3:] * spacing_row * row
    return lps * np.array([-1.0, -1.0, 1.0]), hu


def test_readout_shows_hu_read_independently_with_pydicom(window, ct_volume):
    window.set_volume(ct_volume)
    ras, hu = _dicom_truth()
    window.set_cursor_world(ras)
    values = window.readout_panel.last_values
    assert values["value"] == pytest.approx(hu)
    assert values["unit"] == "HU"
    assert values["ras"] == pytest.approx(tuple(ras), abs=0.01)
    assert values["lps"] == pytest.approx((-ras[0], -ras[1], ras[2]), abs=0.01)
    assert f"{hu:.0f} HU" in window.readout_panel.text()


def test_readout_under_the_mouse(qtbot, window, ct_volume):
    window.set_volume(ct_volume)
    axial = window.views["axial"]
    k = axial.slice_index
    ijk = (300, 200, k)
    # At fit-to-window zoom one screen pixel spans more than one voxel, so zoom in
    # until each voxel owns whole pixels and the mouse can land on exactly this one.
    _zoom_on_voxel(axial, ijk)

    def readout_at_voxel() -> bool:
        # Re-send the move on each poll: until the view's layout has settled (slow,
        # loaded machines), the voxel's widget position can still change.
        _mouse(axial.canvas.viewport(), QEvent.MouseMove, axial.widget_pos_of_voxel(ijk))
        values = window.readout_panel.last_values
        return values is not None and values["voxel"] == ijk

    qtbot.waitUntil(readout_at_voxel, timeout=5000)
    assert window.readout_panel.last_values["value"] == float(ct_volume.array[ijk])


def _spleen_voxel(labels, k):
    """A spleen voxel deep inside the mask on slice k (5 voxels from any edge)."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(labels[:, :, k] > 0, iterations=5)
    points = np.argwhere(inner)
    i, j = points[len(points) // 2]
    return int(i), int(j), k


def test_overlay_colour_under_a_spleen_voxel(qtbot, window, ct_volume):
    window.set_volume(ct_volume)
    layer = window.open_mask(sample_path("ct_spleen_dicom_label.nii.gz"))
    axial = window.views["axial"]
    ijk = _spleen_voxel(layer.labels, axial.slice_index)
    window.set_cursor_world(ct_volume.voxel_to_world(ijk))
    window.act_crosshair.setChecked(False)
    _zoom_on_voxel(axial, ijk)
    low, high = axial.image_item.levels
    grey = np.clip((float(ct_volume.array[ijk]) - low) / (high - low), 0, 1) * 255

    def pixel():
        pos = axial.widget_pos_of_voxel(ijk)
        image = axial.canvas.grab().toImage()
        scale = image.devicePixelRatio()
        color = image.pixelColor(int(pos.x() * scale), int(pos.y() * scale))
        return np.array([color.red(), color.green(), color.blue()], float)

    alpha = layer.opacity
    expected = alpha * np.array(layer.colors[1]) + (1 - alpha) * grey
    with_overlay = pixel()
    assert with_overlay == pytest.approx(expected, abs=6)
    window.toggle_overlays()  # M: hide
    without = pixel()
    assert without == pytest.approx([grey] * 3, abs=3)
    window.toggle_overlays()
    window.toggle_outline()
    assert pixel() == pytest.approx([grey] * 3, abs=3)  # inside the outline: image only


def test_multilabel_legend_names(window, ct_volume):
    window.set_volume(ct_volume)
    window.open_mask(sample_path("ct_spleen_dicom_organs.nii.gz"))
    legend = window.overlay_panel.legend.text()
    for name in ("spleen", "liver", "stomach", "aorta"):
        assert name in legend
    window.set_cursor_world(ct_volume.voxel_to_world(_spleen_voxel(
        window.overlays.get("ct_spleen_dicom_organs").labels, 10)))
    assert "spleen" in window.readout_panel.text()


def test_slice_navigation_keys_wheel_slider(qtbot, window, phantom):
    window.set_volume(phantom.volume())
    axial = window.views["axial"]
    start = axial.slice_index
    axial.canvas.setFocus()
    qtbot.keyClick(axial.canvas, Qt.Key_Up)
    assert axial.slice_index == start + 1
    qtbot.keyClick(axial.canvas, Qt.Key_PageDown)
    assert axial.slice_index == start + 1 - 10
    axial.slider.setValue(3)
    assert axial.slice_index == 3 and window.state.slice_index("axial") == 3
    assert "4 / 30" in axial.title_label.text()
    assert "z = " in axial.title_label.text()


def test_window_presets_and_shift_drag(qtbot, window, ct_volume):
    window.set_volume(ct_volume)
    axial = window.views["axial"]
    assert window.window_center_width == pytest.approx((40, 300))  # header default
    window.apply_preset("lung")
    assert tuple(axial.image_item.levels) == pytest.approx((-1350, 150))
    assert "W 1500  L -600" in axial.window_label.text()
    viewport = axial.canvas.viewport()
    cursor_before = window.cursor_world()
    left, shift = Qt.LeftButton, Qt.ShiftModifier
    _mouse(viewport, QEvent.MouseButtonPress, QPoint(200, 200), left, left, shift)
    for step in range(1, 6):
        _mouse(viewport, QEvent.MouseMove, QPoint(200 + 10 * step, 200), Qt.NoButton, left, shift)
    _mouse(viewport, QEvent.MouseButtonRelease, QPoint(250, 200), left, Qt.NoButton, shift)
    center, width = window.window_center_width
    assert width > 1500 and center == pytest.approx(-600)
    assert window.cursor_world() == pytest.approx(cursor_before)  # W/L drag is not a click
    assert f"W {width:.0f}" in axial.window_label.text()


def test_maximize_and_layouts(window, phantom):
    window.set_volume(phantom.volume())
    window.toggle_maximize("coronal")
    assert window.views["coronal"].isVisible() and not window.views["axial"].isVisible()
    window.toggle_maximize()
    assert all(v.isVisible() for v in window.views.values())
    window.set_layout_mode("1x3")
    assert window.image_dock.widget() is window.image_panel and window.image_dock.isVisible()
    window.set_layout_mode("2x2")
    assert window.image_panel.parent() is window.central


def test_load_in_worker_recent_files_and_errors(qtbot, window, tmp_path):
    folder = sample_path("ct_spleen_dicom")
    with qtbot.waitSignal(window.volume_changed, timeout=60000):
        assert window.open_path(folder)
    assert window.volume.shape == (512, 512, 20)
    assert window.recent.paths()[0] == str(folder.resolve())
    assert "CT" in window.info_panel.text()
    with qtbot.waitSignal(window.load_failed, timeout=10000) as blocker:
        window.open_path(tmp_path / "missing.nii.gz")
    assert "no such file" in blocker.args[0]
    assert window.volume is not None  # the previous volume stays


def test_close_guard_blocks_replacing_the_volume(qtbot, window, phantom, tmp_path):
    shown = phantom.volume()
    window.set_volume(shown)
    asked = []

    def refuse() -> bool:
        asked.append(True)
        return False

    window.add_close_guard(refuse)
    other = tmp_path / "other.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4)), other)
    assert window.open_path(other)
    qtbot.waitUntil(lambda: not window.is_loading() and bool(asked), timeout=20000)
    assert window.volume is shown  # the guard said no: the open volume stays

    asked.clear()  # a file that fails to open never asks and changes nothing
    with qtbot.waitSignal(window.load_failed, timeout=10000):
        window.open_path(tmp_path / "missing.nii.gz")
    assert asked == [] and window.volume is shown


def test_drop_a_file_opens_it(qtbot, window):
    path = sample_path("mr_abdomen.nii.gz")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.volume_changed, timeout=20000):
        window.dropEvent(event)
    assert window.volume.shape == (117, 91, 20)
    assert window.readout_panel.last_values["unit"] == ""  # MR: no HU


def test_shortcuts_dialog_lists_every_shortcut(qtbot, window):
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    table = dialog.findChild(type(dialog.children()[1]).__mro__[0], "shortcuts_table")
    assert table is not None and table.rowCount() == len(SHORTCUTS)


def test_drag_moves_cursor_and_right_drag_zooms_middle_drag_pans(window, phantom):
    window.set_volume(phantom.volume())
    axial = window.views["axial"]
    viewport = axial.canvas.viewport()
    left, right, middle = Qt.LeftButton, Qt.RightButton, Qt.MiddleButton
    start = axial.widget_pos_of_voxel((100, 100, axial.slice_index))
    end = axial.widget_pos_of_voxel((200, 150, axial.slice_index))
    _mouse(viewport, QEvent.MouseButtonPress, start, left, left)
    for t in np.linspace(0.1, 1.0, 8):
        point = QPoint(int(start.x() + t * (end.x() - start.x())),
                       int(start.y() + t * (end.y() - start.y())))
        _mouse(viewport, QEvent.MouseMove, point, Qt.NoButton, left)
    _mouse(viewport, QEvent.MouseButtonRelease, end, left, Qt.NoButton)
    assert window.views["sagittal"].slice_index == pytest.approx(200, abs=1)
    assert window.views["coronal"].slice_index == pytest.approx(150, abs=1)

    width_before = axial.box.viewRect().width()
    centre = QPoint(viewport.width() // 2, viewport.height() // 2)
    _mouse(viewport, QEvent.MouseButtonPress, centre, right, right)
    for dy in range(1, 6):
        _mouse(viewport, QEvent.MouseMove, centre - QPoint(0, 10 * dy), Qt.NoButton, right)
    _mouse(viewport, QEvent.MouseButtonRelease, centre - QPoint(0, 50), right, Qt.NoButton)
    assert axial.box.viewRect().width() < width_before * 0.8  # drag up magnifies

    rect_before = axial.box.viewRect()
    _mouse(viewport, QEvent.MouseButtonPress, centre, middle, middle)
    for dx in range(1, 6):
        _mouse(viewport, QEvent.MouseMove, centre + QPoint(10 * dx, 0), Qt.NoButton, middle)
    _mouse(viewport, QEvent.MouseButtonRelease, centre + QPoint(50, 0), middle, Qt.NoButton)
    rect_after = axial.box.viewRect()
    assert rect_after.width() == pytest.approx(rect_before.width())
    assert abs(rect_after.center().x() - rect_before.center().x()) > 1.0
    window.reset_views()
    assert axial.box.viewRect().width() >= width_before * 0.99


def test_linked_zoom_follows_in_other_views(window, phantom):
    window.set_volume(phantom.volume())
    window.act_link_zoom.setChecked(True)
    widths = {n: v.box.viewRect().width() for n, v in window.views.items()}
    axial = window.views["axial"]
    axial.box.zoom_about(2.0, axial.box.viewRect().center())
    for name, view in window.views.items():
        assert view.box.viewRect().width() == pytest.approx(widths[name] / 2, rel=0.05), name
