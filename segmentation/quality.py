"""The self-check every result carries: ``ok``, ``check`` or ``failed``, with reasons and slices.

``failed`` means the number must not be used: the model does not match the input's
modality, nothing was found, or what was found cannot be a spleen (a volume outside
20-3000 mL, or on the patient's right). ``check`` means a person should look before
using it: several large separate regions, the spleen cut by the side of the field of
view, many uncertain slices or a wide volume range, or a modality nobody could tell.
``ok`` otherwise. A spleen running past the first or last slice is only a note (the
volume is then a lower bound, which the result also says); it does not make the
segmentation itself doubtful.

Reasons are sentences a radiologist understands; ``uncertain_slices`` are indices
along the slicing axis of the input's canonical grid (the window's slice numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from segmentation.measurements import SpleenMeasurements, voxel_volume_mm3
from segmentation.postprocess import FULL_CONNECTIVITY, foreground_box
from segmentation.uncertainty import UncertaintySummary
from viewer.modality import CT, KNOWN, ModalityGuess

OK, CHECK, FAILED = "ok", "check", "failed"
VERDICTS = (OK, CHECK, FAILED)
PLAUSIBLE_VOLUME_ML = (20.0, 3000.0)
WRONG_SIDE_MM = 20.0  # spleen centre this far right of the body's centre
# The spleen lies behind the ribs and the body wall and is 3-6 cm thick, so its centre
# sits well inside the body's outline on the left: 44-152 mm on the 13 reference
# spleens here (12 CHAOS MR, the sample CT). Models that miss the spleen on another MR
# sequence put their region in the side wall instead, 11-16 mm inside.
SIDE_WALL_MM = 25.0
SECOND_COMPONENT_ML = 10.0
SECOND_COMPONENT_FRACTION = 0.2
UNCERTAIN_SLICE_FRACTION = 0.25  # of the slices holding spleen
RANGE_WIDTH_FRACTION = 0.35  # (high - low) / volume


@dataclass
class QualityVerdict:
    verdict: str = OK
    reasons: list[str] = field(default_factory=list)
    uncertain_slices: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def demote(self, verdict: str, reason: str) -> None:
        """Add a reason; the verdict only ever gets worse (ok < check < failed)."""
        self.reasons.append(reason)
        if VERDICTS.index(verdict) > VERDICTS.index(self.verdict):
            self.verdict = verdict

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "uncertain_slices": [int(i) for i in self.uncertain_slices],
            "notes": list(self.notes),
        }

    def one_line(self) -> str:
        """``verdict: reason; reason`` for stderr and status bars."""
        text = self.verdict
        if self.reasons:
            text += ": " + "; ".join(self.reasons)
        return text


def modality_reasons(
    verdict: QualityVerdict, guess: ModalityGuess, model_modality: str, requested: str
) -> None:
    """Mismatch between the input and the model -> failed; an unknown input -> check."""
    if guess.known and model_modality != guess.modality:
        verdict.demote(
            FAILED,
            f"the input is {guess.modality} ({guess.reason}) but the model was trained on "
            f"{model_modality}: its mask cannot be trusted; use --modality auto or "
            f"{'an' if guess.modality == 'MR' else 'a'} {guess.modality} model",
        )
    elif not guess.known and requested not in KNOWN:
        verdict.demote(
            CHECK,
            f"the modality could not be told from the file ({guess.reason}); the "
            f"{model_modality} model was used: choose CT or MR if that is wrong",
        )
    elif not guess.known:
        verdict.notes.append(f"modality set to {requested} by the user ({guess.reason})")


def body_centre_x_mm(array: np.ndarray, affine: np.ndarray, modality: str) -> float | None:
    """World x (RAS: + is the patient's right) of the body's centre, from a subsample."""
    step = 4
    body = body_mask(np.asarray(array)[::step, ::step, :], modality)
    if body is None or not body.any():
        return None
    centre = np.array([axis.mean() for axis in np.nonzero(body)], dtype=float)
    centre[:2] *= step
    return float((np.asarray(affine)[:3, :3] @ centre + np.asarray(affine)[:3, 3])[0])


def body_mask(array: np.ndarray, modality: str) -> np.ndarray | None:
    """Voxels inside the body: above -500 HU on CT, above a tenth of the 99th
    percentile on MR (no fixed scale); None for an image with no finite value."""
    array = np.asarray(array)
    if modality == CT:
        return array > -500.0
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return None
    return array > 0.1 * float(np.percentile(finite, 99))


def depth_inside_left_side_mm(image: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                              modality: str, axis: int) -> float | None:
    """How far (mm, world x) the mask's centre lies inside the body's left outline, on
    the slices the mask spans (the image's edge where the body runs out of it)."""
    along = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
    step = 2  # every other voxel in-plane: the outline to within 2 voxels, 4x less work
    window = [slice(None, None, step)] * 3
    window[axis] = slice(int(along[0]), int(along[-1]) + 1)
    body = body_mask(np.asarray(image)[tuple(window)], modality)
    if body is None or not body.any():
        return None
    # World x of every voxel of the slab, as a sum of one term per axis (no index arrays).
    x = np.zeros((1, 1, 1), dtype=np.float32)
    for a in range(3):
        indices = np.arange(body.shape[a], dtype=np.float32)
        indices = indices + along[0] if a == axis else indices * step
        shape = [1, 1, 1]
        shape[a] = -1
        x = x + (float(affine[0, a]) * indices).reshape(shape)
    left_x = float(np.min(x, where=body, initial=np.inf)) + float(affine[0, 3])
    return mask_centre_x_mm(mask, affine) - left_x


def mask_centre_x_mm(mask: np.ndarray, affine: np.ndarray) -> float:
    # The mean index along each axis from the mask's projections: the same centre as
    # np.nonzero's, without its index arrays (a tenth of the time on a 512 x 512 CT).
    mask = np.asarray(mask, dtype=bool)
    centre = np.empty(3)
    for a in range(3):
        counts = np.count_nonzero(mask, axis=tuple(b for b in range(3) if b != a))
        centre[a] = float(np.arange(mask.shape[a]) @ counts) / float(counts.sum())
    return float((np.asarray(affine)[:3, :3] @ centre + np.asarray(affine)[:3, 3])[0])


def candidate_regions_ml(probabilities: np.ndarray, threshold: float, affine) -> list[float]:
    """Volumes of the separate regions above ``threshold``, largest first (before clean-up)."""
    above = np.asarray(probabilities) > threshold
    if not above.any():
        return []
    box = foreground_box(above)
    labels, count = ndimage.label(above[box], structure=FULL_CONNECTIVITY)
    sizes = np.bincount(labels.ravel())[1:]
    voxel_ml = voxel_volume_mm3(affine) / 1000.0
    return sorted((float(s) * voxel_ml for s in sizes), reverse=True)


def assess(
    *,
    guess: ModalityGuess,
    model_modality: str,
    requested_modality: str,
    image: np.ndarray,
    mask: np.ndarray,
    probabilities: np.ndarray,
    threshold: float,
    affine: np.ndarray,
    axis: int,
    measurements: SpleenMeasurements,
    uncertainty: UncertaintySummary,
) -> QualityVerdict:
    """The verdict on one result (see the module docstring for the rules)."""
    verdict = QualityVerdict()
    modality_reasons(verdict, guess, model_modality, requested_modality)
    volume = measurements.volume_ml
    if measurements.voxels == 0:
        verdict.demote(FAILED, "no spleen found: the mask is empty")
        return verdict
    low, high = PLAUSIBLE_VOLUME_ML
    if not low <= volume <= high:
        verdict.demote(
            FAILED,
            f"implausible spleen volume {volume:.1f} mL (a spleen is {low:.0f}-{high:.0f} mL)",
        )
    body_x = body_centre_x_mm(image, affine, guess.modality if guess.known else model_modality)
    if body_x is not None:
        offset = mask_centre_x_mm(mask, affine) - body_x
        if offset > WRONG_SIDE_MM:
            verdict.demote(
                FAILED,
                f"the region found lies {offset:.0f} mm right of the body's midline; the "
                "spleen is on the left: check the result and the file's orientation",
            )
    depth = depth_inside_left_side_mm(
        image, mask, affine, guess.modality if guess.known else model_modality, axis)
    if depth is not None and depth < SIDE_WALL_MM:
        verdict.demote(
            CHECK,
            f"the region found lies in the left side wall ({depth:.0f} mm inside the body's "
            f"outline; a spleen's centre lies more than {SIDE_WALL_MM:.0f} mm inside): it may "
            "be another structure, look at it",
        )
    regions = candidate_regions_ml(probabilities, threshold, affine)
    if len(regions) > 1 and regions[1] >= max(
        SECOND_COMPONENT_ML, SECOND_COMPONENT_FRACTION * regions[0]
    ):
        verdict.demote(
            CHECK,
            f"{sum(r >= SECOND_COMPONENT_ML for r in regions)} separate large regions "
            f"({regions[0]:.0f} and {regions[1]:.0f} mL); only the largest was kept",
        )
    nonzero = np.nonzero(mask)
    in_plane = [a for a in range(3) if a != axis]
    if any(nonzero[a].min() == 0 or nonzero[a].max() == mask.shape[a] - 1 for a in in_plane):
        verdict.demote(
            CHECK, "the spleen is cut by the side of the field of view: the volume is too low"
        )
    if nonzero[axis].min() == 0 or nonzero[axis].max() == mask.shape[axis] - 1:
        verdict.notes.append(
            "the spleen runs past the first or last slice: volume and length are lower bounds"
        )
    spleen_slices = np.unique(nonzero[axis]).size
    verdict.uncertain_slices = list(uncertainty.uncertain_slices)
    if uncertainty.uncertain_slices and len(uncertainty.uncertain_slices) >= max(
        2, UNCERTAIN_SLICE_FRACTION * spleen_slices
    ):
        shown = ", ".join(str(i) for i in uncertainty.uncertain_slices[:8])
        verdict.demote(
            CHECK,
            f"the model is unsure on {len(uncertainty.uncertain_slices)} slices "
            f"({shown}{'...' if len(uncertainty.uncertain_slices) > 8 else ''}): look there",
        )
    range_low, range_high = uncertainty.volume_range_ml
    if volume > 0 and (range_high - range_low) > RANGE_WIDTH_FRACTION * volume:
        verdict.demote(
            CHECK,
            f"the volume is uncertain: {range_low:.0f}-{range_high:.0f} mL around {volume:.0f} mL",
        )
    return verdict
