"""The bridge from a batch worker to the shared "segment one study" function.

:func:`segmentation.study.segment_study` is what ``spleenscope segment`` runs (modality,
model choice, inference, volume range, verdict); this module reads the study, calls it
with a model from the worker's own cache, and writes the study's files the way
``segment`` does: the mask on the input's own grid (a DICOM SEG for DICOM input) and,
when asked, the uncertainty map. The summary is ``segment --json``'s dict (its
``volume_is_lower_bound`` says the spleen runs past the scan, so its volume is a
minimum).
"""

from __future__ import annotations

from pathlib import Path

from viewer.batch.outputs import mask_name

UNCERTAINTY_NAME = "uncertainty.nii.gz"


class WorkerModels:
    """Models loaded once per worker, one per file: a cohort that mixes CT and MR does not
    reload weights at every switch (the inference module keeps only the last model)."""

    def __init__(self, fixed_model: str | None, modality: str) -> None:
        from segmentation.model_file import load_model

        self.modality = modality
        self._loaded: dict[str, object] = {}
        self.fixed = load_model(fixed_model) if fixed_model else None

    def for_study(self, guess):
        """The model ``segment_study`` would choose for a study of this modality, loaded once."""
        if self.fixed is not None:
            return self.fixed
        from segmentation.model_file import load_model
        from segmentation.study import model_path_for, requested_modality

        path = str(model_path_for(requested_modality(self.modality), guess))
        if path not in self._loaded:
            self._loaded[path] = load_model(path)
        return self._loaded[path]


def _is_dicom_source(source: str) -> bool:
    from viewer.io.file_names import DICOM, format_of

    # a DICOM folder, or a DICOM file named .dcm or with no known suffix
    return format_of(source) in (None, DICOM)


def segment_study_into(source: str, folder: Path, models: WorkerModels, device: str, options):
    """Segment ``source`` and write its outputs into ``folder``.

    Returns ``(summary, volume, canonical_mask)``; the summary's paths are names
    relative to the study folder (the folder is renamed when the study is committed).
    """
    from segmentation.study import segment_study
    from viewer.io import load_volume
    from viewer.io.writers import canonical_to_source_grid, save_mask, save_volume
    from viewer.modality import detect_modality
    from viewer.volume import Volume

    as_seg = _is_dicom_source(source)
    volume = load_volume(source)
    guess = detect_modality(volume)  # once: the model choice and the verdict share it
    study = segment_study(
        volume,
        modality=options.modality,
        model=models.for_study(guess),
        guess=guess,
        device=device,
        axis=options.axis,
        keep_probabilities=options.uncertainty,
    )
    result = study.segmentation
    mask_path = folder / mask_name(as_seg)
    if as_seg:
        from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg

        save_mask_as_dicom_seg(
            volume, result.mask, source, mask_path, {1: "Spleen"}, algorithm=result.model_name
        )
    else:
        save_mask(volume, result.mask, mask_path)
    summary = study.summary()
    summary.update(output=mask_path.name, input_shape=list(volume.source_shape))
    if options.uncertainty:
        source_grid = Volume(
            array=canonical_to_source_grid(volume, study.uncertainty_map()),
            affine=volume.source_affine,
            source_path=volume.source_path,
        )
        summary["uncertainty"] = save_volume(source_grid, folder / UNCERTAINTY_NAME).name
    return summary, volume, result.mask
