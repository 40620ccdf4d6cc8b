"""What a radiologist reads off the mask: volume and its range, extent, the flag, the verdict.

The numbers are :class:`segmentation.measurements.SpleenMeasurements` as the engine
computed them, shown without re-deriving anything, so the panel and
``spleenscope segment`` always agree. The self-check verdict
(:mod:`viewer.ui.quality_panel`) sits under the volume, and it decides the flag's
colour: an empty result or a ``failed`` one never gets the green "No splenomegaly"
(there is no volume to be reassured by), a ``check`` one gets amber, and green is kept
for a result whose verdict is ``ok``: a mask from a file or edited since its check is grey.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from segmentation.measurements import SPLENOMEGALY_VOLUME_ML
from viewer.ui.quality_panel import BADGE_STYLE, badge_for, study_state

FLAG_STYLE = {
    True: "background: #7a2f2f; color: #ffe3e3; padding: 3px 6px; border-radius: 3px;",
    False: "background: #24543a; color: #ddf5e6; padding: 3px 6px; border-radius: 3px;",
    "check": "background: #8a6412; color: #fff3d6; padding: 3px 6px; border-radius: 3px;",
    "unusable": "background: #3a3f46; color: #ffb3b3; padding: 3px 6px; border-radius: 3px;",
    # A mask nobody has self-checked (opened from a file, or edited since the check):
    # the volume is shown, but without the green that means "checked and normal".
    "unchecked": "background: #3a3f46; color: #e6e9ee; padding: 3px 6px; border-radius: 3px;",
}


def format_bbox(low, high) -> str:
    """Extents along R-L × A-P × S-I in mm (one line: the dock is short)."""
    if low is None or high is None:
        return "—"
    size = " × ".join(f"{h - lo:.0f}" for lo, h in zip(low, high, strict=True))
    return f"{size} mm <span style='color:#8a939e'>(R-L × A-P × S-I)</span>"


def format_ranges(low, high) -> str:
    """The bounding box's RAS coordinate ranges (the extent's tooltip)."""
    if low is None or high is None:
        return ""
    return "RAS mm: " + ", ".join(f"{axis} {lo:.0f}…{h:.0f}"
                                  for axis, lo, h in zip("RAS", low, high, strict=True))


class ResultsPanel(QWidget):
    """Volume in mL, voxels, craniocaudal length, bounding box, splenomegaly flag."""

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("results_panel")
        self.session = session
        self.volume_label = QLabel("—")
        self.volume_label.setObjectName("result_volume")
        self.volume_label.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.range_label = QLabel("")
        self.range_label.setObjectName("result_volume_range")
        self.range_label.setStyleSheet("color: #8a939e;")
        self.verdict_label = QLabel("")
        self.verdict_label.setObjectName("result_verdict")
        self.verdict_label.setWordWrap(True)
        self.voxels_label = QLabel("—")
        self.voxels_label.setObjectName("result_voxels")
        self.length_label = QLabel("—")
        self.length_label.setObjectName("result_length")
        self.bbox_label = QLabel("—")
        self.bbox_label.setObjectName("result_bbox")
        self.bbox_label.setTextFormat(Qt.RichText)
        self.flag_label = QLabel("")
        self.flag_label.setObjectName("result_flag")
        self.reference_label = QLabel("")
        self.reference_label.setObjectName("result_reference_range")
        self.reference_label.setWordWrap(True)
        self.reference_label.setStyleSheet("color: #8a939e; font-size: 11px;")
        self.source_label = QLabel("")
        self.source_label.setObjectName("result_source")
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: #8a939e; font-size: 11px;")
        self.empty = QLabel("No spleen mask yet. Segmentation ▸ Segment spleen "
                            "(Ctrl+G) or Review ▸ Open prediction…")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #8a939e")
        self.form_widget = QWidget()
        form = QFormLayout(self.form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Volume", self.volume_label)
        form.addRow("Range", self.range_label)
        form.addRow("Voxels", self.voxels_label)
        form.addRow("Craniocaudal", self.length_label)
        form.addRow("Extent", self.bbox_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.empty)
        layout.addWidget(self.form_widget)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.flag_label)
        layout.addWidget(self.reference_label)
        layout.addWidget(self.source_label)
        layout.addStretch(1)
        session.prediction_changed.connect(self.show_measurements)
        session.dirty_changed.connect(lambda _dirty: self.show_measurements())
        self.show_measurements()

    def show_measurements(self) -> None:
        m = self.session.measurements
        has = m is not None
        self.empty.setVisible(not has)
        for widget in (self.form_widget, self.flag_label, self.reference_label,
                       self.source_label, self.verdict_label):
            widget.setVisible(has)
        if not has:
            return
        self.volume_label.setText(m.volume_text())
        self.voxels_label.setText(f"{m.voxels:,}")
        edge = " (cut by the scan: at least)" if m.is_lower_bound else ""
        self.length_label.setText(f"{m.craniocaudal_mm:.0f} mm{edge}")
        self.bbox_label.setText(format_bbox(m.bbox_min_mm, m.bbox_max_mm))
        self.bbox_label.setToolTip(format_ranges(m.bbox_min_mm, m.bbox_max_mm))
        study, state = study_state(self.session)
        key, verdict_text = badge_for(self.session)
        self.verdict_label.setText(verdict_text)
        self.verdict_label.setStyleSheet(BADGE_STYLE[key] + "padding: 3px 6px; border-radius: 3px;")
        if study is not None and state == "current":
            low, high = study.uncertainty.volume_range_ml
            self.range_label.setText(f"{low:.0f}–{high:.0f} mL (stricter / looser threshold)")
        else:
            self.range_label.setText("—")
        verdict = study.quality.verdict if study is not None and state == "current" else None
        if m.voxels == 0:
            flag, style = "No spleen found: there is no volume to judge", "unusable"
        elif verdict == "failed":
            flag, style = "The self-check failed: this volume must not be used", "unusable"
        elif m.splenomegaly:  # a lower bound above the limit is enough to say so
            flag = f"Splenomegaly: volume above {SPLENOMEGALY_VOLUME_ML:g} mL"
            style = True
        elif m.is_lower_bound:
            # A spleen cut by the scan has more volume outside it: a lower bound under
            # the limit rules nothing out, so it must not look like a normal finding.
            flag = (f"Splenomegaly not excluded: the spleen is cut by the scan, so "
                    f"{m.volume_ml:.0f} mL is a lower bound (normal ≤ "
                    f"{SPLENOMEGALY_VOLUME_ML:g} mL)")
            style = "check" if verdict in ("ok", "check") else "unchecked"
        else:
            flag = f"No splenomegaly: volume within normal (≤ {SPLENOMEGALY_VOLUME_ML:g} mL)"
            style = {"ok": False, "check": "check"}.get(verdict, "unchecked")
        self.flag_label.setText(flag)
        self.flag_label.setWordWrap(True)
        self.flag_label.setStyleSheet(FLAG_STYLE[style])
        self.reference_label.setText("Reference: " + m.reference_range_text)
        session = self.session
        if session.source == "model":
            source = f"From model {session.prediction_name} on {session.device}"
        elif session.source:
            source = f"From file {session.prediction_name}"
        else:
            source = ""
        saved = " · unsaved" if session.dirty else (" · saved" if session.saved_path else "")
        self.source_label.setText(source + saved)
