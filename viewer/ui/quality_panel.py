"""The "Self-check" dock: the verdict on the shown result, its reasons, where to look.

Shows what :func:`segmentation.study.segment_study` concluded about the model's mask:
the verdict badge (green only for ``ok``: a ``check`` is amber, a ``failed`` or empty
result red, a mask from a file or one edited since is grey, never green), the reasons,
the input's modality and the model's, a button that jumps to the first uncertain slice,
the per-slice uncertainty curve (with the per-slice Dice beside it when a reference is
open; a line marks the slice shown, and a click on the curve goes to that slice), and
the uncertainty overlay (voxels the model was unsure of) in the views.

The modality choice (Auto / CT / MR) here is what the next Segment uses: it is kept on
the session as ``session.modality_choice`` and read by the segmentation tool.

How a result reaches this panel: the segmentation tool stores the
:class:`~segmentation.study.StudyResult` as ``session.study`` just before it calls
``session.set_prediction``; :func:`study_state` tells whether that study still describes
the shown mask (same mask, same measurements) or the mask was edited or replaced since.
"""

from __future__ import annotations

import logging

import numpy as np
from PyQt5.QtCore import QSize, Qt
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segmentation.config import axis_name
from viewer.overlays import OverlayLayer

log = logging.getLogger(__name__)

UNCERTAINTY_LAYER = "uncertainty"
BADGE_STYLE = {
    "ok": "background: #24543a; color: #ddf5e6;",
    "check": "background: #8a6412; color: #fff3d6;",
    "failed": "background: #7a2f2f; color: #ffe3e3;",
    "none": "background: #3a3f46; color: #d5d9de;",
}
BADGE_TEXT = {
    "ok": "Self-check: OK",
    "check": "Self-check: CHECK: look before using the volume",
    "failed": "Self-check: FAILED: do not use this volume",
}
MODALITY_CHOICES = (("Auto (detect)", "auto"), ("CT", "ct"), ("MR", "mr"))


def study_state(session) -> tuple[object | None, str]:
    """``(study, state)``: state ``current``, ``edited`` (the mask changed since) or ``none``."""
    study = getattr(session, "study", None)
    if study is None or session.prediction is None or session.source != "model":
        return None, "none"
    if study.segmentation.mask is not session.prediction:
        return None, "none"
    if study.segmentation.measurements is not session.measurements:
        return study, "edited"
    return study, "current"


def badge_for(session) -> tuple[str, str]:
    """``(style key, text)`` of the badge for the session's current result."""
    study, state = study_state(session)
    if session.prediction is None:
        return "none", "No result yet"
    if state == "none":
        return "none", "No self-check: this mask did not come from a model run here"
    verdict = study.quality.verdict
    if state == "edited":
        return "none", f"Edited since the self-check (it said {verdict})"
    if session.measurements is not None and session.measurements.voxels == 0:
        return "failed", BADGE_TEXT["failed"]
    return verdict, BADGE_TEXT[verdict]


def uncertainty_labels(probabilities: np.ndarray) -> np.ndarray:
    """1 where the model was unsure (10-90 %), 2 where it was undecided (30-70 %)."""
    p = np.asarray(probabilities)
    labels = ((p > 0.1) & (p < 0.9)).astype(np.uint8)
    labels[(p > 0.3) & (p < 0.7)] = 2
    return labels


class QualityPanel(QWidget):
    def __init__(self, shell, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("quality_panel")
        self.shell, self.session = shell, session
        session.modality_choice = "auto"
        self.badge = QLabel("No result yet")
        self.badge.setObjectName("quality_badge")
        self.badge.setWordWrap(True)
        self.badge.setStyleSheet(
            BADGE_STYLE["none"] + "padding: 4px 6px; border-radius: 3px; font-weight: bold;"
        )
        self.reasons = QLabel("")
        self.reasons.setObjectName("quality_reasons")
        self.reasons.setWordWrap(True)
        self.reasons.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.modality_label = QLabel("")
        self.modality_label.setObjectName("quality_modality")
        self.modality_label.setWordWrap(True)
        self.modality_choice = QComboBox()
        self.modality_choice.setObjectName("modality_choice")
        for text, key in MODALITY_CHOICES:
            self.modality_choice.addItem(text, key)
        self.modality_choice.setToolTip(
            "Which model the next Segment uses; Auto picks it from the DICOM header or "
            "the intensities. Forcing the wrong one gives a 'failed' verdict."
        )
        self.modality_choice.currentIndexChanged.connect(self._modality_chosen)
        self.jump_button = QPushButton("Go to the first slice to check")
        self.jump_button.setObjectName("quality_jump")
        self.jump_button.clicked.connect(self.jump_to_first_slice)
        self.show_overlay = QCheckBox("Show uncertainty in the views")
        self.show_overlay.setObjectName("show_uncertainty")
        self.show_overlay.setChecked(True)
        self.show_overlay.toggled.connect(lambda _on: self._apply_overlay())
        self.curve = self._make_curve()

        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Model for"))
        choice_row.addWidget(self.modality_choice, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.badge)
        layout.addWidget(self.reasons)
        layout.addWidget(self.jump_button)
        layout.addWidget(self.modality_label)
        layout.addLayout(choice_row)
        layout.addWidget(self.show_overlay)
        if self.curve is not None:
            layout.addWidget(self.curve, 1)
        layout.addStretch(0)
        session.prediction_changed.connect(self.render)
        session.review_ready.connect(lambda _pair: self._draw_curve())
        shell.cursor_moved.connect(lambda _xyz: self._show_current_slice())
        self.render()

    # ------------------------------------------------------------------ widgets
    def _make_curve(self):
        try:
            import pyqtgraph as pg
        except ImportError:  # the panel still works without the curve
            return None
        class CompactPlot(pg.PlotWidget):
            def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
                # pyqtgraph asks for 600 x 450; in this word-wrapped panel that hint,
                # not the minimum, sets the height, and the dock scrolled for it
                return QSize(240, 160)

        plot = CompactPlot()
        plot.setObjectName("uncertainty_curve")
        plot.setMinimumHeight(120)
        plot.setLabel("bottom", "slice")
        plot.getAxis("bottom").enableAutoSIPrefix(False)  # slice numbers, never "x1e3"
        plot.setYRange(0, 1)
        plot.addLegend(offset=(4, 4))
        plot.setToolTip("Click a slice on the curve to show it in the views")
        # The slice the views show, in the review panel's colour for the same thing.
        self.current_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 196, 0), width=1))
        plot.scene().sigMouseClicked.connect(self._curve_clicked)
        return plot

    def _modality_chosen(self, _index: int) -> None:
        self.session.modality_choice = self.modality_choice.currentData()

    # ------------------------------------------------------------------ showing
    def render(self) -> None:
        key, text = badge_for(self.session)
        self.badge.setText(text)
        self.badge.setStyleSheet(
            BADGE_STYLE[key] + "padding: 4px 6px; border-radius: 3px; font-weight: bold;"
        )
        study, state = study_state(self.session)
        if study is None:
            self.reasons.setText("")
            self.modality_label.setText("")
            self.jump_button.setVisible(False)
        else:
            quality = study.quality
            lines = [f"• {reason}" for reason in quality.reasons]
            lines += [f"note: {note}" for note in quality.notes]
            low, high = study.uncertainty.volume_range_ml
            lines.append(f"volume range {low:.0f}-{high:.0f} mL")
            self.reasons.setText("\n".join(lines))
            self.modality_label.setText(
                f"Input: {study.modality.modality} ({study.modality.reason}). "
                f"Model: {study.model_modality}."
            )
            first = self.first_slice_to_check()
            self.jump_button.setVisible(first is not None)
            if first is not None:
                self.jump_button.setText(f"Go to slice {first} (first to check)")
        self._apply_overlay()
        self._draw_curve()

    def first_slice_to_check(self) -> int | None:
        study, _state = study_state(self.session)
        if study is None or not study.quality.uncertain_slices:
            return None
        return int(study.quality.uncertain_slices[0])

    def jump_to_first_slice(self) -> None:
        study, _state = study_state(self.session)
        first = self.first_slice_to_check()
        if study is not None and first is not None:
            self.shell.go_to_slice(axis_name(study.segmentation.axis), first)

    def curve_slice_at(self, scene_pos) -> int | None:
        """The slice under ``scene_pos`` (a point of the curve's scene), or None outside it."""
        study, _state = study_state(self.session)
        if self.curve is None or study is None:
            return None
        box = self.curve.getPlotItem().getViewBox()
        if not box.sceneBoundingRect().contains(scene_pos):
            return None
        index = int(round(box.mapSceneToView(scene_pos).x()))
        count = len(study.uncertainty.undecided_per_slice)
        return index if 0 <= index < count else None

    def _curve_clicked(self, event) -> None:
        study, _state = study_state(self.session)
        index = self.curve_slice_at(event.scenePos())
        if study is not None and index is not None:
            self.shell.go_to_slice(axis_name(study.segmentation.axis), index)

    def _show_current_slice(self) -> None:
        study, _state = study_state(self.session)
        state = self.shell.state
        if self.curve is None or study is None or state is None:
            return
        self.current_line.setValue(state.slice_index(axis_name(study.segmentation.axis)))

    def _apply_overlay(self) -> None:
        study, state = study_state(self.session)
        shell = self.shell
        wanted = (
            study is not None
            and state == "current"
            and study.probabilities is not None
            and self.show_overlay.isChecked()
            and shell.volume is not None
        )
        if not wanted:
            if UNCERTAINTY_LAYER in shell.overlays:
                shell.remove_overlay(UNCERTAINTY_LAYER)
            return
        labels = getattr(study, "uncertainty_labels", None)  # made off the GUI thread
        layer = OverlayLayer(
            UNCERTAINTY_LAYER,
            uncertainty_labels(study.probabilities) if labels is None else labels,
            colors={1: (60, 200, 240), 2: (230, 60, 200)},
            label_names={1: "model unsure (10-90 %)", 2: "model undecided (30-70 %)"},
            opacity=0.55,
            mode="fill",
        )
        shell.set_overlay(layer)

    def _draw_curve(self) -> None:
        plot = self.curve
        if plot is None:
            return
        plot.clear()
        study, _state = study_state(self.session)
        if study is None:
            return
        import pyqtgraph as pg

        scores = study.uncertainty.slice_scores()
        x = np.arange(len(scores))
        plot.addItem(self.current_line)
        self._show_current_slice()
        plot.plot(x, scores, pen=pg.mkPen((230, 60, 200), width=2), name="uncertainty")
        flagged = study.quality.uncertain_slices
        if flagged:
            plot.plot(
                flagged,
                scores[flagged],
                pen=None,
                symbol="o",
                symbolBrush=(240, 80, 80),
                name="slices to check",
            )
        pair = getattr(self.session, "pair", None)
        if pair is not None:
            dice = np.asarray(pair.slice_dice(study.segmentation.axis), dtype=float)
            plot.plot(
                np.arange(len(dice)), dice, pen=pg.mkPen((80, 200, 120), width=2),
                name="Dice vs reference",
            )  # fmt: skip
