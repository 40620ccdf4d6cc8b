"""The SpleenScope main window, the shell: three linked views, the image, readout
and overlay panels, the status bar, close guards; the tools around it are built
in :mod:`viewer.ui.wiring`. Its parts, one module each:

- :mod:`viewer.ui.document_display`: shows :class:`viewer.document.Document` (the
  open study) in the views and panels, and changes it for the tools;
- :mod:`viewer.ui.window_loading`: opening files in the background, drag and drop;
- :mod:`viewer.ui.window_layout`: view layouts, maximize, docks, screen placement;
- :mod:`viewer.ui.window_menus`: menus, actions, status bar, Open dialogs.

Public API (the tools built in :mod:`viewer.ui.wiring` code against it, and only it):

- ``open_path(path, series=None)`` loads in a worker thread; ``set_volume(volume)``
  shows a loaded :class:`~viewer.volume.Volume` at once; ``.volume``.
- ``.overlays`` (:class:`~viewer.overlays.OverlayStack`), ``set_overlay(layer)``,
  ``remove_overlay(name)``, ``refresh_overlays()``, ``open_mask(path)``.
- ``set_cursor_world(xyz)``, ``cursor_world()``, ``go_to_slice(view, index)``.
- ``add_dock(widget, title, area)``, ``menu(title)``, ``add_file_action(action)``,
  ``ask_open_file(caption, filters)`` (an Open dialog that starts where the user was),
  ``.toolbar``.
- ``.document``: the open study (:class:`viewer.document.Document`, Qt-free): an
  in-place label edit is announced there (``document.edit_labels(names, region)``).
- ``.tools``: the :class:`~viewer.ui.wiring.Tools` the window was built with.
- ``add_close_guard(callable)``, ``save_screenshot(path)``, ``place_on_screen()``.
- ``add_drag_tool(action)``: a checkable action that takes the plain left drag
  (ruler, paint, erase); switching one on switches the others off.
- ``mask_sources``: layer name -> the file ``open_mask`` read it from.
- signals ``volume_changed(object)``, ``cursor_moved(object)``, ``load_failed(str)``,
  ``overlays_changed()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PyQt5.QtCore import QSettings, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAction,
    QApplication,
    QBoxLayout,
    QDockWidget,
    QGridLayout,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QWidget,
)

from viewer.document import Document
from viewer.slicing import VIEW_NAMES
from viewer.ui import window_placement
from viewer.ui.background import BackgroundTask
from viewer.ui.document_display import DocumentDisplay
from viewer.ui.histogram_panel import HistogramPanel
from viewer.ui.info_panel import InfoPanel
from viewer.ui.overlay_panel import OverlayPanel
from viewer.ui.readout_panel import ReadoutPanel
from viewer.ui.recent_files import RecentFiles
from viewer.ui.slice_view import SliceView
from viewer.ui.window_layout import WindowLayout
from viewer.ui.window_loading import WindowLoading
from viewer.ui.window_menus import WindowMenus
from viewer.ui.wiring import Tools, build_tools
from viewer.window_level import window_from_levels

log = logging.getLogger(__name__)


class MainWindow(DocumentDisplay, WindowLoading, WindowLayout, WindowMenus,
                 QMainWindow):
    volume_changed = pyqtSignal(object)  # Volume or None
    cursor_moved = pyqtSignal(object)  # np.ndarray, RAS mm
    load_failed = pyqtSignal(str)
    overlays_changed = pyqtSignal()

    def __init__(
        self,
        settings: QSettings | None = None,
        with_tools: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("SpleenScope")
        self.setObjectName("main_window")
        self.setAcceptDrops(True)
        #: the open study (Qt-free, evented): views and panels follow its events
        self.document = Document()
        self.recent = RecentFiles(settings)
        self.layout_mode = "2x2"
        self.maximized_view: str | None = None
        self.active_view = "axial"
        self.last_error: str = ""
        #: When true (CLI --screenshot), problems are reported by signal, never by dialogs.
        self.headless = False
        self._close_guards: list[Callable[[], bool]] = []
        self._loading: BackgroundTask | None = None  # the running load
        self._check_guards = True  # the running load asks the close guards
        self._pending_load: tuple | None = None  # (path, series, check_guards)
        self._value_unit = ""
        self._value_span = 1000.0
        self._hovering = False
        self._dialogs: list[QWidget] = []

        self.views = {name: SliceView(name) for name in VIEW_NAMES}
        for view in self.views.values():
            view.activated.connect(self._view_activated)
            view.maximize_requested.connect(self.toggle_maximize)
            view.hovered_voxel.connect(self._hovered)
            view.window_dragged.connect(self._window_dragged)
            view.zoomed.connect(self._view_zoomed)

        self.histogram_panel = HistogramPanel()
        self.histogram_panel.levels_dragged.connect(
            lambda low, high: self.set_window(*window_from_levels(low, high))
        )
        self.histogram_panel.preset_chosen.connect(self.apply_preset)
        self.histogram_panel.lookup_table_changed.connect(self._lookup_table_changed)
        self.info_panel = InfoPanel()
        self.readout_panel = ReadoutPanel()
        self.overlay_panel = OverlayPanel()
        self.overlay_panel.changed.connect(self._overlay_settings_changed)

        self.image_panel = QWidget()
        self.image_panel.setObjectName("image_panel")
        panel_layout = QBoxLayout(QBoxLayout.TopToBottom, self.image_panel)
        self._panel_layout = panel_layout
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.histogram_panel, 3)
        panel_layout.addWidget(self.info_panel, 2)

        self.central = QWidget()
        self.grid = QGridLayout(self.central)
        self.grid.setContentsMargins(2, 2, 2, 2)
        self.grid.setSpacing(3)
        self.setCentralWidget(self.central)

        # the right column of docks runs the full height; in the 1 x 3 layout the
        # image panel (histogram + info) sits under the views, where a row of tall
        # views leaves room, instead of squeezing the right column
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.image_dock = QDockWidget("Image", self)
        self.image_dock.setObjectName("dock_image")
        self.addDockWidget(Qt.BottomDockWidgetArea, self.image_dock)
        self.readout_dock = self.add_dock(self.readout_panel, "Under the mouse")
        self.overlay_dock = self.add_dock(self.overlay_panel, "Mask overlay")

        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("toolbar_main")
        self.toolbar.setMovable(False)
        self.addToolBar(Qt.TopToolBarArea, self.toolbar)
        self._build_actions()
        self._build_status_bar()
        self._follow_document()
        self.set_layout_mode("2x2")
        self.resize(1600, 1000)

        #: the tools built around this shell (empty with ``with_tools=False``)
        self.tools = build_tools(self) if with_tools else Tools()
        if self.tools.failed:
            self.statusBar().showMessage(
                f"Some tools failed to load: {', '.join(self.tools.failed)}")
        self._arrange_docks()

    def add_close_guard(self, guard: Callable[[], bool]) -> None:
        """``guard()`` runs before the window closes or another volume replaces this
        one; returning False cancels (e.g. after an unsaved-mask prompt)."""
        self._close_guards.append(guard)

    def add_drag_tool(self, action: QAction) -> None:
        """Make the checkable ``action`` one of the left-drag tools (ruler, brushes):
        at most one is on, so a drag never both measures and paints."""
        self.drag_tools.addAction(action)

    def _guards_allow(self) -> bool:
        return all(guard() for guard in list(self._close_guards))

    def set_measure_mode(self, on: bool) -> None:
        """Ruler mode: a left drag in any view draws a distance line (mm) on that
        slice instead of moving the crosshair; a click still moves it."""
        for view in self.views.values():
            view.box.measure_mode = bool(on)
        if self.act_measure.isChecked() != bool(on):
            self.act_measure.setChecked(bool(on))
        self.statusBar().showMessage(
            "Ruler: drag in a view to measure; drag the ends to adjust; Shift+D clears"
            if on else "", 5000)

    def clear_rulers(self) -> None:
        for view in self.views.values():
            view.clear_rulers()

    def reset_views(self) -> None:
        for view in self.views.values():
            view.reset_zoom()

    def _view_activated(self, name: str) -> None:
        self.active_view = name

    def _view_zoomed(self, source: str, factor: float) -> None:
        if self.state is None or not self.state.zoom_linked:
            return
        for name, view in self.views.items():
            if name == source:
                continue
            u, v = view.view_point_of_voxel(self.state.cursor_voxel)
            view.box.scaleBy((1.0 / factor, 1.0 / factor), center=(u, v))

    def show_error(self, message: str, title: str = "Could not open") -> None:
        """A dialog that does not block the event loop (the window stays usable)."""
        self.last_error = message
        log.info("error shown to the user: %s", message)
        if self.headless:
            return
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setObjectName("error_box")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def save_screenshot(self, path: str | Path) -> bool:
        """Grab the whole window (menus, views, panels) to a PNG."""
        QApplication.processEvents()
        pixmap = self.grab()
        ok = pixmap.save(str(path))
        if not ok:
            log.warning("could not write screenshot %s", path)
        return ok

    def closeEvent(self, event) -> None:
        if not self._guards_allow():
            event.ignore()
            return
        if self.is_loading():
            self._loading.wait(10000)
        if not self.headless:
            window_placement.remember(self, self.recent.settings)
        super().closeEvent(event)
