"""Segment one study, start to finish, with no Qt: the one function every front end calls.

:func:`segment_study` is what ``spleenscope segment`` (viewer/cli/segment.py), the
batch engine (viewer/batch/) and the window's Segment command run:

1. detect the input's modality (:mod:`viewer.modality`: DICOM header, else intensities);
2. choose the model: the one given, else the active model of the modality asked for
   (``modality="auto"``: the detected one; an undetectable input gets the CT model
   and a ``check`` verdict);
3. infer and post-process (:func:`segmentation.inference.segment_volume`);
4. measure the volume and its range, the uncertain slices
   (:mod:`segmentation.uncertainty`) and the verdict (:mod:`segmentation.quality`).

:meth:`StudyResult.summary` is exactly the JSON ``segment --json`` prints: the keys of
:meth:`segmentation.inference.SegmentationResult.summary` plus ``modality``,
``modality_source``, ``model_modality``, ``volume_ml_range`` and ``quality``
(``verdict``, ``reasons``, ``uncertain_slices``, ``notes``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmentation.quality import QualityVerdict, assess
from segmentation.uncertainty import UncertaintySummary, entropy_map, summarize
from viewer.errors import SpleenScopeError
from viewer.modality import CT, KNOWN, ModalityGuess, detect_modality, normalize_name

MODALITY_CHOICES = ("auto", "ct", "mr")


@dataclass
class StudyResult:
    """A segmentation with everything needed to judge it."""

    segmentation: object  # segmentation.inference.SegmentationResult
    modality: ModalityGuess
    model_modality: str
    uncertainty: UncertaintySummary
    quality: QualityVerdict
    seconds: float

    def __getattr__(self, name: str):
        # The segmentation's own facts (model_name, device, axis, slices...) read through,
        # so code written for a SegmentationResult takes a StudyResult as it is.
        if name == "segmentation":
            raise AttributeError(name)
        return getattr(self.segmentation, name)

    @property
    def mask(self) -> np.ndarray:
        return self.segmentation.mask

    @property
    def probabilities(self) -> np.ndarray | None:
        return self.segmentation.probabilities

    @property
    def measurements(self):
        return self.segmentation.measurements

    def uncertainty_map(self) -> np.ndarray:
        """Per-voxel uncertainty (0..1) on the canonical grid; needs the probabilities."""
        if self.probabilities is None:
            raise SpleenScopeError("the uncertainty map needs the probabilities; none were kept")
        return entropy_map(self.probabilities)

    def summary(self) -> dict:
        data = self.segmentation.summary()
        data.update(
            seconds=round(self.seconds, 3),
            modality=self.modality.modality,
            modality_source=self.modality.source,
            model_modality=self.model_modality,
            volume_ml_range=[float(v) for v in self.uncertainty.volume_range_ml],
            quality=self.quality.as_dict(),
        )
        return data


def requested_modality(modality: str | None) -> str:
    """``"auto"`` or the normalized forced modality; a clear error for anything else."""
    choice = (modality or "auto").strip().lower()
    if choice not in MODALITY_CHOICES:
        raise SpleenScopeError(f"unknown modality '{modality}'; choose auto, ct or mr")
    return "auto" if choice == "auto" else normalize_name(choice)


def model_path_for(requested: str, guess: ModalityGuess) -> Path:
    """The active model file for a forced modality, else for the detected one (CT's
    when the input's modality is unknown)."""
    from segmentation.registry import active_model_path

    wanted = requested if requested in KNOWN else guess.modality
    return Path(active_model_path(wanted if wanted in KNOWN else CT))


def choose_model(model, requested: str, guess: ModalityGuess, device="auto"):
    """The LoadedModel to run on ``device``: ``model`` if given, else the active model of
    the modality (kept in the model cache under the device it will run on)."""
    from segmentation.devices import pick_device
    from segmentation.inference import resolve_model

    chosen = model if model is not None else model_path_for(requested, guess)
    return resolve_model(chosen, device=pick_device(device))


def segment_study(
    volume,
    modality: str = "auto",
    model=None,
    device="auto",
    axis=None,
    batch_size: int | None = None,
    progress=None,
    cancel=None,
    keep_probabilities: bool = False,
    guess: ModalityGuess | None = None,
) -> StudyResult:
    """Segment ``volume`` (a canonical :class:`viewer.volume.Volume`) and judge the result.

    ``modality`` is ``"auto"``, ``"ct"`` or ``"mr"`` (case-insensitive). A forced
    modality picks that modality's model; when it contradicts what the file is, the
    result is still produced but its verdict is ``failed`` with the reason.
    """
    requested = requested_modality(modality)
    from segmentation.inference import segment_volume

    started = time.perf_counter()
    guess = guess or detect_modality(volume)
    loaded = choose_model(model, requested, guess, device)
    result = segment_volume(
        volume,
        model=loaded,
        device=device,
        axis=axis,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
        return_probabilities=True,
    )
    uncertainty = summarize(result.probabilities, result.mask, volume.affine, result.axis)
    verdict = assess(
        guess=guess,
        model_modality=loaded.config.modality,
        requested_modality=requested,
        image=volume.array,
        mask=result.mask,
        probabilities=result.probabilities,
        threshold=loaded.config.threshold,
        affine=volume.affine,
        axis=result.axis,
        measurements=result.measurements,
        uncertainty=uncertainty,
    )
    if not keep_probabilities:
        result.probabilities = None
    return StudyResult(
        segmentation=result,
        modality=guess,
        model_modality=loaded.config.modality,
        uncertainty=uncertainty,
        quality=verdict,
        seconds=time.perf_counter() - started,
    )


def segment_file(path: str | Path, series: int | None = None, **options) -> tuple:
    """Read ``path`` (NIfTI, DICOM file or folder) and segment it: ``(volume, StudyResult)``."""
    from viewer.io import load_volume

    volume = load_volume(path, series=series)
    return volume, segment_study(volume, **options)
