"""Checking a predicted mask against a reference, slice by slice (Qt-free).

A :class:`ReviewPair` holds a prediction and a reference on one canonical grid
(the open volume's), computes the metrics once with the engine's own
:func:`segmentation.metrics.evaluate_masks` (so the panel can never disagree with
``spleenscope evaluate``), the Dice of every slice along a chosen axis, and the
order in which a reviewer should look at slices: most disagreeing voxels first.

It also builds the overlay layers of each display mode. The difference map uses
three colours a colour-blind reader can still tell apart (after Okabe and Ito's
palette): agreement bluish green, prediction-only (false positive) orange,
reference-only (false negative) sky blue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from segmentation.metrics import Evaluation, difference_map, evaluate_masks, per_slice_dice
from viewer.overlays import OverlayLayer

log = logging.getLogger(__name__)

#: Display modes, in the order the chooser lists them.
MODES = ("prediction", "reference", "outlines", "difference")
MODE_LABELS = {
    "prediction": "Prediction",
    "reference": "Reference",
    "outlines": "Both as outlines",
    "difference": "Difference map",
}

PREDICTION_COLOR = (255, 196, 0)  # amber: the model's answer
REFERENCE_COLOR = (0, 200, 255)  # cyan: the reference
AGREEMENT, FALSE_POSITIVE, FALSE_NEGATIVE = 1, 2, 3
DIFFERENCE_COLORS = {
    AGREEMENT: (0, 158, 115),
    FALSE_POSITIVE: (240, 140, 0),
    FALSE_NEGATIVE: (86, 180, 233),
}
DIFFERENCE_NAMES = {
    AGREEMENT: "agreement",
    FALSE_POSITIVE: "false positive (prediction only)",
    FALSE_NEGATIVE: "false negative (reference only)",
}
#: Overlay layer names the review owns (the main window keys layers by name).
PREDICTION_LAYER = "prediction"
REFERENCE_LAYER = "reference"
DIFFERENCE_LAYER = "difference"
REVIEW_LAYERS = (PREDICTION_LAYER, REFERENCE_LAYER, DIFFERENCE_LAYER)


def binary(mask: np.ndarray) -> np.ndarray:
    """A label map as uint8 0/1 (any non-zero label counts as spleen).

    A mask that already is uint8 0/1 comes back as is (no copy): on a 512 x 512 x
    600 CT each copy costs the GUI thread tens of milliseconds.
    """
    array = np.asarray(mask)
    if array.dtype == np.uint8 and (array.size == 0 or int(array.max()) <= 1):
        return array
    return (array > 0).astype(np.uint8)


@dataclass
class ReviewPair:
    """A prediction and a reference on the same grid (``affine``: voxel -> RAS mm)."""

    prediction: np.ndarray
    reference: np.ndarray
    affine: np.ndarray
    axis: int = 2
    _order_cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.prediction = binary(self.prediction)
        self.reference = binary(self.reference)
        if self.prediction.shape != self.reference.shape:
            raise ValueError(
                f"prediction {self.prediction.shape} and reference {self.reference.shape} "
                "are not on the same grid"
            )
        self.affine = np.asarray(self.affine, dtype=float)

    @cached_property
    def evaluation(self) -> Evaluation:
        """Dice, IoU, HD95, ASSD and volumes, exactly as ``segmentation.metrics`` computes them."""
        return evaluate_masks(self.prediction, self.reference, self.affine)

    @cached_property
    def difference(self) -> np.ndarray:
        """0 background, 1 agreement, 2 false positive, 3 false negative."""
        return difference_map(self.prediction, self.reference)

    def slice_dice(self, axis: int | None = None) -> np.ndarray:
        """Dice of every slice along ``axis`` (NaN where both masks are empty)."""
        return per_slice_dice(self.prediction, self.reference, self.axis if axis is None else axis)

    def disagreement(self, axis: int | None = None) -> np.ndarray:
        """Voxels that differ (false positive + false negative) on each slice along ``axis``."""
        axis = self.axis if axis is None else axis
        wrong = self.difference >= FALSE_POSITIVE
        other = tuple(a for a in range(3) if a != axis)
        return np.count_nonzero(wrong, axis=other)

    def slices_by_disagreement(self, axis: int | None = None) -> list[int]:
        """Slices with any disagreement, worst first (ties: the lower Dice, then index)."""
        axis = self.axis if axis is None else axis
        if axis not in self._order_cache:
            counts = self.disagreement(axis)
            dice = np.nan_to_num(self.slice_dice(axis), nan=1.0)
            candidates = np.flatnonzero(counts > 0)
            order = sorted(candidates, key=lambda i: (-int(counts[i]), float(dice[i]), int(i)))
            self._order_cache[axis] = [int(i) for i in order]
        return list(self._order_cache[axis])

    def disagreement_center(self, index: int, axis: int | None = None) -> np.ndarray | None:
        """Voxel (i, j, k) at the centre of the disagreeing voxels of one slice, or None."""
        axis = self.axis if axis is None else axis
        wrong = np.take(self.difference, int(index), axis=axis) >= FALSE_POSITIVE
        if not wrong.any():
            return None
        rows, cols = np.nonzero(wrong)
        center = [float(rows.mean()), float(cols.mean())]
        center.insert(axis, float(index))
        return np.asarray(center)

    def next_worst_slice(self, after: int | None = None, axis: int | None = None) -> int | None:
        """The slice to look at after ``after`` in worst-first order (wraps around).

        ``after=None`` (or a slice that is not on the list) gives the worst slice;
        None when the masks agree everywhere.
        """
        order = self.slices_by_disagreement(axis)
        if not order:
            return None
        if after is None or after not in order:
            return order[0]
        return order[(order.index(after) + 1) % len(order)]


def mask_layer(name: str, mask: np.ndarray, color: tuple[int, int, int], label: str,
               mode: str = "fill", opacity: float = 0.45) -> OverlayLayer:
    """A binary mask as a single-colour overlay layer."""
    return OverlayLayer(name=name, labels=binary(mask), colors={1: color},
                        label_names={1: label}, opacity=opacity, mode=mode)


def prediction_layer(mask: np.ndarray, mode: str = "fill") -> OverlayLayer:
    return mask_layer(PREDICTION_LAYER, mask, PREDICTION_COLOR, "spleen (prediction)", mode)


def reference_layer(mask: np.ndarray, mode: str = "fill") -> OverlayLayer:
    return mask_layer(REFERENCE_LAYER, mask, REFERENCE_COLOR, "spleen (reference)", mode)


def difference_layer(pair: ReviewPair) -> OverlayLayer:
    return OverlayLayer(name=DIFFERENCE_LAYER, labels=pair.difference,
                        colors=dict(DIFFERENCE_COLORS), label_names=dict(DIFFERENCE_NAMES),
                        opacity=0.55)


def layers_for_mode(mode: str, prediction: np.ndarray | None,
                    reference: np.ndarray | None, pair: ReviewPair | None = None
                    ) -> list[OverlayLayer]:
    """The overlay layers that show ``mode`` (fewer when a mask is missing).

    ``outlines`` draws both masks as outlines so the image shows through;
    ``difference`` needs both masks (or a ready ``pair``) and falls back to
    whichever mask exists.
    """
    if mode not in MODES:
        raise ValueError(f"unknown review mode {mode!r}; choose one of {MODES}")
    if mode == "difference" and prediction is not None and reference is not None:
        if pair is None:
            pair = ReviewPair(prediction, reference, np.eye(4))
        return [difference_layer(pair)]
    layers: list[OverlayLayer] = []
    outline = "outline" if mode == "outlines" else "fill"
    if reference is not None and mode in ("reference", "outlines", "difference"):
        layers.append(reference_layer(reference, outline))
    if prediction is not None and mode in ("prediction", "outlines", "difference"):
        layers.append(prediction_layer(prediction, outline))
    if outline == "outline":
        for layer in layers:
            layer.opacity = 1.0
    return layers
