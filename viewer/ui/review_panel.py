"""Visual QA of a prediction against a reference: metrics, overlay modes, slice by slice.

The panel shows the engine's own numbers (:class:`viewer.review.ReviewPair` calls
``segmentation.metrics.evaluate_masks``), an overlay mode chooser with a legend, and
a per-slice Dice plot along the active view's axis: clicking a point goes to that
slice, and "Next worst slice" (N) steps through the slices in order of disagreement,
centring the crosshair on what differs. Predictions and references can come from
files, so a reviewer needs no model at all.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from viewer.io.file_names import open_dialog_filter
from viewer.overlays import load_mask_for_volume
from viewer.review import (
    DIFFERENCE_COLORS,
    DIFFERENCE_NAMES,
    MODE_LABELS,
    MODES,
    PREDICTION_COLOR,
    REFERENCE_COLOR,
    ReviewPair,
)
from viewer.slicing import SLICE_AXIS
from viewer.ui.background import run_in_background

log = logging.getLogger(__name__)

MASK_FILTER = open_dialog_filter("Label maps")
NEXT_WORST_SHORTCUT = "N"
MUTED = "#8a939e"


def swatch(color: tuple[int, int, int], text: str, outline: bool = False) -> str:
    r, g, b = color
    if outline:
        box = (f"<span style='color: rgb({r},{g},{b}); font-weight: bold; font-size: 16px'>"
               "▢</span>")
    else:
        box = f"<span style='color: rgb({r},{g},{b}); font-size: 16px'>■</span>"
    return f"<tr><td>{box}</td><td>{text}</td></tr>"


def legend_for_mode(mode: str) -> str:
    """HTML legend of the colours a mode draws."""
    if mode == "difference":
        rows = [swatch(DIFFERENCE_COLORS[k], DIFFERENCE_NAMES[k]) for k in (1, 2, 3)]
    elif mode == "outlines":
        rows = [swatch(PREDICTION_COLOR, "prediction (outline)", True),
                swatch(REFERENCE_COLOR, "reference (outline)", True)]
    elif mode == "reference":
        rows = [swatch(REFERENCE_COLOR, "reference")]
    else:
        rows = [swatch(PREDICTION_COLOR, "prediction")]
    return "<table cellspacing='1' style='font-size: 12px'>" + "".join(rows) + "</table>"


def format_metric(value: float, digits: int = 3, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}{unit}"


class ElidedLabel(QLabel):
    """One line of text, cut with … when the dock is narrow (the full text is the
    tooltip): the review panel must fit a short dock without scrolling."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self.setToolTip(text)
        self.setVisible(bool(text))
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.ElideMiddle, max(self.width(), 40))
        QLabel.setText(self, shown)


class ReviewPanel(QWidget):
    """Buttons, metrics, mode chooser, legend, per-slice Dice plot."""

    slice_clicked = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("review_panel")
        self.reference_button = QPushButton("Load reference…")
        self.reference_button.setObjectName("review_load_reference")
        self.prediction_button = QPushButton("Open prediction…")
        self.prediction_button.setObjectName("review_open_prediction")
        self.status = ElidedLabel("Load a reference mask to compare the prediction with it.")
        self.status.setObjectName("review_status")
        self.status.setStyleSheet(f"color: {MUTED}")

        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        cells = [("dice", "Dice"), ("hd95", "HD95"), ("assd", "ASSD"),
                 ("vol_pred", "Prediction"), ("vol_ref", "Reference"), ("vol_diff", "Difference")]
        for number, (key, title) in enumerate(cells):
            name = QLabel(title)
            name.setStyleSheet(f"color: {MUTED}")
            value = QLabel("—")
            value.setObjectName(f"review_{key}")
            value.setStyleSheet("font-weight: bold; font-size: 13px;")
            self.values[key] = value
            row, column = divmod(number, 3)
            grid.addWidget(name, 2 * row, column)
            grid.addWidget(value, 2 * row + 1, column)

        self.mode = QComboBox()
        self.mode.setObjectName("review_mode")
        for mode in MODES:
            self.mode.addItem(MODE_LABELS[mode], mode)
        self.legend = QLabel(legend_for_mode("prediction"))
        self.legend.setObjectName("review_legend")
        self.legend.setTextFormat(Qt.RichText)

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("review_plot")
        self.plot.setMinimumHeight(120)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0.0, 1.02, padding=0)
        self.plot.setLabel("left", "Dice")
        self.plot.setLabel("bottom", "slice")
        for side in ("left", "bottom"):  # slice numbers and Dice never get an SI scale
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        self.curve = pg.PlotDataItem(pen=pg.mkPen((120, 170, 220), width=1))
        self.points = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None),
                                         brush=pg.mkBrush(143, 179, 220), hoverable=True,
                                         hoverBrush=pg.mkBrush(255, 255, 255), tip=None)
        self.points.sigClicked.connect(self._points_clicked)
        self.current_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 196, 0), width=1))
        self.plot.addItem(self.curve)
        self.plot.addItem(self.points)
        self.plot.addItem(self.current_line)

        self.next_button = QPushButton("Next worst slice (N)")
        self.next_button.setObjectName("review_next_worst")
        self.worst_label = ElidedLabel("")
        self.worst_label.setObjectName("review_worst")
        self.worst_label.setStyleSheet(f"color: {MUTED}")

        buttons = QHBoxLayout()
        buttons.addWidget(self.reference_button)
        buttons.addWidget(self.prediction_button)
        mode_row = QHBoxLayout()
        mode_row.addWidget(QLabel("Overlay"))
        mode_row.addWidget(self.mode, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        # the actions first (load, open, next worst slice), so a short dock or a
        # 1280 x 800 screen still shows them; the plot takes what is left
        layout.addLayout(buttons)
        layout.addWidget(self.next_button)
        layout.addWidget(self.worst_label)
        layout.addWidget(self.status)
        layout.addLayout(grid)
        layout.addLayout(mode_row)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)

    def _points_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.slice_clicked.emit(int(round(points[0].pos().x())))

    def show_evaluation(self, pair: ReviewPair | None) -> None:
        if pair is None:
            for value in self.values.values():
                value.setText("—")
            return
        e = pair.evaluation
        self.values["dice"].setText(format_metric(e.dice, 3))
        self.values["hd95"].setText(format_metric(e.hd95_mm, 1, " mm"))
        self.values["assd"].setText(format_metric(e.assd_mm, 2, " mm"))
        self.values["vol_pred"].setText(format_metric(e.volume_pred_ml, 1, " mL"))
        self.values["vol_ref"].setText(format_metric(e.volume_ref_ml, 1, " mL"))
        pct = "" if math.isnan(e.volume_diff_pct) else f" ({e.volume_diff_pct:+.1f} %)"
        self.values["vol_diff"].setText(f"{e.volume_diff_ml:+.1f} mL{pct}")

    def show_slice_dice(self, dice: np.ndarray | None, axis_name: str = "",
                        n_slices: int = 0) -> None:
        """Plot per-slice Dice along ``axis_name``; ``None`` empties the plot and sets
        its range to the open volume's ``n_slices`` (none: 0..1), never the last one's."""
        self.plot.setLabel("bottom", f"{axis_name} slice" if axis_name else "slice")
        if dice is None:
            self.curve.setData([], [])
            self.points.setData([], [])
            self.current_line.setVisible(n_slices > 0)
            self.plot.setXRange(-0.5, max(n_slices - 0.5, 0.5), padding=0.02)
            return
        self.current_line.setVisible(True)
        index = np.arange(len(dice))
        keep = ~np.isnan(dice)
        self.curve.setData(index[keep], dice[keep], connect="finite")
        brushes = [pg.mkBrush(*_dice_color(d)) for d in dice[keep]]
        self.points.setData(x=index[keep], y=dice[keep], brush=brushes,
                            data=index[keep])
        self.plot.setXRange(-0.5, max(len(dice) - 0.5, 0.5), padding=0.02)

    def set_mode(self, mode: str) -> None:
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(mode))
        self.mode.blockSignals(False)
        self.legend.setText(legend_for_mode(mode))


def _dice_color(dice: float) -> tuple[int, int, int]:
    """Green for good slices, orange below 0.8, red below 0.5: bad ones catch the eye."""
    if dice >= 0.8:
        return (0, 158, 115)
    if dice >= 0.5:
        return (240, 140, 0)
    return (220, 60, 60)


class ReviewTool(QObject):
    """Wires the review panel, the Review menu and the main window together."""

    def __init__(self, window, session) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.panel = ReviewPanel()
        self.dock = window.add_dock(self.panel, "Review")
        self._current_worst: dict[str, int | None] = {}
        self._build_menu()
        self.panel.reference_button.clicked.connect(self._reference_dialog)
        self.panel.prediction_button.clicked.connect(self._prediction_dialog)
        self.panel.mode.activated.connect(
            lambda index: session.set_mode(self.panel.mode.itemData(index)))
        self.panel.slice_clicked.connect(self.go_to_slice)
        self.panel.next_button.clicked.connect(self.next_worst_slice)
        session.review_ready.connect(self._review_ready)
        session.review_failed.connect(
            lambda message: window.show_error(message, "Could not compare the masks"))
        session.mode_changed.connect(self._mode_changed)
        session.prediction_changed.connect(self._masks_changed)
        session.reference_changed.connect(self._masks_changed)
        window.cursor_moved.connect(lambda _xyz: self._show_current_slice())
        window.volume_changed.connect(lambda _volume: self._show_plot())
        for name, view in window.views.items():
            view.activated.connect(lambda _n=None, name=name: self._view_activated(name))
        self._masks_changed()

    def _build_menu(self) -> None:
        window = self.window
        menu = window.menu("&Review")
        self.act_reference = QAction("Load &reference mask…", window)
        self.act_reference.setShortcut("Ctrl+Shift+R")
        self.act_reference.triggered.connect(lambda _c=False: self._reference_dialog())
        self.act_prediction = QAction("Open &prediction mask…", window)
        self.act_prediction.setShortcut("Ctrl+Shift+P")
        self.act_prediction.triggered.connect(lambda _c=False: self._prediction_dialog())
        self.act_next = QAction("&Next worst slice", window)
        self.act_next.setShortcut(NEXT_WORST_SHORTCUT)
        self.act_next.triggered.connect(lambda _c=False: self.next_worst_slice())
        for action in (self.act_reference, self.act_prediction, self.act_next):
            window.addAction(action)
            menu.addAction(action)
        menu.addSeparator()
        group = QActionGroup(window)
        self.mode_actions = {}
        for mode in MODES:
            action = QAction(MODE_LABELS[mode], window, checkable=True)
            action.triggered.connect(lambda _c=False, m=mode: self.session.set_mode(m))
            group.addAction(action)
            menu.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions[self.session.mode].setChecked(True)
        menu.addSeparator()
        menu.addAction(self.dock.toggleViewAction())

    # ------------------------------------------------------------------ files
    def _reference_dialog(self) -> None:
        if self._needs_volume():
            return
        path = self.window.ask_open_file("Load reference mask", MASK_FILTER)
        if path:
            self.load_reference(path)

    def _prediction_dialog(self) -> None:
        if self._needs_volume():
            return
        path = self.window.ask_open_file("Open prediction mask", MASK_FILTER)
        if path:
            self.load_prediction(path)

    def _needs_volume(self) -> bool:
        if self.window.volume is None:
            self.window.show_error("Open the image first, then its masks.", "No image")
            return True
        return False

    def load_reference(self, path, on_done=None) -> None:
        """Read a reference mask in the background and compare with it."""
        self._load_mask(path, lambda mask, name: self.session.set_reference(mask, name), on_done)

    def load_prediction(self, path, on_done=None) -> None:
        """Show a prediction from a file (no model needed); it counts as saved."""
        guard = getattr(self.session, "guard", None)
        if self.session.dirty and guard is not None and not guard():
            return

        def apply(mask, name) -> None:
            self.session.set_prediction(mask, source="file", name=name, dirty=False)
            self.session.saved_path = str(path)

        self._load_mask(path, apply, on_done)

    def _load_mask(self, path, apply, on_done=None) -> None:
        volume = self.window.volume
        if volume is None:
            self._needs_volume()
            return
        name = Path(str(path)).name
        self.panel.status.setText(f"Reading {name}…")

        def done(result) -> None:
            labels, notice = result
            if volume is not self.window.volume:
                return
            apply(labels, name)
            if notice:
                self.window.statusBar().showMessage(notice, 10000)
            if on_done is not None:
                on_done(True)

        def failed(message: str) -> None:
            self.window.show_error(message, "Could not open the mask")
            self._masks_changed()
            if on_done is not None:
                on_done(False)

        run_in_background(self, lambda: load_mask_for_volume(path, volume), done, failed)

    # ----------------------------------------------------------------- slices
    def active_view(self) -> str:
        return getattr(self.window, "active_view", "axial") or "axial"

    def go_to_slice(self, index: int, view: str | None = None) -> None:
        self.window.go_to_slice(view or self.active_view(), int(index))

    def next_worst_slice(self) -> int | None:
        """Go to the next slice in worst-first order in the active view; returns it."""
        pair = self.session.pair
        if pair is None:
            self.window.statusBar().showMessage(
                "Next worst slice needs a prediction and a reference", 4000)
            return None
        view = self.active_view()
        axis = SLICE_AXIS[view]
        index = pair.next_worst_slice(self._current_worst.get(view), axis)
        if index is None:
            self.panel.worst_label.setText("Prediction and reference agree on every slice.")
            return None
        self._current_worst[view] = index
        center = pair.disagreement_center(index, axis)
        if center is not None and self.window.state is not None:
            self.window.state.set_cursor_voxel(center)
        self.go_to_slice(index, view)
        order = pair.slices_by_disagreement(axis)
        dice = pair.slice_dice(axis)[index]
        wrong = int(pair.disagreement(axis)[index])
        self.panel.worst_label.setText(
            f"{view.capitalize()} slice {index}: Dice {format_metric(float(dice), 2)}, "
            f"{wrong:,} voxels differ (#{order.index(index) + 1} of {len(order)})")
        return index

    def _view_activated(self, name: str) -> None:
        self._show_plot()

    def _show_current_slice(self) -> None:
        state = self.window.state
        if state is not None:
            self.panel.current_line.setValue(state.slice_index(self.active_view()))

    def _show_plot(self) -> None:
        pair = self.session.pair
        view = self.active_view()
        state = self.window.state
        n_slices = state.geometry(view).n_slices if state is not None else 0
        self.panel.show_slice_dice(None if pair is None else pair.slice_dice(SLICE_AXIS[view]),
                                   view, n_slices)
        self._show_current_slice()

    # ----------------------------------------------------------------- events
    def _masks_changed(self) -> None:
        session = self.session
        has_both = session.prediction is not None and session.reference is not None
        self.act_next.setEnabled(has_both)
        self.panel.next_button.setEnabled(has_both)
        self._current_worst.clear()
        self.panel.worst_label.setText("")
        if session.prediction is None and session.reference is None:
            text = "Load a reference mask to compare a prediction with it."
        elif session.reference is None:
            text = f"Prediction: {session.prediction_name}. Load a reference to compare."
        elif session.prediction is None:
            text = (f"Reference: {session.reference_name}. Segment (Ctrl+G) or open a "
                    "prediction to compare.")
        else:
            text = f"Comparing {session.prediction_name} with {session.reference_name}…"
        self.panel.status.setText(text)
        if not has_both:
            self.panel.show_evaluation(None)
            self._show_plot()

    def _review_ready(self, pair) -> None:
        self.panel.show_evaluation(pair)
        self._show_plot()
        if pair is not None:
            self.panel.status.setText(
                f"{self.session.prediction_name} vs reference {self.session.reference_name}")

    def _mode_changed(self, mode: str) -> None:
        self.panel.set_mode(mode)
        action = self.mode_actions.get(mode)
        if action is not None:
            action.setChecked(True)
