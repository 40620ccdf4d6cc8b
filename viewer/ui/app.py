"""The QApplication with SpleenScope's names, style sheet, icon and pyqtgraph options."""

from __future__ import annotations

import logging
import sys

import pyqtgraph as pg
from PyQt5.QtCore import qInstallMessageHandler
from PyQt5.QtGui import QIcon
from PyQt5.QtWidgets import QApplication

from viewer.package_data import resource_path, resources_dir
from viewer.ui.recent_files import APPLICATION, ORGANIZATION

#: Qt messages dropped: the offscreen platform prints this one for every window
#: that is shown or resized, and it means nothing for a screenshot.
SILENCED_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)
_message_filter_installed = False


def install_qt_message_filter() -> None:
    """Drop only :data:`SILENCED_QT_MESSAGES`; every other Qt message goes on to the
    handler that was there before (or to the log file)."""
    global _message_filter_installed
    if _message_filter_installed:
        return
    previous = None

    def handler(mode, context, message) -> None:
        if message in SILENCED_QT_MESSAGES:
            return
        if previous is not None:
            previous(mode, context, message)
        else:  # to the log file: on failure the CLI's stderr is one line
            logging.getLogger("qt").warning("%s", message)

    previous = qInstallMessageHandler(handler)
    _message_filter_installed = True


def configure_pyqtgraph() -> None:
    # col-major matches the (X, Y) slices numpy gives; no antialiasing of images.
    pg.setConfigOptions(imageAxisOrder="col-major", antialias=False, background="k")


def style_sheet() -> str:
    """The style sheet, with ``@RESOURCES@`` (images such as the check mark) made absolute."""
    path = resource_path("style.qss")
    if not path.exists():
        return ""
    return path.read_text(encoding="utf-8").replace("@RESOURCES@", resources_dir().as_posix())


def create_app(argv: list[str] | None = None) -> QApplication:
    """The one QApplication (reused when one exists, as under pytest-qt)."""
    install_qt_message_filter()
    configure_pyqtgraph()
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    icon = resource_path("icon.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def collect_garbage_on_the_gui_thread():
    """Run Python's cyclic garbage collector only on the GUI thread, for the app's life.

    Left automatic, a collection runs on whichever thread allocates, often a worker;
    if it frees a closed dialog's or window's Qt objects there, Qt crashes (a segfault
    or pyqtgraph items painted without their view). pyqtgraph's collector turns the
    automatic one off and collects on a GUI-thread timer with the same thresholds.
    Keep the returned object for as long as the application runs.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)
