"""Is this volume a CT or an MR? From the DICOM header when there is one, else from its values.

DICOM says so in its Modality tag. NIfTI has no such field, so the intensities decide:
a CT is in Hounsfield units, with air near -1000 (inside the body: lungs, bowel gas,
the air around the patient), fat near -100 and soft tissue near 0..100, whatever its
padding value outside the field of view (-1024, -2048 and -3024 are all common). An MR
has no fixed scale, but its values are not negative and vary smoothly. A label map
(a handful of integer values) is neither, and neither is anything else that fits no
pattern: those are ``"unknown"``, never a guess dressed up as a fact.

Numpy only (no Qt, no torch): the window, the CLI and the segmentation engine share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CT, MR, UNKNOWN = "CT", "MR", "unknown"
KNOWN = (CT, MR)

AIR_HU = (-1100.0, -850.0)
FAT_HU = (-160.0, -40.0)
SOFT_TISSUE_HU = (-40.0, 160.0)
MAX_LABEL_VALUES = 64


@dataclass(frozen=True)
class ModalityGuess:
    """What the volume is, where that came from (``header`` or ``intensities``) and why."""

    modality: str
    source: str
    reason: str

    @property
    def known(self) -> bool:
        return self.modality in KNOWN


def normalize_name(value: str | None) -> str:
    """``"CT"``, ``"MR"`` or ``"unknown"`` from a DICOM Modality value or a user's choice."""
    text = (value or "").strip().upper()
    if text == "CT":
        return CT
    if text in ("MR", "MRI"):
        return MR
    return UNKNOWN


def _sample(array: np.ndarray, limit: int = 1_000_000) -> np.ndarray:
    flat = np.asarray(array).ravel(order="K")
    sample = flat[:: max(1, flat.size // limit)].astype(np.float32, copy=False)
    return sample[np.isfinite(sample)]


def _fraction(sample: np.ndarray, low: float, high: float) -> float:
    return float(np.count_nonzero((sample >= low) & (sample <= high))) / max(1, sample.size)


def guess_from_intensities(array: np.ndarray) -> ModalityGuess:
    """CT, MR or unknown from the value distribution alone (see the module docstring)."""
    sample = _sample(array)
    if sample.size == 0:
        return ModalityGuess(UNKNOWN, "intensities", "the volume holds no finite values")
    rounded = np.all(sample == np.round(sample))
    if rounded and np.unique(sample[:200_000]).size <= MAX_LABEL_VALUES:
        return ModalityGuess(
            UNKNOWN, "intensities", "only a few integer values: a label map, not an image"
        )
    # Padding outside the field of view (below the air range) says nothing about the scan.
    inside = sample[sample >= AIR_HU[0]]
    if inside.size == 0:
        inside = sample
    air = _fraction(inside, *AIR_HU)
    fat = _fraction(inside, *FAT_HU)
    soft = _fraction(inside, *SOFT_TISSUE_HU)
    low = float(np.percentile(sample, 0.5))
    if low < -500.0 and air > 0.005 and soft > 0.03 and (fat > 0.005 or soft > 0.2):
        return ModalityGuess(
            CT,
            "intensities",
            f"Hounsfield-like values: {100 * air:.0f} % air near -1000, "
            f"{100 * fat:.0f} % fat near -100, {100 * soft:.0f} % soft tissue",
        )
    if low >= -0.01 * max(1.0, float(np.percentile(sample, 99.5))):
        return ModalityGuess(
            MR,
            "intensities",
            "values from about 0 up with no air near -1000: MR-like, not Hounsfield units",
        )
    return ModalityGuess(
        UNKNOWN, "intensities", "negative values that do not follow the Hounsfield scale"
    )


def detect_modality(volume) -> ModalityGuess:
    """The modality of a :class:`viewer.volume.Volume`: its header's, else its intensities'."""
    header = normalize_name(getattr(volume, "modality", ""))
    if header in KNOWN:
        return ModalityGuess(header, "header", f"DICOM Modality {header}")
    guess = guess_from_intensities(volume.array)
    raw = (getattr(volume, "modality", "") or "").strip()
    if raw:  # a DICOM modality this app has no model for (PT, US, OT...)
        return ModalityGuess(UNKNOWN, "header", f"DICOM Modality {raw}: neither CT nor MR")
    return guess
