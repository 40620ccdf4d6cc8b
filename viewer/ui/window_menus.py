"""The main window's menus, toolbar captions, status bar and the Open dialogs.

A mixin of :class:`viewer.ui.main_window.MainWindow` (the shell): it builds
the File, View, Window and Help menus and their actions (``act_open``,
``act_crosshair``, ...), and gives tools ``menu(title)``,
``add_file_action(action)`` and ``ask_open_file(caption, filters)``.
"""

from __future__ import annotations

import logging

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QFileDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
)

from viewer.errors import SpleenScopeError
from viewer.io.file_names import open_dialog_filter
from viewer.ui.dialogs import ShortcutsDialog
from viewer.window_level import (
    load_presets,
)

log = logging.getLogger(__name__)

FILE_FILTER = open_dialog_filter("Images")
MASK_FILTER = open_dialog_filter("Label maps")


class WindowMenus:
    """Menus, actions, status bar and Open dialogs of the main window."""

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
            self.open_mask_reporting(path)

    def open_mask_reporting(self, path: str) -> None:
        """What File > Open mask does with the chosen file: open it over the volume, or
        say in one line why not (``load_failed``) and leave what was open untouched."""
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
