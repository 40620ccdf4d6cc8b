"""Every setting a model needs besides its weights, written down next to them.

As in MONAI's bundles, the preprocessing travels with the weights: a model file
says which axis it slices along, which HU window it was trained with, which
in-plane spacing it expects and how its network is built, so a model cannot be
run with settings it was not trained for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# The axis vocabulary (axial 2, coronal 1, sagittal 0) lives in viewer.grid.
from viewer.grid import slice_axis_of as axis_index
from viewer.grid import view_of_axis as axis_name

__all__ = ["ModelConfig", "axis_index", "axis_name"]


@dataclass(frozen=True)
class ModelConfig:
    """Preprocessing and architecture of one model.

    axis:
        Slicing direction on the canonical (RAS+) grid: 2 = axial slices
        ``array[:, :, k]`` (rows toward patient Right, columns toward Anterior).
    hu_window:
        ``(low, high)`` intensities mapped to 0..1 and clipped (HU for CT).
    target_spacing_mm:
        In-plane pixel size the network sees; slices are resampled to it.
    context_slices:
        2.5D input: this many neighbouring slices on each side become extra channels.
    base_channels, depth:
        UNet width at full resolution and number of 2x downsamplings.
    pad_multiple:
        Resampled slices are padded to a multiple of this (the network's stride).
    threshold:
        Probability above which a pixel is spleen.
    modality:
        What the model was trained on: ``"CT"`` or ``"MR"``; inference refuses to trust a
        result on the other modality (:mod:`segmentation.quality`).
    intensity:
        ``"window"``: raw values (HU) go straight into ``hu_window``. ``"percentile"``:
        each volume is first rescaled so its own 0.5th..99.5th percentiles become
        0..1000 (MR has no fixed scale), then ``hu_window`` applies to that.
    """

    axis: int = 2
    hu_window: tuple[float, float] = (-175.0, 250.0)
    target_spacing_mm: float = 2.0
    context_slices: int = 0
    base_channels: int = 16
    depth: int = 4
    pad_multiple: int = 16
    threshold: float = 0.5
    out_channels: int = 1
    modality: str = "CT"
    intensity: str = "window"

    @property
    def in_channels(self) -> int:
        return 2 * self.context_slices + 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hu_window"] = [float(v) for v in self.hu_window]
        data["in_channels"] = self.in_channels
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Build from a stored dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(data).items() if k in known}
        if "hu_window" in values:
            values["hu_window"] = tuple(float(v) for v in values["hu_window"])
        if "axis" in values:
            values["axis"] = axis_index(values["axis"])
        return cls(**values)
