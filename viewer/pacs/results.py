"""The two objects a segmentation sends back: a DICOM SEG and its SR volume report.

Shared by the window's "Send to PACS" and anyone scripting the same step; the CLI
gets the same pair from ``segment -o OUT.dcm --report OUT_SR.dcm``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.volume import Volume


def write_seg_and_report(
    volume: Volume,
    canonical_mask: np.ndarray,
    source_dicom_folder: str | Path,
    summary: dict,
    folder: str | Path,
) -> tuple[Path, Path, list[str]]:
    """Write ``spleen_seg.dcm`` and ``spleen_sr.dcm`` into ``folder``.

    ``summary`` holds at least ``volume_ml`` and ``model`` (the model's name), and
    ``volume_range_ml`` / ``verdict`` when the segmentation produced them (see
    :func:`viewer.io.dicom_sr_writer.volume_report_from_summary`). Returns the two
    paths and the SEG writer's notices.
    """
    from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg
    from viewer.io.dicom_sr_writer import save_volume_report_sr, volume_report_from_summary

    folder = Path(folder)
    seg, sr = folder / "spleen_seg.dcm", folder / "spleen_sr.dcm"
    report = volume_report_from_summary(summary)
    notices = save_mask_as_dicom_seg(
        volume,
        canonical_mask,
        source_dicom_folder,
        seg,
        {1: "Spleen"},
        algorithm=report.model_name or None,
        overwrite=True,
    )
    save_volume_report_sr(report, seg, sr, overwrite=True)
    return seg, sr, list(notices)
