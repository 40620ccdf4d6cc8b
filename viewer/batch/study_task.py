"""What a worker does: load the model once, then segment study after study.

One :class:`StudyTask` lives in each worker (a process of the local pool, or a Ray
actor). Each call segments one study through the same code path as
``spleenscope segment`` and writes the study's folder (mask, uncertainty map when
asked, ``summary.json``) atomically (see :mod:`viewer.batch.outputs`). A failure of one
study (an unreadable file, a wrong grid) becomes an error summary, never an exception
that stops the batch.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from viewer.batch import outputs, thumbnail
from viewer.batch.studies import Study
from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    """Settings every worker needs; plain values so they travel to other processes."""

    outdir: str
    model: str | None = None
    device: str = "auto"
    axis: str | None = None
    uncertainty: bool = False
    modality: str = "auto"  # auto, ct or mr: which model (see segmentation.study)
    threads: int | None = None  # torch CPU threads per worker

    def settings(self) -> dict:
        """What decides a study's result (a resumed run must use the same)."""
        recorded = asdict(self)
        for not_deciding in ("outdir", "device", "threads"):
            recorded.pop(not_deciding)
        return recorded


def _dice_against(reference_path: str, volume, mask) -> float:
    from segmentation.metrics import dice_iou
    from viewer.grid import same_grid
    from viewer.io import load_volume

    reference = load_volume(reference_path)
    if not same_grid(reference.affine, reference.shape, volume.affine, volume.shape):
        raise SpleenScopeError(
            f"{Path(reference_path).name}: the reference is not on the study's grid"
        )
    dice, _ = dice_iou(mask > 0, reference.array > 0)
    return round(float(dice), 5)


class StudyTask:
    """Segments studies one after the other with a model loaded once."""

    def __init__(self, options: BatchOptions, device: str | None = None) -> None:
        from segmentation.devices import configure_cpu_threads
        from viewer.batch.segment_study import WorkerModels

        self.options = options
        self.device = device or options.device
        configure_cpu_threads(options.threads)
        self.models = WorkerModels(options.model, options.modality)

    def __call__(self, study: Study) -> dict:
        outdir = Path(self.options.outdir)
        partial = outputs.new_partial_folder(outdir, study.study_id)
        started = time.perf_counter()
        try:
            summary = self._segment(study, partial)
        except Exception as error:  # one bad study must not stop the cohort
            if not isinstance(error, SpleenScopeError):
                log.debug("study %s failed:\n%s", study.study_id, traceback.format_exc())
            summary = {
                "status": "error",
                "error": f"{type(error).__name__}: {error}".splitlines()[0]
                if not isinstance(error, SpleenScopeError)
                else str(error).splitlines()[0],
            }
        summary.update(
            study=study.study_id,
            input=summary.get("input") or study.source,  # a PACS series: where it was put
            reference=study.reference,
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        final = outputs.study_folder(outdir, study.study_id)
        for key in ("output", "uncertainty", "thumbnail"):  # where they will be once committed
            if summary.get(key):
                summary[key] = str(final / summary[key])
        outputs.write_json(partial / outputs.SUMMARY_NAME, summary)
        outputs.commit_study_folder(partial, final)
        return summary

    def _segment(self, study: Study, folder: Path) -> dict:
        from viewer.batch.pacs_source import local_source
        from viewer.batch.segment_study import segment_study_into

        source = local_source(study, self.options.outdir)
        summary, volume, mask = segment_study_into(
            source, folder, self.models, self.device, self.options
        )
        summary["input"] = source
        if study.pacs:
            summary["pacs"] = {"node": study.pacs, "study_uid": study.study_uid}
        summary["dice"] = _dice_against(study.reference, volume, mask) if study.reference else None
        rgb = thumbnail.render_thumbnail(volume.array, mask, volume.spacing)
        summary["thumbnail"] = thumbnail.write_thumbnail(
            folder / thumbnail.THUMBNAIL_NAME, rgb
        ).name
        summary["status"] = "ok"
        return summary
