"""Shared helpers for the segmentation tests: sample data location and an oracle network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    """``SPLEENSCOPE_SAMPLE_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", REPO.parent / "shared" / "data"))


def require_sample(*parts: str) -> Path:
    path = sample_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample data not found: {path}")
    return path


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
