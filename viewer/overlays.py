"""Label maps drawn over the image: their state, colours, names, and loading from files.

An :class:`OverlayLayer` is an integer label array on the volume's canonical grid
plus how to draw it. An :class:`OverlayStack` keeps layers in drawing order. Neither
emits events: the UI re-renders when it is told to (``MainWindow.refresh_overlays``).
Qt-free.
"""

from __future__ import annotations

import colorsys
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from viewer.errors import GeometryError
from viewer.grid import same_grid
from viewer.package_data import read_resource_text
from viewer.volume import Volume

log = logging.getLogger(__name__)

MODES = ("fill", "outline")


@dataclass
class OverlayLayer:
    """One label map and how it is drawn.

    ``labels`` is uint8 or uint16 on the volume's canonical grid (0 = nothing).
    ``colors`` maps label -> (r, g, b) 0-255; labels without a colour get one from
    :func:`label_colors` when the layer is created.
    """

    name: str
    labels: np.ndarray
    colors: dict = field(default_factory=dict)
    label_names: dict = field(default_factory=dict)
    opacity: float = 0.5
    mode: str = "fill"
    visible: bool = True

    def __post_init__(self) -> None:
        if self.labels.ndim != 3:
            raise ValueError(f"overlay {self.name!r} needs a 3D label array, got {self.labels.shape}")
        if self.labels.dtype not in (np.uint8, np.uint16):
            self.labels = as_label_array(self.labels)
        if self.mode not in MODES:
            raise ValueError(f"overlay mode must be one of {MODES}, got {self.mode!r}")
        present = present_labels(self.labels)
        generated = label_colors(int(max(present, default=0)))
        for label in present:
            self.colors.setdefault(int(label), generated[int(label)])

    @property
    def present(self) -> list[int]:
        """Non-zero labels that occur in the map (computed once per call; cache if hot)."""
        return present_labels(self.labels)

    def name_of(self, label: int) -> str:
        return self.label_names.get(int(label), f"label {int(label)}")


class OverlayStack:
    """Layers in drawing order (first added is drawn lowest), keyed by name."""

    def __init__(self) -> None:
        self._layers: dict[str, OverlayLayer] = {}

    def add(self, layer: OverlayLayer) -> None:
        """Add a layer, or replace the one with the same name keeping its place."""
        self._layers[layer.name] = layer

    replace = add

    def remove(self, name: str) -> OverlayLayer | None:
        return self._layers.pop(name, None)

    def get(self, name: str) -> OverlayLayer | None:
        return self._layers.get(name)

    def clear(self) -> None:
        self._layers.clear()

    def names(self) -> list[str]:
        return list(self._layers)

    def __iter__(self):
        return iter(list(self._layers.values()))

    def __len__(self) -> int:
        return len(self._layers)

    def __contains__(self, name: object) -> bool:
        return name in self._layers

    def label_at(self, ijk) -> list[tuple[OverlayLayer, int]]:
        """(layer, label) of every visible layer with a non-zero label at voxel ``ijk``."""
        i, j, k = (int(v) for v in ijk)
        hits = []
        for layer in self:
            if not layer.visible:
                continue
            shape = layer.labels.shape
            if 0 <= i < shape[0] and 0 <= j < shape[1] and 0 <= k < shape[2]:
                value = int(layer.labels[i, j, k])
                if value:
                    hits.append((layer, value))
        return hits


#: Up to this many labels, a label map is counted one label at a time (a uint8
#: comparison per label); above it, in chunks by bincount. Either way no int64 copy of
#: the whole volume is made: on the GUI thread that copy cost tens of milliseconds.
_FEW_LABELS = 8
_COUNT_CHUNK = 1 << 20


def label_counts(labels: np.ndarray) -> np.ndarray:
    """Voxel count of every label value 0..max (int64, ``counts[v]`` for label ``v``)."""
    if not labels.size:
        return np.zeros(1, dtype=np.int64)
    top = int(labels.max())
    counts = np.zeros(top + 1, dtype=np.int64)
    if top <= _FEW_LABELS:
        for value in range(1, top + 1):
            counts[value] = np.count_nonzero(labels == value)
        counts[0] = labels.size - counts[1:].sum()
        return counts
    flat = labels.ravel(order="K")  # a view for any contiguous volume
    for start in range(0, flat.size, _COUNT_CHUNK):
        counts += np.bincount(flat[start:start + _COUNT_CHUNK], minlength=top + 1)
    return counts


def present_labels(labels: np.ndarray) -> list[int]:
    """Sorted non-zero label values."""
    top = int(labels.max()) if labels.size else 0
    if top <= 1:  # binary masks (most): the maximum says it all
        return [1] if top == 1 else []
    counts = label_counts(labels)
    return [int(v) for v in np.nonzero(counts)[0] if v != 0]


def label_volumes_ml(labels: np.ndarray, voxel_mm3: float) -> dict[int, float]:
    """Each non-zero label's volume in mL (voxel count x voxel volume), in label order."""
    if not labels.size:
        return {}
    if labels.dtype == bool or int(labels.max()) <= 1:  # binary masks (most): one count
        count = int(np.count_nonzero(labels))
        return {1: count * voxel_mm3 / 1000.0} if count else {}
    counts = label_counts(labels)
    return {int(v): int(counts[v]) * voxel_mm3 / 1000.0 for v in np.nonzero(counts)[0] if v}


def as_label_array(array: np.ndarray) -> np.ndarray:
    """Integer labels as uint8 (or uint16 when needed); floats are rounded."""
    if array.dtype.kind == "f":
        array = np.rint(np.nan_to_num(array))
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise GeometryError(
            "mask holds values outside 0..65535; it is not a label map (open it as an image)"
        )
    top = int(array.max()) if array.size else 0
    return array.astype(np.uint8 if top < 256 else np.uint16, copy=False)


def label_colors(n: int) -> dict[int, tuple[int, int, int]]:
    """Distinct colours for labels 1..n: label 1 is a strong red, then golden-ratio hues."""
    colors: dict[int, tuple[int, int, int]] = {}
    first = tuple(_color_table()["default_first"])
    for label in range(1, n + 1):
        if label == 1:
            colors[label] = first  # type: ignore[assignment]
            continue
        hue = (0.12 + label * 0.618033988749895) % 1.0
        saturation = 0.65 + 0.3 * ((label * 7) % 3) / 2.0
        value = 0.95 - 0.2 * ((label * 5) % 2)
        r, g, b = colorsys.hsv_to_rgb(hue, min(saturation, 1.0), value)
        colors[label] = (int(r * 255), int(g * 255), int(b * 255))
    return colors


@lru_cache(maxsize=1)
def _color_table() -> dict:
    return json.loads(read_resource_text("colors.json"))


@lru_cache(maxsize=1)
def _label_name_tables() -> dict:
    return json.loads(read_resource_text("label_names.json"))


def totalsegmentator_names() -> dict[int, str]:
    """TotalSegmentator CT class names (1 spleen, 2 kidney_right, ..., 117)."""
    table = _label_name_tables()["totalsegmentator_ct"]
    return {int(k): v for k, v in table.items()}


#: Labels 1..9 mean the same organ in TotalSegmentator's CT and MR class maps.
MR_SHARED_LABELS = 9


def guess_label_names(labels_present: list[int], modality: str = "") -> dict[int, str]:
    """Names for a mask file's labels when the file itself carries none.

    A binary mask in this program is a spleen mask. Multi-label CT maps whose labels
    fit TotalSegmentator's 117 classes get its names; anything else gets none (a
    wrong name is worse than a number).
    """
    if labels_present == [1]:
        return {1: "spleen"}
    if not labels_present or max(labels_present) > 117:
        return {}
    names = totalsegmentator_names()
    if modality.upper() == "MR":
        # TotalSegmentator's MR map shares only its first classes with the CT map
        # (spleen, kidneys, gallbladder, liver, stomach, pancreas, adrenal glands);
        # from 10 on the numbers mean other structures, so they stay unnamed
        return {label: names[label] for label in labels_present if label <= MR_SHARED_LABELS}
    return {label: names[label] for label in labels_present if label in names}


def colors_for_names(label_names: dict[int, str]) -> dict[int, tuple[int, int, int]]:
    """Conventional anatomy colours for the labels whose names we know."""
    by_name = _color_table()["by_name"]
    return {label: tuple(by_name[name]) for label, name in label_names.items() if name in by_name}


def resample_labels_nearest(mask: Volume, volume: Volume) -> np.ndarray:
    """Mask labels resampled onto ``volume``'s grid with nearest neighbour (0 outside)."""
    from scipy import ndimage

    # target voxel -> world -> mask voxel
    matrix = np.linalg.inv(mask.affine) @ volume.affine
    labels = as_label_array(mask.array)
    return ndimage.affine_transform(
        labels,
        matrix[:3, :3],
        offset=matrix[:3, 3],
        output_shape=volume.shape,
        order=0,
        mode="constant",
        cval=0,
        prefilter=False,
    )


def load_mask_for_volume(path: str | Path, volume: Volume) -> tuple[np.ndarray, str]:
    """Read a label file and put it on ``volume``'s canonical grid.

    Returns ``(labels, notice)``: ``notice`` is empty when the mask was on the same
    grid, otherwise a sentence saying it was resampled (nearest neighbour) so the
    user knows the overlay is not the file's own voxels.
    Raises :class:`GeometryError` when the mask and the image do not overlap at all.
    """
    from viewer.io import load_volume
    from viewer.io.dicom_seg import is_dicom_seg, load_seg_for_volume

    if is_dicom_seg(path):  # frames placed on this volume's grid, never resampled
        labels, _names, notices = load_seg_for_volume(path, volume)
        return labels, " ".join(notices)
    mask = load_volume(path)
    if same_grid(mask.affine, mask.shape, volume.affine, volume.shape):
        return as_label_array(mask.array), ""
    labels = resample_labels_nearest(mask, volume)
    if not labels.any() and mask.array.any():
        raise GeometryError(
            f"{Path(path).name}: the mask does not overlap the image in world space; "
            "check that it belongs to this series"
        )
    notice = (
        f"{Path(path).name} lies on another grid ({'x'.join(map(str, mask.shape))}, "
        f"{'x'.join(f'{s:.3g}' for s in mask.spacing)} mm); resampled onto the image grid "
        "with nearest neighbour"
    )
    log.info("mask resampled onto the image grid")
    return labels, notice
