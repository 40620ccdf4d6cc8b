"""Shared helpers for the segmentation tests: sample data, phantom datasets, an oracle network."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import pytest
import torch
from torch import nn

from viewer.phantom import make_phantom

REPO = Path(__file__).resolve().parent.parent

# A tiny training setup that runs in seconds on one CPU thread.
TINY_TRAIN_ARGS = [
    "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--patch-size", "64",
    "--base-channels", "4", "--depth", "2", "--spacing", "4", "--device", "cpu",
    "--threads", "1",
]  # fmt: skip


def sample_data_dir() -> Path:
    """``SPLEENSCOPE_SAMPLE_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", REPO.parent / "shared" / "data"))


def require_sample(*parts: str) -> Path:
    path = sample_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample data not found: {path}")
    return path


def phantom_dataset(folder: Path, cases: int = 2, axcodes: str = "LPS") -> Path:
    """An MSD-layout folder of small phantoms (4 mm voxels) with different spleens."""
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    for index in range(cases):
        phantom = make_phantom(
            spacing=(4.0, 4.0, 4.0),
            field_of_view_mm=(240.0, 200.0, 120.0),
            axcodes=axcodes,
            spleen_semi_axes_mm=(30.0 + 3 * index, 45.0, 40.0),
            spleen_center_mm=(-70.0 - 4 * index, -25.0, 5.0),
            noise_hu=10.0,
            seed=index,
        )
        nib.save(phantom.image, folder / "imagesTr" / f"spleen_{index}.nii.gz")
        nib.save(phantom.mask, folder / "labelsTr" / f"spleen_{index}.nii.gz")
    return folder


class IntensityOracle(nn.Module):
    """A 'network' that calls a pixel spleen when its windowed value lies in a band.

    On the phantom only the spleen (110 HU) falls in the band, so this stands in for
    a perfect model and isolates preprocessing, inversion and post-processing errors.
    """

    def __init__(self, low: float, high: float, sharpness: float = 400.0) -> None:
        super().__init__()
        self.low, self.high, self.sharpness = low, high, sharpness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = x[:, x.shape[1] // 2 : x.shape[1] // 2 + 1]
        return self.sharpness * torch.minimum(centre - self.low, self.high - centre)
