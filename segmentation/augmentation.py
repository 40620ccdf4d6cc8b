"""Augmentation that respects anatomy, applied to whole batches on the model grid.

What varies between scanners and patients, and so what a model trained on few cases
must be taught to ignore:

- body size and field of view: random isotropic scaling (0.8-1.25) plus a little
  anisotropy, and translation;
- patient positioning: small in-plane rotations (+-15 degrees);
- contrast phase, calibration and reconstruction kernel: HU shift and contrast
  scaling, Gaussian noise, mild blur;
- scanner geometry (optional, off by default): coarse pixels (a 3-5 mm acquisition
  brought back to the model grid) and a soft-tissue-only change of enhancement (a
  different contrast phase moves organs, not air, fat or bone). Thick slices need the
  neighbouring slices, so :func:`segmentation.slice_data.sample_batch` makes them.

- another modality used only for its shapes (joint CT+MR training): MR slices get a
  random intensity curve (monotonic or not), inversion and gamma
  (:func:`remap_intensities`), so the network cannot learn MR's look and has to
  learn the organ's outline.

Never a left-right flip: the spleen is on the patient's left, and a flipped training
image would teach the network that the liver's side is plausible too.

Images are in HU here (before windowing); out-of-image pixels become air.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

AIR_HU = -1024.0


@dataclass(frozen=True)
class AugmentationSettings:
    rotation_degrees: float = 15.0
    scale_range: tuple[float, float] = (0.8, 1.25)
    anisotropy: float = 0.05
    translation_fraction: float = 0.08
    hu_shift: float = 30.0
    contrast_range: tuple[float, float] = (0.85, 1.15)
    noise_hu: float = 20.0
    blur_probability: float = 0.25
    # A patch is blurred down to pixels of this size (mm) and brought back to the grid.
    coarse_pixel_probability: float = 0.0
    coarse_pixel_mm: tuple[float, float] = (3.0, 5.0)
    grid_mm: float = 2.0  # the model grid's pixel size, to turn mm into a factor
    # Soft tissue (about -50..300 HU) alone is scaled about 40 HU and shifted.
    soft_tissue_probability: float = 0.0
    soft_tissue_scale: tuple[float, float] = (0.75, 1.3)
    soft_tissue_shift: float = 50.0
    # Thick slices (read by the sampler): a slab of this many mm around the slice.
    thick_slice_probability: float = 0.0
    thick_slice_mm: tuple[float, float] = (3.0, 5.0)

    def describe(self) -> str:
        extra = ""
        if self.coarse_pixel_probability:
            extra += (
                f", coarse pixels {self.coarse_pixel_mm[0]:g}-{self.coarse_pixel_mm[1]:g} mm "
                f"p={self.coarse_pixel_probability:g}"
            )
        if self.thick_slice_probability:
            extra += (
                f", thick slices {self.thick_slice_mm[0]:g}-{self.thick_slice_mm[1]:g} mm "
                f"p={self.thick_slice_probability:g}"
            )
        if self.soft_tissue_probability:
            extra += (
                f", soft-tissue enhancement x{self.soft_tissue_scale[0]:g}-"
                f"{self.soft_tissue_scale[1]:g} +-{self.soft_tissue_shift:g} HU "
                f"p={self.soft_tissue_probability:g}"
            )
        return self._describe_base() + extra

    def _describe_base(self) -> str:
        return (
            f"rotation +-{self.rotation_degrees:g} deg, scale {self.scale_range[0]:g}-"
            f"{self.scale_range[1]:g} (+-{self.anisotropy:g} anisotropic), translation "
            f"+-{self.translation_fraction:g}, HU shift +-{self.hu_shift:g}, contrast "
            f"{self.contrast_range[0]:g}-{self.contrast_range[1]:g}, noise up to "
            f"{self.noise_hu:g} HU, blur p={self.blur_probability:g}; no flips"
        )


# What the bundled CT model trains with: the shared CT covers only the middle 40 mm of
# one spleen, so other patients' tips and domes (small cross-sections), thick slices,
# coarse pixels and other contrast phases are simulated.
ROBUST_CT_AUGMENTATION = AugmentationSettings(
    scale_range=(0.55, 1.3),
    hu_shift=50.0,
    contrast_range=(0.75, 1.3),
    coarse_pixel_probability=0.3,
    soft_tissue_probability=0.5,
    thick_slice_probability=0.4,
)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_affine_matrices(
    n: int, settings: AugmentationSettings, generator: torch.Generator
) -> torch.Tensor:
    """``(n, 2, 3)`` matrices for ``affine_grid``: rotation, scaling, translation (no flips)."""
    angle = _uniform(n, -1, 1, generator) * math.radians(settings.rotation_degrees)
    log_low, log_high = (math.log(v) for v in settings.scale_range)
    zoom = torch.exp(_uniform(n, log_low, log_high, generator))
    stretch = 1.0 + _uniform(n, -settings.anisotropy, settings.anisotropy, generator)
    # affine_grid maps output to input coordinates: zooming in by z samples 1/z of the input.
    scale_rows, scale_cols = 1.0 / (zoom * stretch), 1.0 / (zoom / stretch)
    cos, sin = torch.cos(angle), torch.sin(angle)
    shift = _uniform(2 * n, -1, 1, generator).reshape(n, 2) * 2 * settings.translation_fraction
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * scale_cols
    theta[:, 0, 1] = -sin * scale_rows
    theta[:, 1, 0] = sin * scale_cols
    theta[:, 1, 1] = cos * scale_rows
    theta[:, :, 2] = shift
    return theta


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    images = F.conv2d(padded, horizontal, groups=channels)
    padded = F.pad(images, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(padded, vertical, groups=channels)


def coarsen_pixels(images: torch.Tensor, factor: float) -> torch.Tensor:
    """The image as a scanner with ``factor`` times larger pixels would see it, on the same grid.

    Area averaging down to the coarse grid (what a detector element integrates), then
    bilinear back up (what resampling to the model grid does at inference).
    """
    if factor <= 1.0:
        return images
    rows, cols = images.shape[-2:]
    small = (max(1, round(rows / factor)), max(1, round(cols / factor)))
    coarse = F.interpolate(images, size=small, mode="area")
    return F.interpolate(coarse, size=(rows, cols), mode="bilinear", align_corners=False)


def change_soft_tissue(images_hu: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """Scale soft tissue's contrast about 40 HU and shift it; air, fat and bone stay.

    The weight ramps from 0 at -150 HU to 1 at -50 HU and back to 0 from 300 to 500 HU,
    so organ enhancement changes (a contrast phase) without moving fat or bone.
    """
    rise = ((images_hu + 150.0) / 100.0).clamp(0.0, 1.0)
    fall = ((500.0 - images_hu) / 200.0).clamp(0.0, 1.0)
    weight = rise * fall
    changed = (images_hu - 40.0) * scale + 40.0 + shift
    return images_hu + weight * (changed - images_hu)


def augment_batch(
    images_hu: torch.Tensor,
    labels: torch.Tensor,
    settings: AugmentationSettings,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment ``(N, C, H, W)`` HU images and ``(N, 1, H, W)`` 0/1 labels together.

    Geometry is shared by image and label (bilinear, label re-thresholded at 0.5);
    intensity changes touch the image only. Returns new tensors.
    """
    n = images_hu.shape[0]
    theta = random_affine_matrices(n, settings, generator).to(images_hu.device)
    grid = F.affine_grid(theta, list(images_hu.shape), align_corners=False)
    # Shift so that air is 0: grid_sample fills outside pixels with zeros.
    images = F.grid_sample(images_hu - AIR_HU, grid, mode="bilinear", align_corners=False) + AIR_HU
    warped = F.grid_sample(labels.float(), grid, mode="bilinear", align_corners=False)
    labels = (warped > 0.5).float()

    # Each optional step draws random numbers only when it is on, so the default
    # settings give exactly the batches (and weights) they always gave.
    for index in range(n if settings.soft_tissue_probability > 0 else 0):
        if float(torch.rand(1, generator=generator)) < settings.soft_tissue_probability:
            scale = float(_uniform(1, *settings.soft_tissue_scale, generator))
            tissue_shift = float(_uniform(1, -settings.soft_tissue_shift,
                                          settings.soft_tissue_shift, generator))  # fmt: skip
            images[index : index + 1] = change_soft_tissue(
                images[index : index + 1], scale, tissue_shift
            )
    for index in range(n if settings.coarse_pixel_probability > 0 else 0):
        if float(torch.rand(1, generator=generator)) < settings.coarse_pixel_probability:
            pixel_mm = float(_uniform(1, *settings.coarse_pixel_mm, generator))
            images[index : index + 1] = coarsen_pixels(
                images[index : index + 1], pixel_mm / settings.grid_mm
            )
    contrast = _uniform(n, *settings.contrast_range, generator).view(n, 1, 1, 1)
    shift = _uniform(n, -settings.hu_shift, settings.hu_shift, generator).view(n, 1, 1, 1)
    images = (images - 40.0) * contrast.to(images) + 40.0 + shift.to(images)
    for index in range(n):
        if float(torch.rand(1, generator=generator)) < settings.blur_probability:
            sigma = float(_uniform(1, 0.5, 1.2, generator))
            images[index : index + 1] = _gaussian_blur(images[index : index + 1], sigma)
    noise_level = _uniform(n, 0, settings.noise_hu, generator).view(n, 1, 1, 1).to(images)
    noise = torch.randn(images.shape, generator=generator).to(images)
    images = images + noise * noise_level
    return images, labels


@dataclass(frozen=True)
class IntensityRemapSettings:
    """A random intensity curve per image, on the window's 0..1 scale.

    ``knots`` control points at even spacing get random values (sorted: a monotonic
    curve; unsorted with ``non_monotonic_probability``: tissues swap brightness), then
    the curve is inverted with ``inversion_probability`` and raised to a gamma drawn
    log-uniformly from ``gamma_range``. Pixels at or below the window's bottom (air,
    padding, MR background) stay there, as air does in CT.
    """

    probability: float = 1.0
    knots: int = 5
    non_monotonic_probability: float = 0.3
    inversion_probability: float = 0.3
    gamma_range: tuple[float, float] = (0.5, 2.0)

    def describe(self) -> str:
        return (
            f"random {self.knots}-knot intensity curve p={self.probability:g} (non-monotonic "
            f"p={self.non_monotonic_probability:g}), inversion "
            f"p={self.inversion_probability:g}, gamma {self.gamma_range[0]:g}-"
            f"{self.gamma_range[1]:g}"
        )


# What the MR slices of joint CT+MR training get: their appearance must carry no
# information, only their outlines.
MR_SHAPE_REMAP = IntensityRemapSettings()


def random_curve(knots: int, monotonic: bool, generator: torch.Generator) -> torch.Tensor:
    """``knots`` values in 0..1 at even spacing from 0 to 1 (sorted when ``monotonic``)."""
    values = torch.rand(knots, generator=generator)
    if monotonic:
        values = torch.sort(values).values
        # Stretch to the full range so a monotonic curve keeps the image's contrast span.
        values = (values - values[0]) / (values[-1] - values[0]).clamp_min(1e-6)
    return values


def apply_curve(unit: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear curve through ``values`` at 0, 1/(k-1), ..., 1, applied to 0..1 pixels."""
    knots = len(values)
    position = unit.clamp(0.0, 1.0) * (knots - 1)
    low = position.floor().clamp(max=knots - 2).long()
    fraction = position - low
    return values[low] * (1.0 - fraction) + values[low + 1] * fraction


def remap_intensities(
    image_hu: torch.Tensor,
    window: tuple[float, float],
    settings: IntensityRemapSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """One image (any shape, on the ``window`` scale) through a random intensity curve.

    Returns a new tensor on the same scale; values stay inside the window.
    """
    if float(torch.rand(1, generator=generator)) >= settings.probability:
        return image_hu
    low, high = float(window[0]), float(window[1])
    unit = ((image_hu.float() - low) / (high - low)).clamp(0.0, 1.0)
    outside = unit <= 0.0
    monotonic = float(torch.rand(1, generator=generator)) >= settings.non_monotonic_probability
    out = apply_curve(unit, random_curve(settings.knots, monotonic, generator))
    if float(torch.rand(1, generator=generator)) < settings.inversion_probability:
        out = 1.0 - out
    log_low, log_high = (math.log(v) for v in settings.gamma_range)
    gamma = math.exp(float(_uniform(1, log_low, log_high, generator)))
    out = out.clamp(0.0, 1.0) ** gamma
    return torch.where(outside, image_hu.float(), low + out * (high - low))
