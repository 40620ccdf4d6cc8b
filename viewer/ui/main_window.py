"""The SpleenScope main window: three linked views, panels, menus, loading.

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

import numpy as np
from PyQt5.QtCore import QSettings, Qt, pyqtSignal
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QApplication,
    QBoxLayout,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QToolBar,
    QWidget,
)

from viewer.document import Document, region_crosses_slice
from viewer.errors import SeriesSelectionError, SpleenScopeError
from viewer.io.dicom_seg import seg_label_colors, seg_label_names
from viewer.io.file_names import open_dialog_filter, stem_of
from viewer.overlays import (
    OverlayLayer,
    OverlayStack,
    colors_for_names,
    guess_label_names,
    load_mask_for_volume,
    present_labels,
)
from viewer.slicing import SLICE_AXIS, VIEW_NAMES
from viewer.ui import window_placement
from viewer.ui.background import BackgroundTask, is_alive, report_progress, run_in_background
from viewer.ui.dialogs import SeriesPickerDialog, ShortcutsDialog
from viewer.ui.histogram_panel import HistogramPanel
from viewer.ui.info_panel import InfoPanel
from viewer.ui.overlay_panel import OverlayPanel
from viewer.ui.readout_panel import ReadoutPanel, readout_values
from viewer.ui.recent_files import RecentFiles
from viewer.ui.slice_view import SliceView
from viewer.ui.wiring import Tools, build_tools
from viewer.view_state import ViewState
from viewer.volume import Volume
from viewer.window_level import (
    auto_window,
    default_window,
    drag_window,
    levels_from_window,
    load_presets,
    looks_like_ct,
    preset_by_key,
    window_from_levels,
)

log = logging.getLogger(__name__)

LAYOUTS = ("2x2", "1x3")
#: Grid cells of the views in the 2 x 2 layout; the image panel takes (1, 1).
GRID_2X2 = {"axial": (0, 0), "coronal": (0, 1), "sagittal": (1, 0)}
FILE_FILTER = open_dialog_filter("Images")
MASK_FILTER = open_dialog_filter("Label maps")


class MainWindow(QMainWindow):
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

        self._core_docks = {self.image_dock, self.readout_dock, self.overlay_dock}
        #: the tools built around this shell (empty with ``with_tools=False``)
        self.tools = build_tools(self) if with_tools else Tools()
        if self.tools.failed:
            self.statusBar().showMessage(
                f"Some tools failed to load: {', '.join(self.tools.failed)}")
        self._arrange_docks()

    # ================================================================ public API
    def add_dock(
        self, widget: QWidget, title: str, area: Qt.DockWidgetArea = Qt.RightDockWidgetArea
    ) -> QDockWidget:
        """Put ``widget`` in a dock (stacked in ``area``; see :meth:`_arrange_docks`).

        The widget sits in a frameless scroll area, so a tall panel scrolls instead
        of raising the window's minimum height (a 1280 x 800 screen, or a
        ``--size`` screenshot, must still fit every panel the tools add).
        """
        dock = QDockWidget(title, self)
        dock.setObjectName("dock_" + "".join(c if c.isalnum() else "_" for c in title.lower()))
        dock.setWidget(_scrolling(widget))
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        if hasattr(self, "_docks_menu"):
            self._docks_menu.addAction(dock.toggleViewAction())
        return dock

    def _arrange_docks(self) -> None:
        """Default layout of the right column: the readout alone on top, the mask
        overlay (tabbed with whatever a tool tabbed onto it), then the docks
        the tools added on their own, tabbed together so that each group keeps
        a usable height at 1280 x 800."""
        right = [dock for dock in self.findChildren(QDockWidget)
                 if dock not in self._core_docks and not dock.isFloating()
                 and self.dockWidgetArea(dock) == Qt.RightDockWidgetArea]
        grouped = set(self.tabifiedDockWidgets(self.overlay_dock))
        loose = [dock for dock in right if dock not in grouped]
        for dock in loose[1:]:
            self.tabifyDockWidget(loose[0], dock)
        if loose:
            loose[0].raise_()
        self.overlay_dock.raise_()
        self._dock_column = [self.readout_dock, self.overlay_dock, *loose[:1]]
        self._docks_sized = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", True):
            # sizes only stick once the window has its size: readout and overlay
            # get what they need, the tools' tab group takes the rest
            self._docks_sized = True
            column = self._dock_column
            width = 340 if self.width() >= 1400 else 300
            self.resizeDocks(column, [width] * len(column), Qt.Horizontal)
            heights = [170, 330, max(self.height() - 640, 120)][: len(column)]
            self.resizeDocks(column, heights, Qt.Vertical)

    def menu(self, title: str) -> QMenu:
        """The top-level menu called ``title`` (created before Help if missing)."""
        plain = title.replace("&", "")
        for action in self.menuBar().actions():
            if action.menu() is not None and action.text().replace("&", "") == plain:
                return action.menu()
        menu = QMenu(title, self)
        help_action = getattr(self, "_help_menu", None)
        if help_action is not None:
            self.menuBar().insertMenu(help_action.menuAction(), menu)
        else:
            self.menuBar().addMenu(menu)
        return menu

    def add_file_action(self, action: QAction) -> None:
        """List ``action`` in the File menu after the Open actions (a tool's dialog:
        open from PACS, import images, ...)."""
        self._file_menu.insertAction(self._file_tools_end, action)

    def ask_open_file(self, caption: str, filters: str) -> str:
        """An Open dialog that starts where the user last was (not the program's
        folder); the chosen path ("" when cancelled)."""
        path, _ = QFileDialog.getOpenFileName(self, caption, self.recent.start_folder(),
                                              filters)
        if path:
            self.recent.remember_folder(path)
        return path

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

    def open_path(self, path, series: int | None = None, check_guards: bool = True) -> bool:
        """Load a file, folder or list of DICOM files in a worker thread.

        Returns False when a load is already running. The close guards (unsaved
        edits: Save / Discard / Cancel) are asked once the new volume has loaded,
        just before it replaces the open one, so a file that fails to open changes
        nothing the user had. ``volume_changed`` fires when the volume is shown;
        ``load_failed`` on errors.
        """
        if self.is_loading():
            self.statusBar().showMessage("Still loading the previous input…", 3000)
            return False

        def arrived(result) -> None:
            if isinstance(result, SeriesSelectionError):
                self._load_error(path, result)  # several series: the user picks one
            else:
                self._loaded(path, result, check_guards)

        task = run_in_background(
            self, lambda: _load(path, series), arrived,
            lambda message: self._load_error(path, SpleenScopeError(message)),
            on_progress=lambda done_total: self._load_progress(*done_total))
        task.finished.connect(self._load_finished)
        self._loading = task
        self._check_guards = check_guards
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        name = Path(path[0]).parent.name if isinstance(path, (list, tuple)) else Path(path).name
        self.status_text.setText(f"Loading {name}…")
        return True

    def is_loading(self) -> bool:
        return is_alive(self._loading) and self._loading.isRunning()

    # ------------------------------------------------ the document, shown
    # The open study lives in ``self.document`` (viewer/document.py, Qt-free); these
    # read it, the methods below change it, and the ``_shown_*`` handlers bring the
    # views and panels in line with its events and re-emit them as Qt signals.
    @property
    def volume(self) -> Volume | None:
        return self.document.volume

    @property
    def state(self) -> ViewState | None:
        return self.document.state

    @property
    def overlays(self) -> OverlayStack:
        return self.document.overlays

    @property
    def mask_sources(self) -> dict[str, Path]:
        """overlay layer name -> the file ``open_mask`` read it from"""
        return self.document.mask_sources

    @property
    def notices(self) -> list[str]:
        return self.document.notices

    @property
    def window_center_width(self) -> tuple[float, float]:
        center, width, _preset = self.document.window
        return center, width

    def _follow_document(self) -> None:
        document = self.document
        document.volume_changed.connect(self._shown_volume)
        document.overlays_changed.connect(self._shown_overlays)
        document.labels_edited.connect(self._shown_label_edit)
        document.cursor_moved.connect(self._shown_cursor)
        document.view_options_changed.connect(self._shown_view_options)
        document.window_changed.connect(self._shown_window)
        document.notices_changed.connect(
            lambda notices: self.info_panel.show_volume(self.volume, notices))

    def set_volume(self, volume: Volume | None) -> None:
        """Show ``volume`` now (replacing any other and dropping its overlays)."""
        self.document.set_volume(volume, radiological=self.act_radiological.isChecked(),
                                 crosshair_visible=self.act_crosshair.isChecked(),
                                 zoom_linked=self.act_link_zoom.isChecked())

    def _shown_volume(self, volume: Volume | None) -> None:
        if volume is None:
            for view in self.views.values():
                view.set_volume(None, np.eye(4), None)
            self.histogram_panel.set_volume_array(None)
            self.info_panel.show_volume(None)
            self.setWindowTitle("SpleenScope")
            self._shown_overlays()
            self.volume_changed.emit(None)
            return
        is_ct = looks_like_ct(volume)
        self._value_unit = "HU" if is_ct else ""
        low, high = volume.value_range
        self._value_span = max(high - low, 1.0)
        for preset_action in self._preset_actions:
            preset_action.setEnabled(True)
        for view in self.views.values():
            view.set_volume(volume.array, volume.affine, self.state)
            view.set_crosshair_visible(self.state.crosshair_visible)
        self.histogram_panel.set_volume_array(volume.array)
        self.apply_preset("header")
        self.info_panel.show_volume(volume)
        self.setWindowTitle(f"SpleenScope — {volume.description or 'volume'}")
        self._shown_overlays()
        self.volume_changed.emit(volume)

    # ---------------------------------------------------------------- overlays
    def set_overlay(self, layer: OverlayLayer) -> None:
        """Add or replace (by name) an overlay layer and draw it."""
        self.document.add_overlay(layer)

    def remove_overlay(self, name: str) -> None:
        self.document.remove_overlay(name)

    def refresh_overlays(self) -> None:
        """Redraw all overlays after their labels changed in place."""
        self.document.relabelled()

    def open_mask(self, path: str | Path, name: str | None = None) -> OverlayLayer:
        """Load a label file onto the volume's grid and show it as an overlay.

        Raises :class:`SpleenScopeError` (unreadable file, no overlap) for callers
        to report; the menu action shows it in a dialog.
        """
        if self.volume is None:
            raise SpleenScopeError("open an image before its mask")
        labels, notice = load_mask_for_volume(path, self.volume)
        present = present_labels(labels)
        modality = self.volume.modality or ("CT" if looks_like_ct(self.volume) else "MR")
        names = seg_label_names(path) or guess_label_names(present, modality)
        layer = OverlayLayer(
            name=name or stem_of(path),
            labels=labels,
            colors={**colors_for_names(names), **seg_label_colors(path)},
            label_names=names,
            opacity=0.5,
        )
        self.document.add_overlay(layer, source=path)
        if notice:
            self.document.add_notice(notice)
            self.statusBar().showMessage(notice, 10000)
        return layer

    def _shown_overlays(self) -> None:
        document = self.document
        pairs = [(layer, document.renderers[layer.name]) for layer in document.overlays]
        for view in self.views.values():
            view.set_overlays(pairs)
        self.overlay_panel.set_stack(document.overlays, document.label_volumes)
        self._show_cursor_readout()
        self.overlays_changed.emit()

    def _shown_label_edit(self, _names, region) -> None:
        """Labels changed in place inside ``region``: re-render the views whose
        slice crosses it (their overlay images only: a brush keeps up with the hand)."""
        for view in self.views.values():
            if view.state is not None and region_crosses_slice(
                    region, SLICE_AXIS[view.view], view.slice_index):
                view.render_overlays()

    def _overlay_settings_changed(self) -> None:
        for view in self.views.values():
            view.render_overlays()
        self._show_cursor_readout()

    def set_overlays_visible(self, visible: bool) -> None:
        for layer in self.overlays:
            layer.visible = visible
        self.overlay_panel.set_stack(self.overlays, self.document.label_volumes)
        self._overlay_settings_changed()

    def toggle_overlays(self) -> None:
        self.set_overlays_visible(not any(layer.visible for layer in self.overlays))

    def toggle_outline(self) -> None:
        layers = list(self.overlays)
        mode = "fill" if layers and all(la.mode == "outline" for la in layers) else "outline"
        for layer in layers:
            layer.mode = mode
        self.overlay_panel.set_stack(self.overlays, self.document.label_volumes)
        self._overlay_settings_changed()

    # ------------------------------------------------------------------ cursor
    def set_cursor_world(self, xyz) -> None:
        if self.state is not None:
            self.state.set_cursor_world(np.asarray(xyz, float))

    def cursor_world(self) -> np.ndarray | None:
        return None if self.state is None else self.state.cursor_world

    def go_to_slice(self, view_name: str, index: int) -> None:
        if self.state is not None:
            self.state.set_slice(view_name, index)

    def _shown_cursor(self, world) -> None:
        for view in self.views.values():
            view.refresh()
        if not self._hovering:
            self._show_cursor_readout()
        self.cursor_moved.emit(world)

    def _shown_view_options(self, what: str) -> None:
        if what == "orientation":
            for view in self.views.values():
                view.apply_orientation()
                view.refresh(force=True)
        elif what == "crosshair":
            for view in self.views.values():
                view.set_crosshair_visible(self.state.crosshair_visible)

    # ----------------------------------------------------------- window/level
    def set_window(self, center: float, width: float, preset_key: str | None = None) -> None:
        """Display window of all three views, in the volume's units (HU for CT)."""
        self.document.set_window(center, width, preset_key)

    def _shown_window(self, center: float, width: float, preset_key: str | None) -> None:
        levels = levels_from_window(center, width)
        for view in self.views.values():
            view.set_levels(levels, (center, width))
        self.histogram_panel.show_window(center, width, preset_key)
        self.wl_status.setText(f"W {width:.0f}  L {center:.0f}")

    def apply_preset(self, key: str) -> None:
        """``key``: a preset from resources/window_presets.json, ``header`` or ``auto``."""
        if self.volume is None:
            return
        if key == "header":
            center, width = default_window(self.volume)
        elif key == "auto":
            center, width = auto_window(self.volume.array)
        else:
            preset = preset_by_key(key)
            center, width = preset.center, preset.width
        self.set_window(center, width, preset_key=key)

    def _window_dragged(self, dx: float, dy: float) -> None:
        center, width = drag_window(*self.window_center_width, dx, dy, self._value_span)
        self.set_window(center, width)

    def _lookup_table_changed(self, lut) -> None:
        for view in self.views.values():
            view.set_lookup_table(lut)

    # ----------------------------------------------------------------- layout
    def set_layout_mode(self, mode: str) -> None:
        """``"2x2"`` (views + image panel in the fourth cell) or ``"1x3"`` (a row)."""
        if mode not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        self.layout_mode = mode
        self.maximized_view = None
        for widget in (*self.views.values(), self.image_panel):
            self.grid.removeWidget(widget)
        for row in range(3):
            self.grid.setRowStretch(row, 0)
        for column in range(3):
            self.grid.setColumnStretch(column, 0)
        self._panel_layout.setDirection(
            QBoxLayout.TopToBottom if mode == "2x2" else QBoxLayout.LeftToRight)
        if mode == "2x2":
            if self.image_dock.widget() is self.image_panel:
                self.image_dock.setWidget(QWidget())  # take the panel back from the dock
            for name, (row, column) in GRID_2X2.items():
                self.grid.addWidget(self.views[name], row, column)
            self.grid.addWidget(self.image_panel, 1, 1)
            self.image_dock.hide()
            for i in range(2):
                self.grid.setRowStretch(i, 1)
                self.grid.setColumnStretch(i, 1)
        else:
            for column, name in enumerate(VIEW_NAMES):
                self.grid.addWidget(self.views[name], 0, column)
                self.grid.setColumnStretch(column, 1)
            self.grid.setRowStretch(0, 1)
            self.image_dock.setWidget(self.image_panel)
            self.image_dock.show()
            self.resizeDocks([self.image_dock], [max(self.height() // 4, 180)], Qt.Vertical)
        for widget in (*self.views.values(), self.image_panel):
            widget.show()
        action = self._layout_actions.get(mode) if hasattr(self, "_layout_actions") else None
        if action is not None:
            action.setChecked(True)

    def toggle_maximize(self, view_name: str | None = None) -> None:
        """Show one view alone (double click or F), or go back to all views."""
        if self.maximized_view is not None:
            self.set_layout_mode(self.layout_mode)
            return
        view_name = view_name or self.active_view
        # the chosen view alone in the grid, in one cell that takes all the room
        # (hiding the others left it in its quarter, the rest of the canvas grey)
        for widget in (*self.views.values(), self.image_panel):
            self.grid.removeWidget(widget)
            widget.setVisible(widget is self.views[view_name])
        for index in range(3):
            self.grid.setRowStretch(index, 1 if index == 0 else 0)
            self.grid.setColumnStretch(index, 1 if index == 0 else 0)
        self.grid.addWidget(self.views[view_name], 0, 0)
        self.maximized_view = view_name

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

    # ---------------------------------------------------------------- readout
    def _hovered(self, view: str, ijk) -> None:
        if self.volume is None:
            return
        if ijk is None:
            self._hovering = False
            self._show_cursor_readout()
            return
        self._hovering = True
        values = readout_values(self.volume, self.overlays, ijk, self._value_unit)
        self.readout_panel.show_values(values, f"mouse · {view}")

    def _show_cursor_readout(self) -> None:
        if self.volume is None or self.state is None:
            return
        values = readout_values(self.volume, self.overlays, self.state.cursor_voxel,
                                self._value_unit)
        self.readout_panel.show_values(values, "crosshair")

    # ------------------------------------------------------------- loading
    def _load_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)

    def _loaded(self, path, volume: Volume, check_guards: bool = True) -> None:
        if check_guards and self.volume is not None and not self._guards_allow():
            self.status_text.setText("")
            self.statusBar().showMessage(
                f"Kept the open volume; {Path(str(path)).name} was not opened", 8000)
            return
        self.set_volume(volume)
        if not isinstance(path, (list, tuple)):
            self.recent.add(path)
        self.status_text.setText("")
        self.statusBar().showMessage(f"Opened {volume.description or Path(str(path)).name}", 5000)

    def _load_error(self, path, error: Exception) -> None:
        self.status_text.setText("")
        if isinstance(error, SeriesSelectionError) and error.series and not self.headless:
            dialog = SeriesPickerDialog(error.series, str(error), self)
            if dialog.exec_() == SeriesPickerDialog.Accepted:
                chosen = dialog.chosen_index()
                # the worker is still finishing; start the next load after it ends
                self._pending_load = (path, chosen, self._check_guards)
                return
            return
        self.show_error(str(error))
        self.load_failed.emit(str(error))

    def _load_finished(self) -> None:
        self.progress_bar.hide()
        pending, self._pending_load = self._pending_load, None
        if pending is not None:
            self.open_path(pending[0], series=pending[1], check_guards=pending[2])

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

    # ----------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        as_mask = bool(event.keyboardModifiers() & (Qt.ControlModifier | Qt.ShiftModifier))
        if as_mask and self.volume is not None and len(paths) == 1:
            self._open_mask_reporting(paths[0])
        elif len(paths) == 1:
            self.open_path(paths[0])
        else:
            self.open_path(paths)

    def closeEvent(self, event) -> None:
        if not self._guards_allow():
            event.ignore()
            return
        if self.is_loading():
            self._loading.wait(10000)
        if not self.headless:
            window_placement.remember(self, self.recent.settings)
        super().closeEvent(event)

    def place_on_screen(self) -> None:
        """Open at the size and dock layout of last time when they fit this screen,
        else at most 90 % of it (see :mod:`viewer.ui.window_placement`)."""
        if window_placement.place_on_screen(self, self.recent.settings):
            self._docks_sized = True  # the user's own dock sizes, not the defaults
        self.set_layout_mode(self.layout_mode)  # the image panel's place follows the layout

    # ----------------------------------------------------------- menus etc.
    def _action(self, text: str, slot, shortcut: str | None = None, checkable: bool = False,
                checked: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if checkable:
            action.setCheckable(True)
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.act_open = self._action("&Open file…", self._open_file_dialog, "Ctrl+O")
        self.act_open_folder = self._action("Open DICOM &folder…", self._open_folder_dialog,
                                            "Ctrl+D")
        self.act_open_mask = self._action("Open &mask…", self._open_mask_dialog, "Ctrl+M")
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.act_screenshot = self._action("Save &screenshot…", self._screenshot_dialog)
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        for item in (self.act_open, self.act_open_folder, self.act_open_mask):
            file_menu.addAction(item)
        file_menu.addMenu(self.recent_menu)
        self._file_menu = file_menu
        #: tools' File actions (``add_file_action``) go above this separator
        self._file_tools_end = file_menu.addSeparator()
        file_menu.addAction(self.act_screenshot)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)

        view_menu = bar.addMenu("&View")
        group = QActionGroup(self)
        self._layout_actions = {}
        for mode, text in (("2x2", "2 × 2 with image panel"), ("1x3", "1 × 3 row")):
            action = QAction(f"Layout {text}", self, checkable=True)
            action.triggered.connect(lambda _c=False, m=mode: self.set_layout_mode(m))
            group.addAction(action)
            view_menu.addAction(action)
            self._layout_actions[mode] = action
        self._layout_actions[self.layout_mode].setChecked(True)
        view_menu.addSeparator()
        self.act_maximize = self._action("&Maximize view / all views",
                                         lambda: self.toggle_maximize(None), "F")
        self.act_reset = self._action("&Reset zoom and pan", self.reset_views, "R")
        self.act_crosshair = self._action("Show &crosshair", self._set_crosshair, "C",
                                          checkable=True, checked=True)
        self.act_link_zoom = self._action("&Link zoom across views", self._set_link_zoom, "L",
                                          checkable=True)
        self.act_radiological = self._action(
            "Radiological convention (patient left on screen right)", self._set_radiological,
            checkable=True, checked=True)
        self.act_measure = self._action("&Distance ruler (left drag draws, handles adjust)",
                                        self.set_measure_mode, "D", checkable=True)
        self.act_measure.setIconText("Ruler")
        self.drag_tools = QActionGroup(self)
        self.drag_tools.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.drag_tools.addAction(self.act_measure)
        self.act_clear_rulers = self._action("Clear &rulers", self.clear_rulers, "Shift+D")
        self.act_toggle_mask = self._action("Show / hide &mask", self.toggle_overlays, "M")
        self.act_outline = self._action("Mask &outline / filled", self.toggle_outline, "O")
        for item in (self.act_maximize, self.act_reset, self.act_crosshair, self.act_link_zoom,
                     self.act_radiological):
            view_menu.addAction(item)
        view_menu.addSeparator()
        view_menu.addAction(self.act_measure)
        view_menu.addAction(self.act_clear_rulers)
        view_menu.addSeparator()
        view_menu.addAction(self.act_toggle_mask)
        view_menu.addAction(self.act_outline)
        view_menu.addSeparator()
        self._docks_menu = view_menu.addMenu("Panels")
        for dock in (self.readout_dock, self.overlay_dock, self.image_dock):
            self._docks_menu.addAction(dock.toggleViewAction())

        window_menu = bar.addMenu("&Window")
        self._preset_actions = []
        for preset in load_presets():
            action = self._action(f"{preset.label} (W {preset.width:.0f} / L {preset.center:.0f})",
                                  lambda k=preset.key: self.apply_preset(k), preset.shortcut)
            window_menu.addAction(action)
            self._preset_actions.append(action)
        window_menu.addSeparator()
        header = self._action("Header default", lambda: self.apply_preset("header"), "0")
        auto = self._action("Automatic (MR)", lambda: self.apply_preset("auto"), "A")
        window_menu.addAction(header)
        window_menu.addAction(auto)

        self._help_menu = bar.addMenu("&Help")
        self.act_shortcuts = self._action("&Shortcuts", self.show_shortcuts, "F1")
        self._help_menu.addAction(self.act_shortcuts)
        self._help_menu.addAction(self._action("&About SpleenScope", self._about))

        # short toolbar captions (menus keep the full text) so the tools
        # still fit at 1280 pixels wide
        for item, caption in ((self.act_open, "Open…"), (self.act_open_folder, "DICOM folder…"),
                              (self.act_open_mask, "Mask…"), (self.act_crosshair, "Crosshair"),
                              (self.act_link_zoom, "Link zoom"), (self.act_reset, "Reset view")):
            item.setIconText(caption)
            item.setToolTip(item.text().replace("&", "") + (
                f" ({item.shortcut().toString()})" if not item.shortcut().isEmpty() else ""))
        for item in (self.act_open, self.act_open_folder, self.act_open_mask):
            self.toolbar.addAction(item)
        self.toolbar.addSeparator()
        for item in (self.act_crosshair, self.act_link_zoom, self.act_reset, self.act_measure):
            self.toolbar.addAction(item)
        self.toolbar.addSeparator()

    def _build_status_bar(self) -> None:
        self.status_text = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("load_progress")
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.hide()
        self.wl_status = QLabel("")
        self.statusBar().addWidget(self.status_text)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.wl_status)

    def _set_crosshair(self, visible: bool) -> None:
        if self.state is not None:
            self.state.set_crosshair_visible(visible)

    def _set_link_zoom(self, linked: bool) -> None:
        if self.state is not None:
            self.state.set_zoom_linked(linked)

    def _set_radiological(self, radiological: bool) -> None:
        if self.state is not None:
            self.state.set_radiological(radiological)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.recent.clear)

    def _open_file_dialog(self) -> None:
        path = self.ask_open_file("Open image", FILE_FILTER)
        if path:
            self.open_path(path)

    def _open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM folder",
                                                self.recent.start_folder())
        if path:
            self.recent.remember_folder(path)
            self.open_path(path)

    def _open_mask_dialog(self) -> None:
        if self.volume is None:
            self.show_error("Open an image first, then its mask.", "No image")
            return
        path = self.ask_open_file("Open mask", MASK_FILTER)
        if path:
            self._open_mask_reporting(path)

    def _open_mask_reporting(self, path: str) -> None:
        try:
            self.open_mask(path)
        except SpleenScopeError as error:
            self.show_error(str(error), "Could not open the mask")
            self.load_failed.emit(str(error))

    def _screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "spleenscope.png",
                                              "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()

    def _about(self) -> None:
        QMessageBox.about(self, "About SpleenScope",
                          "SpleenScope: CT/MR viewer and spleen segmentation.\n"
                          "Not a medical device.")


def _load(path, series: int | None):
    """Load in the background (see :meth:`MainWindow.open_path`); a folder with
    several series comes back as its :class:`SeriesSelectionError`, for the picker."""
    from viewer.io import load_volume

    try:
        return load_volume(path, series=series,
                           progress=lambda done, total: report_progress((done, total)))
    except SeriesSelectionError as error:
        return error
    except SpleenScopeError:
        raise
    except MemoryError:
        raise SpleenScopeError("not enough memory to load this volume") from None
    except Exception as error:  # a reader bug must not kill the window
        log.exception("unexpected error while loading")
        raise SpleenScopeError(
            f"could not load this input ({type(error).__name__}: {error})") from error


def _scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless, resizable scroll area (vertical scrolling only when
    the dock is shorter than the panel wants)."""
    area = QScrollArea()
    area.setObjectName("dock_scroll")
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    area.setWidget(widget)
    area.setMinimumHeight(60)
    return area
