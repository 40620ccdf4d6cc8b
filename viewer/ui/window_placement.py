"""Where the main window opens and what it remembers between runs.

The first time, the window takes at most 90 % of the screen's available area (and
no more than 1600 x 1000), centred, so the docks and the status bar of a 1280 x 800
laptop are on screen. On closing it stores its size, position and dock layout in
QSettings; the next run restores them when they still fit the screen (a laptop
that was on a large monitor last time gets the fitted size instead).
"""

from __future__ import annotations

from PyQt5.QtCore import QRect, QSettings, QSize
from PyQt5.QtGui import QGuiApplication
from PyQt5.QtWidgets import QMainWindow

GEOMETRY_KEY = "window/geometry"
DOCKS_KEY = "window/docks"
#: bump when the docks change so much that an old saved layout must not be applied
DOCK_LAYOUT_VERSION = 2  # 2: two tab groups in the right column
LARGEST_SIZE = QSize(1600, 1000)
SCREEN_SHARE = 0.9


def fitting_size(available: QRect) -> QSize:
    """The opening size for a screen whose free area is ``available``."""
    return QSize(min(LARGEST_SIZE.width(), int(available.width() * SCREEN_SHARE)),
                 min(LARGEST_SIZE.height(), int(available.height() * SCREEN_SHARE)))


def _available(window: QMainWindow) -> QRect:
    screen = window.screen() if hasattr(window, "screen") else None
    screen = screen or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def place_on_screen(window: QMainWindow, settings: QSettings) -> bool:
    """Restore the saved size, position and dock layout, or fit the screen.

    Returns True when the saved geometry was restored."""
    available = _available(window)
    saved = settings.value(GEOMETRY_KEY)
    restored = bool(saved) and window.restoreGeometry(saved) and available.contains(
        window.geometry())
    if not restored:
        size = fitting_size(available)
        window.resize(size)
        frame = QRect(0, 0, size.width(), size.height())
        frame.moveCenter(available.center())
        window.move(frame.topLeft())
    docks = settings.value(DOCKS_KEY)
    if docks:
        window.restoreState(docks, DOCK_LAYOUT_VERSION)
    return restored


def remember(window: QMainWindow, settings: QSettings) -> None:
    """Store the window's size, position and dock layout for the next run."""
    settings.setValue(GEOMETRY_KEY, window.saveGeometry())
    settings.setValue(DOCKS_KEY, window.saveState(DOCK_LAYOUT_VERSION))
    settings.sync()
