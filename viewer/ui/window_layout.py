"""Where the views and docks sit: the 2 x 2 / 1 x 3 layouts, one view maximized,
the dock column, and the size and dock layout the window opens with.

A mixin of :class:`viewer.ui.main_window.MainWindow` (the shell).
"""

from __future__ import annotations

import logging

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QBoxLayout,
    QDockWidget,
    QScrollArea,
    QWidget,
)

from viewer.slicing import VIEW_NAMES
from viewer.ui import window_placement

log = logging.getLogger(__name__)

LAYOUTS = ("2x2", "1x3")
#: Grid cells of the views in the 2 x 2 layout; the image panel takes (1, 1).
GRID_2X2 = {"axial": (0, 0), "coronal": (0, 1), "sagittal": (1, 0)}
#: Default height of the right column's bottom tab group (readout, overlay, options):
#: the readout's rows with the dock's title and tabs; a shorter window gets less.
BOTTOM_GROUP_HEIGHT = 240
SHORT_BOTTOM_GROUP_HEIGHT = 220


class WindowLayout:
    """View layouts, docks and placement of the main window."""

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
        """Default layout of the right column: two tab groups, so each tab gets the
        column's height instead of a slice of it (at 1280 x 800 a stack of four
        groups left every panel scrolling).

        - on top, taking what the bottom group leaves: the docks the tools added
          (the Spleen results first, then the self-check and the review), what the
          user reads after segmenting;
        - at the bottom, compact: "Under the mouse" (raised), the mask overlay and
          whatever a tool tabbed onto it (the segmentation options): set once or
          glanced at, never read at length.
        """
        right = [dock for dock in self.findChildren(QDockWidget)
                 if dock is not self.image_dock and not dock.isFloating()
                 and self.dockWidgetArea(dock) == Qt.RightDockWidgetArea]
        bottom = [self.readout_dock, self.overlay_dock,
                  *[d for d in right if d in self.tabifiedDockWidgets(self.overlay_dock)]]
        top = [dock for dock in right if dock not in bottom]
        shown = {dock: not dock.isHidden() for dock in right}
        for dock in right:
            self.removeDockWidget(dock)  # re-added in the column's order
        for group in (top, bottom):
            if not group:
                continue
            self.addDockWidget(Qt.RightDockWidgetArea, group[0])
            for dock in group[1:]:
                self.tabifyDockWidget(group[0], dock)
            for dock in group:
                dock.setVisible(shown[dock])
            group[0].raise_()
        self._dock_column = [group[0] for group in (top, bottom) if group]
        self._docks_sized = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", True):
            # sizes only stick once the window has its size: the bottom group gets
            # the readout's height, the tools' group takes the rest
            self._docks_sized = True
            column = self._dock_column
            width = 350 if self.width() >= 1100 else 300  # 350: the tab titles fit
            self.resizeDocks(column, [width] * len(column), Qt.Horizontal)
            if len(column) == 2:
                bottom = BOTTOM_GROUP_HEIGHT if self.height() >= 900 else SHORT_BOTTOM_GROUP_HEIGHT
                self.resizeDocks(column, [max(self.height() - bottom, 200), bottom],
                                 Qt.Vertical)

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

    def place_on_screen(self) -> None:
        """Open at the size and dock layout of last time when they fit this screen,
        else at most 90 % of it (see :mod:`viewer.ui.window_placement`)."""
        if window_placement.place_on_screen(self, self.recent.settings):
            self._docks_sized = True  # the user's own dock sizes, not the defaults
        self.set_layout_mode(self.layout_mode)  # the image panel's place follows the layout


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
