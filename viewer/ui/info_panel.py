"""Facts about the open volume: shape, spacing, orientation, modality, warnings."""

from __future__ import annotations

import html

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.volume import Volume


def volume_facts(volume: Volume) -> list[tuple[str, str]]:
    """(name, value) rows shown in the info panel; nothing patient-identifying."""
    spacing = " × ".join(f"{s:.4g}" for s in volume.spacing)
    window = f"{volume.window[1]:.0f} / {volume.window[0]:.0f}" if volume.window else "none"
    low, high = volume.value_range
    return [
        ("Series", volume.description or "(no description)"),
        ("Modality", _modality_text(volume)),
        ("Shape", " × ".join(str(s) for s in volume.shape)),
        ("Spacing", f"{spacing} mm"),
        ("Stored as", "".join(volume.source_orientation) + " → shown as RAS"),
        ("Intensities", f"{low:.6g} … {high:.6g} ({volume.array.dtype})"),
        ("Header W/L", window),
    ]


class InfoPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("No volume open. File ▸ Open, or drop a file or folder here.")
        self.label.setObjectName("info_text")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)

    def show_volume(self, volume: Volume | None, notices: list[str] | None = None) -> None:
        if volume is None:
            self.label.setText("No volume open.")
            return
        rows = "".join(
            f"<tr><td style='color:#9aa4b1; padding-right:8px'>{html.escape(k)}</td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in volume_facts(volume)
        )
        messages = list(volume.warnings) + list(notices or [])
        warnings = "".join(
            f"<div style='color:#f0b45a'>⚠ {html.escape(w)}</div>" for w in messages
        )
        self.label.setText(f"<table>{rows}</table>{warnings}")

    def text(self) -> str:
        return self.label.text()


def _modality_text(volume) -> str:
    """``CT``, ``MR`` or ``unknown``, saying when it was told from the intensities (NIfTI)."""
    from viewer.modality import detect_modality

    guess = detect_modality(volume)
    return guess.modality if guess.source == "header" else f"{guess.modality} (from intensities)"
