"""Which rows stand out, and why: geometry warnings, and robust z-scores.

A robust z-score compares a value with the median of its group (rows of the same
modality; rows without one form their own group) in units of the median absolute
deviation: ``z = 0.6745 * (x - median) / MAD``, so one odd case cannot hide itself
by inflating a standard deviation. ``|z| > 3.5`` flags the row (Iglewicz and
Hoaglin's cut-off). Where the MAD is zero (most rows identical) the mean absolute
deviation stands in for it.
"""

from __future__ import annotations

import math

import numpy as np

from viewer.survey.rows import SurveyRow

Z_THRESHOLD = 3.5
MIN_GROUP = 4  # fewer rows than this: no meaningful median to stand out from
# Warnings that make a row stand out on their own (lower-case fragments).
SERIOUS_WARNINGS = (
    "gantry tilt", "sheared", "missing slice", "share a position", "not a regular volume",
    "4d", "sform and qform disagree", "nan",
)  # fmt: skip


def _metrics(row: SurveyRow) -> dict[str, float | None]:
    spacing = row.spacing_mm
    return {
        "pixel spacing (mm)": spacing[0] if spacing else None,
        "slice step (mm)": row.slice_step_mm,
        "slices": float(row.shape[2]) if len(row.shape) > 2 else None,
        "in-plane size (voxels)": float(row.shape[0] * row.shape[1])
        if len(row.shape) > 1
        else None,
        "median intensity": row.intensity_p50,
        "99th percentile intensity": row.intensity_p99,
    }


def robust_z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores: by the MAD, or where most values are equal (MAD zero) by the mean
    absolute deviation (``1.2533 * MeanAD``, Iglewicz and Hoaglin); all zero when the
    values are all equal."""
    median = float(np.median(values))
    deviations = np.abs(values - median)
    mad = float(np.median(deviations))
    if mad > 0:
        return 0.6745 * (values - median) / mad
    mean_ad = float(deviations.mean())
    if mean_ad == 0:
        return np.zeros_like(values, dtype=float)
    return (values - median) / (1.253314 * mean_ad)


def _describe(metric: str, value: float, median: float, z: float, group: str) -> str:
    return f"{metric} {value:.4g} vs median {median:.4g} of {group} rows (robust z {z:+.1f})"


def flag_rows(rows: list[SurveyRow]) -> None:
    """Fill each row's ``flags`` with the reasons it stands out."""
    for row in rows:
        row.flags = []
        for warning in row.warnings:
            lower = warning.lower()
            if any(fragment in lower for fragment in SERIOUS_WARNINGS):
                row.flags.append(warning)
    groups: dict[str, list[SurveyRow]] = {}
    for row in rows:
        groups.setdefault(row.modality or "no-modality", []).append(row)
    for group, members in groups.items():
        if len(members) < MIN_GROUP:
            continue
        table = [_metrics(row) for row in members]
        for metric in table[0]:
            present = [(row, m[metric]) for row, m in zip(members, table, strict=True)]
            present = [(row, v) for row, v in present if v is not None and math.isfinite(v)]
            if len(present) < MIN_GROUP:
                continue
            values = np.asarray([v for _, v in present], float)
            scores = robust_z(values)
            median = float(np.median(values))
            for (row, value), z in zip(present, scores, strict=True):
                if abs(z) > Z_THRESHOLD:
                    row.flags.append(_describe(metric, value, median, float(z), group))
