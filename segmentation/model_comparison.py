"""Before a model becomes active: score it and the active one on the same validation cases.

A model trained in the dialog or picked from a file may be much worse than the one it
replaces (a validation Dice of 0.2 once turned a 250 mL spleen into 1252 mL). So the
switch goes through :func:`compare_with_active`: both models segment the same cases
of the new model's modality with the whole pipeline, and the caller (the model
manager, the training dialog) shows both scores and asks for an explicit
confirmation when the new one is worse (:attr:`Comparison.candidate_is_worse`).

The cases are the user's own reviewed collection for that modality when it has any
(they look like the user's patients), else the shared sample cases: the sample CT for
CT, three of the twelve MR patients for MR. The bundled models have seen the sample
cases in training, so on them they are hard to beat; that errs on the safe side.
A model's score is kept while its bytes and the cases' files are unchanged, so the
active model is scored once however many candidates meet it. Numpy/torch only, no Qt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from segmentation.datasets import Case
from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

WORSE_BY = 0.01  # mean Dice lower by more than this: worse
SAMPLE_MR_CASES = ("chaos_t2_p01", "chaos_t2_p10", "chaos_t2_p20")


@dataclass
class ModelScore:
    path: Path
    name: str
    modality: str
    dice_by_case: dict[str, float] = field(default_factory=dict)
    volume_ml_by_case: dict[str, float] = field(default_factory=dict)

    @property
    def mean_dice(self) -> float:
        values = list(self.dice_by_case.values())
        return float(np.mean(values)) if values else 0.0


@dataclass
class Comparison:
    candidate: ModelScore
    active: ModelScore
    cases: list[str]

    @property
    def candidate_is_worse(self) -> bool:
        return self.candidate.mean_dice < self.active.mean_dice - WORSE_BY

    def text(self) -> str:
        """Two lines a person can compare at a glance."""
        n = len(self.cases)
        return (
            f"new: {self.candidate.name}: mean Dice {self.candidate.mean_dice:.3f}\n"
            f"active: {self.active.name}: mean Dice {self.active.mean_dice:.3f}\n"
            f"on the same {n} validation case{'s' if n != 1 else ''} ({', '.join(self.cases)})"
        )


def validation_cases(modality: str) -> list[Case]:
    """The user's reviewed cases of ``modality`` if any, else the shared sample cases."""
    from segmentation.datasets import find_cases
    from segmentation.registry import user_collection_dir
    from segmentation.train_bundled import sample_data_dir
    from viewer.io import load_volume
    from viewer.modality import detect_modality

    own = []
    try:
        collection = find_cases(user_collection_dir())
    except SpleenScopeError:
        collection = []
    for case in collection:
        try:
            if detect_modality(load_volume(case.image)).modality == modality:
                own.append(case)
        except SpleenScopeError as error:
            log.warning("skipping collection case %s: %s", case.name, error)
    if own:
        return own
    data = sample_data_dir()
    if modality == "MR":
        folder = data / "mr_spleen_chaos"
        cases = [
            Case(
                name, folder / "imagesTr" / f"{name}.nii.gz", folder / "labelsTr" / f"{name}.nii.gz"
            )
            for name in SAMPLE_MR_CASES
        ]
    else:
        cases = [Case("sample CT", data / "ct_spleen_dicom", data / "ct_spleen_dicom_label.nii.gz")]
    present = [case for case in cases if case.image.exists() and case.label.exists()]
    if not present:
        raise SpleenScopeError(
            f"no {modality} validation cases to compare models on: add reviewed cases to "
            "your collection or set SPLEENSCOPE_SAMPLE_DATA"
        )
    return present


def score_model(model, cases: list[Case], device: str = "cpu", loaded_cases=None,
                cancel=None, on_case=None) -> ModelScore:
    """Whole-pipeline Dice of one model on each case (``cancel()`` is checked between
    batches, ``on_case()`` called after each case)."""
    from segmentation.inference import resolve_model, segment_volume
    from segmentation.metrics import dice_iou

    loaded = resolve_model(model)
    score = ModelScore(
        Path(loaded.path) if loaded.path else Path(), loaded.name, loaded.config.modality
    )
    for case, (volume, reference) in zip(cases, loaded_cases, strict=True):
        result = segment_volume(volume, model=loaded, device=device, cancel=cancel)
        dice, _ = dice_iou(result.mask > 0, reference)
        score.dice_by_case[case.name] = round(float(dice), 4)
        score.volume_ml_by_case[case.name] = round(float(result.measurements.volume_ml), 1)
        if on_case is not None:
            on_case()
    return score


def _file_identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _content_digest(path: Path) -> str:
    """SHA-256 of a model file (a few MB: milliseconds), so a copy of a model scored
    before (an imported file, a model moved into the models folder) is not rescored."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _score_key(model_path: Path, cases: list[Case], device: str) -> tuple | None:
    """What a score depends on: the model's bytes, each case's files, the device; None
    when a file is missing (then nothing is cached)."""
    try:
        files = [(_content_digest(Path(model_path)),)]
        for case in cases:
            files += [(case.name,), _file_identity(case.image), _file_identity(case.label)]
    except OSError:
        return None
    return tuple(files), str(device)


# Scores already computed in this process (the active model is scored once, however
# many candidates are compared with it; asking again after a Cancel costs nothing).
# A changed model or a rewritten case file is a new key. A score is a few numbers per case.
_SCORES: dict[tuple, ModelScore] = {}
_SCORES_LOCK = threading.Lock()


def compare_with_active(candidate: str | Path, device: str = "cpu", cases=None,
                        progress=None, cancel=None) -> Comparison:
    """Score ``candidate`` and the active model of its modality on the same cases.

    Each model file is scored once per set of cases (the score is kept while the
    files are unchanged); the cases are read only when a score has to be computed.
    ``progress(done, total)`` counts model-case segmentations (a score already known
    counts as done); ``cancel()`` stops it (:class:`SegmentationCancelled`).
    """
    from segmentation.inference import resolve_model
    from segmentation.registry import active_model_path
    from viewer.io import load_volume

    new = resolve_model(candidate)  # ModelFileError for a broken file, before any work
    modality = new.config.modality
    cases = cases if cases is not None else validation_cases(modality)
    active_path = active_model_path(modality)
    resolve_model(active_path)  # the same one-line error for a damaged active model
    loaded_cases = None
    scores = []
    total, done = 2 * len(cases), [0]

    def one_more() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    for path in (Path(candidate), Path(active_path)):
        key = _score_key(path, cases, device)
        with _SCORES_LOCK:
            score = _SCORES.get(key) if key is not None else None
        if score is None:
            if loaded_cases is None:
                loaded_cases = [
                    (load_volume(case.image), np.asarray(load_volume(case.label).array) > 0)
                    for case in cases
                ]
            score = score_model(path, cases, device, loaded_cases, cancel, one_more)
            if key is not None:
                with _SCORES_LOCK:
                    _SCORES[key] = score
        else:
            for _case in cases:
                one_more()
            score = replace(score, path=path)  # the same bytes may sit in another file
        scores.append(score)
    return Comparison(candidate=scores[0], active=scores[1], cases=[case.name for case in cases])
