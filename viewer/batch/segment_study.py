"""The bridge from a batch worker to the shared "segment one study" code path.

It calls the same functions as ``spleenscope segment`` (load, segment, write the mask
on the input's own grid, the DICOM SEG for DICOM input) and returns the study's
``segment --json`` dict, with the mask written into the study's folder.
"""

from __future__ import annotations

from pathlib import Path

from viewer.batch.outputs import mask_name


def _is_dicom_source(source: str) -> bool:
    from viewer.batch.studies import NIFTI_ENDINGS

    return not Path(source).name.lower().endswith(NIFTI_ENDINGS)


def segment_study_into(source: str, folder: Path, model, device: str, options) -> tuple:
    """Segment ``source`` and write its outputs into ``folder``.

    Returns ``(summary, volume, canonical_mask)``; the summary's paths are names
    relative to the study folder (the folder is renamed when the study is committed).
    """
    from segmentation.inference import segment_volume
    from viewer.io import load_volume
    from viewer.io.writers import save_mask

    as_seg = _is_dicom_source(source)
    volume = load_volume(source)
    result = segment_volume(volume, model=model, device=device, axis=options.axis)
    mask_path = folder / mask_name(as_seg)
    if as_seg:
        from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg

        save_mask_as_dicom_seg(
            volume, result.mask, source, mask_path, {1: "Spleen"}, algorithm=result.model_name
        )
    else:
        save_mask(volume, result.mask, mask_path)
    summary = result.summary()
    summary.update(output=mask_path.name, input_shape=list(volume.source_shape))
    return summary, volume, result.mask
