"""Runs the real window on a real X screen and prints one JSON line of what the
screen shows (see ``tests/screen_support.py``, which starts the X server).

Checks (first argument):

- ``ghosts``: the sample CT, the crosshair dragged across the axial view in twelve
  steps; for the coronal and sagittal views, the line-coloured columns in the black
  band above the image, read back from the X server.
- ``fit``: the window as ``spleenscope view`` opens it, with every tool; its frame,
  the status bar and the docks against the screen's available area.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _wait(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _screen_pixels(app) -> np.ndarray:
    """The whole X screen as an (H, W, 3) uint8 array, read from the server."""
    from PyQt5.QtGui import QImage

    image = app.primaryScreen().grabWindow(0).toImage().convertToFormat(QImage.Format_RGB888)
    pointer = image.constBits()
    pointer.setsize(image.byteCount())
    rows = np.frombuffer(pointer, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _runs(flags: np.ndarray) -> list[int]:
    """Start index of each run of True in a 1-D array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    return [int(i) for i in np.flatnonzero(np.diff(padded) == 1)]


def _band_above_image(view) -> tuple[int, int, int, int, float]:
    """Global (left, right, top, bottom) of the black band between the view's top
    labels and its image, and the crosshair's vertical line x (global)."""
    import pyqtgraph as pg
    from PyQt5.QtCore import QPoint

    canvas = view.canvas
    rect = view.image_item.mapRectToScene(view.image_item.boundingRect())
    image_top = min(
        canvas.mapFromScene(rect.topLeft()).y(), canvas.mapFromScene(rect.bottomLeft()).y()
    )
    origin = canvas.mapToGlobal(QPoint(0, 0))
    top = (
        origin.y()
        + max(label.geometry().bottom() for label in (view.title_label, view.letter_labels["top"]))
        + 6
    )
    bottom = origin.y() + image_top - 4
    line_x = canvas.mapFromScene(view.box.mapViewToScene(pg.Point(view.vline.value(), 0))).x()
    return origin.x() + 4, origin.x() + canvas.width() - 4, top, bottom, origin.x() + line_x


def check_ghosts(app) -> dict:
    from tests.conftest import sample_data_dir
    from viewer.io import load_volume
    from viewer.ui.main_window import MainWindow

    window = MainWindow(with_tools=False)
    window.move(0, 0)
    window.resize(1600, 1000)
    window.show()
    _wait(app, 0.5)
    window.set_volume(load_volume(sample_data_dir() / "ct_spleen_dicom"))
    _wait(app, 0.5)
    state = window.state
    start = state.cursor_voxel
    for step in range(1, 13):  # a drag: the cursor crosses the axial slice
        state.set_cursor_voxel(start + np.array([14.0 * step, 9.0 * step, 0.0]))
        _wait(app, 0.06)
    _wait(app, 0.5)
    pixels = _screen_pixels(app)
    found = {}
    for name in ("coronal", "sagittal"):
        left, right, top, bottom, line_x = _band_above_image(window.views[name])
        band = pixels[top:bottom, left:right].astype(int)
        lit = band.max(axis=2) > 60  # the band is black but for crosshair lines
        columns = lit.mean(axis=0) > 0.9  # a line runs the whole band's height
        found[name] = {
            "band_rows": int(bottom - top),
            "line_columns": [left + x for x in _runs(columns)],
            "crosshair_x": round(float(line_x), 1),
        }
    window.close()
    return found


def check_fit(app) -> dict:
    from PyQt5.QtWidgets import QDockWidget

    from viewer.ui.main_window import MainWindow

    window = MainWindow()
    window.fit_to_screen()
    window.show()
    _wait(app, 1.0)
    available = app.primaryScreen().availableGeometry()
    frame = window.frameGeometry()
    status = window.statusBar()
    status_bottom = status.mapToGlobal(status.rect().bottomRight())
    docks = [dock for dock in window.findChildren(QDockWidget) if dock.isVisible()]
    outside = [
        dock.windowTitle()
        for dock in docks
        if not available.contains(dock.mapToGlobal(dock.rect().bottomRight()))
    ]
    result = {
        "available": [available.width(), available.height()],
        "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
        "status_bar_bottom": [status_bottom.x(), status_bottom.y()],
        "status_bar_on_screen": available.contains(status_bottom),
        "docks_off_screen": outside,
    }
    window.close()
    return result


def main(argv: list[str]) -> int:
    from viewer.ui.app import create_app

    app = create_app()
    checks = {"ghosts": check_ghosts, "fit": check_fit}
    print(json.dumps(checks[argv[0]](app)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
