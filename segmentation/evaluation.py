"""Evaluating cases: one pair of masks, or folders of predictions against references.

Folder mode matches files by case name (NIfTI stem, with common suffixes such as
``_seg`` or ``_pred`` removed), scores every pair with :func:`segmentation.metrics.evaluate_masks`,
and flags volume outliers the way the original prototype's check did: a predicted
volume beyond 1.5 interquartile ranges from the quartiles of all cases, or above an
absolute limit (500 mL by default; the prototype found a case over 500,000 mm^3,
far beyond any plausible spleen and a sign of a leak into the liver or stomach).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segmentation.measurements import voxel_volume_mm3
from segmentation.metrics import evaluate_masks, per_slice_dice
from viewer.errors import SpleenScopeError
from viewer.grid import same_grid
from viewer.io.file_names import case_key, is_nifti_name

log = logging.getLogger(__name__)

OUTLIER_LIMIT_ML = 500.0


def nifti_files(folder: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not is_nifti_name(path):
            continue
        files[case_key(path)] = path
    return files


def load_pair(pred_path: Path, ref_path: Path):
    """Both masks on one canonical grid ``(pred, ref, affine)``; different grids are an error."""
    from viewer.io.dicom_seg import load_label_volumes  # NIfTI or DICOM SEG masks

    pred, ref = load_label_volumes(pred_path, ref_path)
    if not same_grid(pred.affine, pred.shape, ref.affine, ref.shape):
        raise SpleenScopeError(
            f"{pred_path.name} and {ref_path.name} are on different voxel grids; "
            "both masks must come from the same image"
        )
    return np.asarray(pred.array) > 0, np.asarray(ref.array) > 0, ref.affine


def evaluate_pair(pred_path: Path, ref_path: Path, axis: int = 2) -> dict:
    """All metrics of one prediction file against one reference file, as a flat dict."""
    pred, ref, affine = load_pair(pred_path, ref_path)
    row = evaluate_masks(pred, ref, affine).as_dict()
    slices = per_slice_dice(pred, ref, axis)
    row["per_slice_dice"] = [None if math.isnan(v) else round(float(v), 4) for v in slices]
    return row


def volume_outliers(volumes_ml: dict[str, float], limit_ml: float = OUTLIER_LIMIT_ML) -> dict:
    """``{case: reason}`` for volumes beyond 1.5 IQR of the quartiles (4+ cases) or over the limit."""
    reasons: dict[str, str] = {}
    values = np.array(list(volumes_ml.values()), dtype=float)
    low = high = None
    if len(values) >= 4:
        q1, q3 = np.percentile(values, [25, 75])
        low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    for name, volume in volumes_ml.items():
        if volume > limit_ml:
            reasons[name] = f"{volume:.1f} mL is above {limit_ml:g} mL"
        elif high is not None and volume > high:
            reasons[name] = f"{volume:.1f} mL is above Q3 + 1.5 IQR ({high:.1f} mL)"
        elif low is not None and volume < low:
            reasons[name] = f"{volume:.1f} mL is below Q1 - 1.5 IQR ({low:.1f} mL)"
    return reasons


@dataclass
class FolderReport:
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    outliers: dict = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "cases": self.rows,
            "summary": self.summary,
            "outliers": self.outliers,
            "unmatched": self.unmatched,
        }


def _mask_volume_ml(path: Path) -> float:
    from viewer.io import load_volume

    volume = load_volume(path)
    return (
        int(np.count_nonzero(np.asarray(volume.array) > 0)) * voxel_volume_mm3(volume.affine) / 1000
    )


def evaluate_folders(
    pred_dir: Path,
    ref_dir: Path | None = None,
    limit_ml: float = OUTLIER_LIMIT_ML,
    progress: Callable[[int, int], None] | None = None,
) -> FolderReport:
    """Score every prediction in ``pred_dir`` against the same-named reference in ``ref_dir``.

    Without ``ref_dir`` only volumes and volume outliers are reported (the prototype's
    sanity check for a batch of predictions with no ground truth).
    """
    preds = nifti_files(pred_dir)
    refs = nifti_files(ref_dir) if ref_dir else {}
    if not preds:
        raise SpleenScopeError(f"{pred_dir}: no NIfTI masks found")
    names = sorted(preds.keys() & refs.keys()) if ref_dir else sorted(preds)
    if ref_dir and not names:
        raise SpleenScopeError(
            f"no case names match between {pred_dir} and {ref_dir}; name files alike "
            "(e.g. spleen_1.nii.gz in both)"
        )
    report = FolderReport()
    if ref_dir:
        report.unmatched = sorted(preds.keys() ^ refs.keys())
    for index, name in enumerate(names):
        if ref_dir:
            row = evaluate_pair(preds[name], refs[name])
            row.pop("per_slice_dice")
        else:
            row = {"volume_pred_ml": round(_mask_volume_ml(preds[name]), 6)}
        report.rows.append({"case": name, **row})
        if progress:
            progress(index + 1, len(names))
    volumes = {row["case"]: row["volume_pred_ml"] for row in report.rows}
    report.outliers = volume_outliers(volumes, limit_ml)
    for row in report.rows:
        row["volume_outlier"] = row["case"] in report.outliers
    report.summary = summarize(report.rows)
    return report


#: The per-case numbers, in the order reports and CSV files list them.
METRIC_COLUMNS = (
    "dice",
    "iou",
    "hd95_mm",
    "assd_mm",
    "volume_pred_ml",
    "volume_ref_ml",
    "volume_diff_ml",
    "volume_diff_pct",
)


def summarize(rows: list[dict]) -> dict:
    """Mean, median, std, min and max of every numeric column over the cases."""
    summary: dict = {"cases": len(rows)}
    for key in METRIC_COLUMNS:
        values = np.array([r[key] for r in rows if r.get(key) is not None], dtype=float)
        if values.size:
            summary[key] = {
                "mean": round(float(values.mean()), 4),
                "median": round(float(np.median(values)), 4),
                "std": round(float(values.std()), 4),
                "min": round(float(values.min()), 4),
                "max": round(float(values.max()), 4),
            }
    return summary
