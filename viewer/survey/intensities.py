"""Intensity percentiles of a row from a few evenly spaced slices (only when asked).

DICOM: the sampled files are decoded with pydicom and rescaled (RescaleSlope and
RescaleIntercept), so CT values are Hounsfield units as in the viewer. Other
formats: the volume is read with the normal reader and the same slices sampled.
"""

from __future__ import annotations

import logging

import numpy as np

from viewer.survey.rows import SurveyRow

log = logging.getLogger(__name__)

SAMPLE_SLICES = 5


def _evenly(count: int, wanted: int) -> list[int]:
    if count <= wanted:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, wanted)})


def _dicom_samples(files: list[str]) -> list[np.ndarray]:
    import pydicom

    samples = []
    for index in _evenly(len(files), SAMPLE_SLICES):
        ds = pydicom.dcmread(files[index])
        pixels = ds.pixel_array.astype(np.float32)
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        samples.append(pixels * slope + intercept)
    return samples


def _volume_samples(path: str) -> list[np.ndarray]:
    from viewer.io.load import load_volume

    array = load_volume(path).array
    return [array[:, :, k] for k in _evenly(array.shape[2], SAMPLE_SLICES)]


def sample_intensities(row: SurveyRow) -> None:
    """Fill ``intensity_p1/p50/p99``; on a decoding problem add a warning instead."""
    try:
        samples = _dicom_samples(row.files) if row.files else _volume_samples(row.open_path)
    except Exception as error:  # noqa: BLE001 - a decoder can fail in many ways
        row.warnings.append(f"intensities not sampled ({type(error).__name__})")
        return
    values = np.concatenate([s.ravel() for s in samples]).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        row.warnings.append("intensities not sampled (no finite voxels)")
        return
    p1, p50, p99 = np.percentile(values, [1, 50, 99])
    row.intensity_p1, row.intensity_p50, row.intensity_p99 = (
        round(float(p1), 4),
        round(float(p50), 4),
        round(float(p99), 4),
    )
