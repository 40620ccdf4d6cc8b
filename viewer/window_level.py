"""Window/level: presets from ``resources/window_presets.json`` and automatic windows.

A window is ``(center, width)`` as DICOM writes it; pyqtgraph wants levels
``(low, high)``. Qt-free.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from viewer.package_data import read_resource_text

log = logging.getLogger(__name__)

MIN_WIDTH = 1.0


@dataclass(frozen=True)
class WindowPreset:
    key: str  # short name used by --preset and the menu
    label: str
    center: float
    width: float
    shortcut: str = ""


@lru_cache(maxsize=1)
def load_presets() -> tuple[WindowPreset, ...]:
    """CT presets, in menu order."""
    data = json.loads(read_resource_text("window_presets.json"))
    return tuple(WindowPreset(**item) for item in data["presets"])


def preset_by_key(key: str) -> WindowPreset:
    for preset in load_presets():
        if preset.key == key.lower():
            return preset
    names = ", ".join(p.key for p in load_presets())
    raise KeyError(f"unknown window preset {key!r}; choose one of: {names}, header, auto")


def levels_from_window(center: float, width: float) -> tuple[float, float]:
    width = max(float(width), MIN_WIDTH)
    return (float(center) - width / 2.0, float(center) + width / 2.0)


def window_from_levels(low: float, high: float) -> tuple[float, float]:
    return ((float(low) + float(high)) / 2.0, max(float(high) - float(low), MIN_WIDTH))


def auto_window(array: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
    """A window from intensity percentiles (for MR, whose units mean nothing absolute).

    Samples at most about a million voxels so it stays fast on large volumes;
    background zeros are excluded when most of the image is zero.
    """
    # order="K": a view in memory order (volumes from viewer.io are Fortran-ordered;
    # reshape(-1) would copy the whole volume just to take a subsample)
    flat = array.ravel(order="K")
    step = max(1, flat.size // 1_000_000)
    sample = flat[::step].astype(np.float32, copy=False)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return (0.0, 1.0)
    nonzero = sample[sample != 0]
    if nonzero.size > 0.05 * sample.size:
        sample = nonzero
    low, high = np.percentile(sample, [low_pct, high_pct])
    return window_from_levels(float(low), float(high) if high > low else float(low) + 1.0)


def looks_like_ct(volume) -> bool:
    """CT by the DICOM Modality, or (NIfTI has none) by Hounsfield-like intensities.

    :func:`viewer.modality.detect_modality` decides: air, fat and soft tissue where HU
    put them, whatever the padding value (-1024, -3024...) below the air.
    """
    from viewer.modality import CT, detect_modality

    return detect_modality(volume).modality == CT


def default_window(volume) -> tuple[float, float]:
    """Header window if present, else abdomen for CT, else automatic."""
    if volume.window and volume.window[1] > 0:
        return (float(volume.window[0]), float(volume.window[1]))
    if looks_like_ct(volume):
        preset = preset_by_key("abdomen")
        return (preset.center, preset.width)
    return auto_window(volume.array)


def drag_window(
    center: float, width: float, dx: float, dy: float, value_span: float
) -> tuple[float, float]:
    """New window after a mouse drag of (dx, dy) screen pixels.

    Right widens the window; down lowers the level, so the picture gets brighter
    (what Help > Shortcuts and the README say). One pixel changes them by
    ``value_span / 1000`` (about 3 HU for CT).
    """
    per_pixel = max(value_span, 1.0) / 1000.0
    return (center - dy * per_pixel, max(width + dx * per_pixel * 2.0, MIN_WIDTH))
