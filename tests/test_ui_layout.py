"""Window layout with every extension installed, the series picker, the dark theme.

A clean default layout is wanted at 1600 x 1000 and at 1280 x 800 with all
docks the segmentation and training tools add; the series picker must show
what ``viewer.io.dicom_series.SeriesInfo`` knows about each series.

The key actions are checked on a real X screen of each size: the window opens as
``spleenscope view`` opens it, on a private Xvfb, in a child process (this file run
as a script, ``python -m tests.test_ui_layout``), which prints one JSON line of
what is where.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PyQt5.QtCore import QSettings
from PyQt5.QtWidgets import QDockWidget, QPushButton, QVBoxLayout, QWidget

from tests.conftest import REPO_ROOT, sample_path
from viewer.errors import SeriesSelectionError
from viewer.io import load_volume
from viewer.ui.app import create_app
from viewer.ui.dialogs import SeriesPickerDialog
from viewer.ui.histogram_panel import volume_histogram
from viewer.ui.main_window import MainWindow
from viewer.window_level import auto_window


@pytest.fixture
def full_window(qtbot, tmp_path):
    create_app()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings, with_tools=True)
    qtbot.addWidget(win)
    return win


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800), (1200, 800)])
def test_window_with_all_tools_keeps_the_requested_size(qtbot, full_window, size):
    full_window.resize(*size)
    full_window.show()
    qtbot.waitExposed(full_window)
    qtbot.wait(50)
    assert (full_window.width(), full_window.height()) == size
    docks = [d for d in full_window.findChildren(QDockWidget)
             if d.isVisible() and not d.visibleRegion().isEmpty()]  # raised tabs
    assert len(docks) >= 2  # the results tab group, the readout's tab group
    for dock in docks:
        assert dock.height() >= 60, dock.objectName()
        assert dock.width() >= 280, dock.objectName()
    # the views keep most of the window
    axial = full_window.views["axial"]
    assert axial.canvas.width() >= 0.3 * size[0], [
        (d.objectName(), d.geometry()) for d in docks]
    assert axial.canvas.height() >= 0.3 * size[1]


def test_series_picker_lists_two_series(qtbot, tmp_path):
    create_app()
    for name in ("mr4_anatomical", "sliceorientation"):
        shutil.copytree(sample_path(f"dicom_edge/{name}"), tmp_path / "study" / name)
    with pytest.raises(SeriesSelectionError) as caught:
        load_volume(tmp_path / "study")
    series = caught.value.series
    assert len(series) == 2
    dialog = SeriesPickerDialog(series, str(caught.value))
    qtbot.addWidget(dialog)
    rows = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert rows == [info.label() for info in series]
    for info, row in zip(series, rows, strict=True):
        assert f"{info.slices} slices" in row and f"{info.rows} x {info.columns}" in row
        assert info.orientation in row
    dialog.list.setCurrentRow(1)
    assert dialog.chosen_index() == series[1].index
    assert load_volume(tmp_path / "study", series=dialog.chosen_index()).shape[2] > 1


def test_histogram_and_auto_window_do_not_copy_a_fortran_volume():
    volume = np.asfortranarray(np.random.default_rng(0).integers(
        -1000, 1000, size=(256, 256, 400), dtype=np.int16))  # 52 MB
    tracemalloc.start()
    try:
        volume_histogram(volume)
        auto_window(volume)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.4 * volume.nbytes


def test_disabled_buttons_look_different_from_enabled(qtbot):
    create_app()
    box = QWidget()
    layout = QVBoxLayout(box)
    enabled, disabled = QPushButton("Segment"), QPushButton("Segment")
    disabled.setEnabled(False)
    layout.addWidget(enabled)
    layout.addWidget(disabled)
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)

    def fill(button):
        image = button.grab().toImage()
        colour = image.pixelColor(6, image.height() // 2)
        return np.array([colour.red(), colour.green(), colour.blue()], float)

    assert np.abs(fill(enabled) - fill(disabled)).sum() >= 30


def test_radio_indicators_show_state_and_enabled(qtbot):
    create_app()
    from PyQt5.QtWidgets import QRadioButton

    box = QWidget()
    layout = QVBoxLayout(box)
    radios = {}
    for checked in (True, False):
        for enabled in (True, False):
            radio = QRadioButton("Option")
            radio.setAutoExclusive(False)
            radio.setChecked(checked)
            radio.setEnabled(enabled)
            layout.addWidget(radio)
            radios[checked, enabled] = radio
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)

    def centre(radio):  # the indicator's middle: 2 px border + 6 px into a 12 px disc
        image = radio.grab().toImage()
        colour = image.pixelColor(8, image.height() // 2)
        return np.array([colour.red(), colour.green(), colour.blue()], float)

    assert np.abs(centre(radios[True, True]) - centre(radios[False, True])).sum() >= 100
    assert np.abs(centre(radios[True, True]) - centre(radios[True, False])).sum() >= 60


@pytest.mark.parametrize("layout", ["2x2", "1x3"])
def test_edge_letters_never_cover_the_captions(qtbot, full_window, layout):
    from viewer.phantom import make_phantom

    full_window.set_layout_mode(layout)
    full_window.resize(1280, 800)
    full_window.show()
    qtbot.waitExposed(full_window)
    full_window.set_volume(make_phantom().volume())
    qtbot.wait(50)
    for name, view in full_window.views.items():
        view.place_labels()
        letters = view.letter_labels
        assert not letters["top"].geometry().intersects(view.title_label.geometry()), name
        for caption in (view.window_label, view.pixel_label):
            assert not letters["bottom"].geometry().intersects(caption.geometry()), name


# ------------------------------------------------- the key actions on a real screen
#: What must be on screen without scrolling, by (dock, widget) as the probe names them.
KEY_WIDGETS = (
    "toolbar:Segment spleen", "toolbar:&Open file…",
    "Spleen:result_volume", "Spleen:result_flag", "Spleen:result_source",
    "Review:review_load_reference", "Review:review_open_prediction",
    "Review:review_next_worst",
    "Segmentation:segment_button",
    "Under the mouse:readout_text",
)


@pytest.mark.parametrize("screen", [(1280, 800), (1600, 1000)])
def test_key_actions_are_on_screen_without_scrolling(tmp_path, screen):
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt-get install xvfb)")
    from pyvirtualdisplay import Display

    with Display(backend="xvfb", size=screen, color_depth=24,
                 manage_global_env=False) as display:
        env = {**os.environ, "DISPLAY": display.new_display_var, "QT_QPA_PLATFORM": "xcb",
               "PYTHONPATH": str(REPO_ROOT), "SPLEENSCOPE_HOME": str(tmp_path / "home"),
               "XDG_CONFIG_HOME": str(tmp_path / "config")}
        env.pop("XAUTHORITY", None)
        done = subprocess.run([sys.executable, "-m", "tests.test_ui_layout"],
                              env=env, capture_output=True, text=True, timeout=120,
                              cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    width, height = seen["window"][2:]
    assert width <= screen[0] and height <= screen[1]
    # the results and the readout are whole: their docks do not scroll
    assert seen["scrolls"] == {"Spleen": False, "Under the mouse": False}, seen["scrolls"]
    missing = {name: place for name, place in seen["widgets"].items() if place != "on screen"}
    assert not missing and sorted(seen["widgets"]) == sorted(KEY_WIDGETS), missing
    assert seen["views_share"] >= 0.55  # the views keep most of the window


def _probe() -> dict:
    """The window as ``spleenscope view`` opens it on this screen, the sample CT and
    its label as the prediction (so the Spleen panel is as full as after Segment);
    where each key widget is: "on screen", or why not."""
    import time

    from PyQt5.QtCore import QPoint, QRect
    from PyQt5.QtWidgets import QApplication, QScrollArea

    from viewer.phantom import make_phantom
    from viewer.ui.background import wait_for_all

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    app = create_app()
    settings = QSettings(str(os.environ["SPLEENSCOPE_HOME"]) + "/settings.ini",
                         QSettings.IniFormat)
    window = MainWindow(settings=settings, with_tools=True)
    window.headless = True  # no dialogs (recovery, unsaved mask) on this screen
    window.place_on_screen()
    window.show()
    wait(1.0)
    try:
        volume = load_volume(sample_path("ct_spleen_dicom"))
        mask = np.asarray(load_volume(sample_path("ct_spleen_dicom_label.nii.gz")).array) > 0
    except pytest.skip.Exception:  # no sample data: the phantom and its own spleen
        phantom = make_phantom()
        volume, mask = phantom.volume(), phantom.canonical_mask() > 0
    window.set_volume(volume)
    window.tools.mask_session.set_prediction(mask.astype(np.uint8), source="model",
                                             name="spleen_unet2d (bundled)", device="CPU")
    wait(1.0)
    screen = app.primaryScreen().availableGeometry()
    docks = {dock.windowTitle(): dock for dock in window.findChildren(QDockWidget)}

    def place(widget) -> str:
        if not widget.isVisible():
            return "hidden"
        corners = QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())
        if not screen.contains(corners):
            return f"off screen {corners.getRect()}"
        area = widget.parent()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parent()
        if area is not None:
            viewport = QRect(area.viewport().mapToGlobal(QPoint(0, 0)), area.viewport().size())
            if not viewport.contains(corners):
                return f"scrolled away {corners.getRect()} in {viewport.getRect()}"
        return "on screen"

    widgets = {}
    for key in KEY_WIDGETS:
        dock_title, name = key.split(":", 1)
        if dock_title == "toolbar":
            action = next(a for a in window.toolbar.actions() if a.text() == name)
            widgets[key] = place(window.toolbar.widgetForAction(action))
            continue
        dock = docks[dock_title]
        dock.raise_()  # a tab the user clicks
        wait(0.3)
        widgets[key] = place(dock.findChild(QWidget, name))
    scrolls = {}
    for title in ("Spleen", "Under the mouse"):
        docks[title].raise_()
        wait(0.3)
        area = docks[title].widget()
        scrolls[title] = bool(area.verticalScrollBar().maximum()
                              or area.horizontalScrollBar().maximum())
    views = window.centralWidget()
    wait_for_all()
    return {"window": window.frameGeometry().getRect(), "widgets": widgets,
            "scrolls": scrolls, "views_share": views.width() / window.width()}


if __name__ == "__main__":
    print(json.dumps(_probe()))
