"""A synthetic abdomen with known answers, for tests and for ``make run`` without data.

The body is an elliptic cylinder of soft tissue (40 HU) with a fat rim, a spine
(700 HU), a liver on the patient's right (60 HU) and an ellipsoid spleen on the
patient's left (110 HU, as in portal-venous contrast). The spleen's true volume is
analytic: 4/3 * pi * a * b * c, so readers, resamplers and volume measurement can be
checked against it for any voxel spacing and any axis order.

World coordinates are RAS+ mm (x grows toward the patient's Right), so the spleen,
on the patient's left, sits at negative x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from nibabel import orientations as nio

from viewer.volume import Volume, to_canonical

AIR_HU = -1000.0
FAT_HU = -100.0
SOFT_TISSUE_HU = 40.0
LIVER_HU = 60.0
SPLEEN_HU = 110.0
BONE_HU = 700.0


@dataclass(frozen=True)
class Phantom:
    """A phantom stored in some voxel order, as a file would hold it."""

    image: nib.Nifti1Image
    mask: nib.Nifti1Image
    spleen_volume_ml: float
    spleen_center_mm: tuple[float, float, float]

    def volume(self) -> Volume:
        """The image as a canonical :class:`Volume`, the way ``viewer.io`` returns it."""
        data = np.asarray(self.image.dataobj)
        canonical, affine = to_canonical(data, self.image.affine)
        return Volume(
            array=np.ascontiguousarray(canonical),
            affine=affine,
            source_affine=self.image.affine,
            source_shape=data.shape,
            modality="CT",
            window=(40.0, 400.0),
            description="synthetic phantom",
        )

    def canonical_mask(self) -> np.ndarray:
        mask, _ = to_canonical(np.asarray(self.mask.dataobj), self.mask.affine)
        return np.ascontiguousarray(mask)


def make_phantom(
    spacing: tuple[float, float, float] = (1.0, 1.0, 2.0),
    field_of_view_mm: tuple[float, float, float] = (360.0, 280.0, 200.0),
    axcodes: str = "RAS",
    spleen_semi_axes_mm: tuple[float, float, float] = (35.0, 55.0, 50.0),
    spleen_center_mm: tuple[float, float, float] = (-85.0, -30.0, 10.0),
    noise_hu: float = 0.0,
    seed: int = 0,
) -> Phantom:
    """Build the phantom on a grid of ``spacing`` mm stored in ``axcodes`` order.

    ``spacing`` and ``field_of_view_mm`` are along the world axes x (R-L), y (A-P),
    z (S-I), whatever ``axcodes`` says about how the file stores them.
    """
    spacing_arr = np.asarray(spacing, dtype=float)
    shape = tuple(int(round(f / s)) for f, s in zip(field_of_view_mm, spacing_arr, strict=True))
    origin = -(np.asarray(shape) - 1) / 2.0 * spacing_arr
    canonical_affine = np.eye(4)
    canonical_affine[:3, :3] = np.diag(spacing_arr)
    canonical_affine[:3, 3] = origin

    x, y, z = (origin[a] + spacing_arr[a] * np.arange(shape[a]) for a in range(3))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij", sparse=True)

    body_a, body_b = field_of_view_mm[0] * 0.45, field_of_view_mm[1] * 0.42
    body = (X / body_a) ** 2 + (Y / body_b) ** 2
    image = np.full(shape, AIR_HU, dtype=np.float32)
    image[np.broadcast_to(body <= 1.0, shape)] = FAT_HU
    image[np.broadcast_to(body <= 0.85, shape)] = SOFT_TISSUE_HU
    spine = ((X / 18.0) ** 2 + ((Y + body_b * 0.7) / 18.0) ** 2) <= 1.0
    image[np.broadcast_to(spine, shape)] = BONE_HU
    liver = ((X - 70.0) / 75.0) ** 2 + ((Y - 5.0) / 70.0) ** 2 + ((Z - 20.0) / 80.0) ** 2 <= 1.0
    image[liver] = LIVER_HU

    a, b, c = spleen_semi_axes_mm
    cx, cy, cz = spleen_center_mm
    spleen = ((X - cx) / a) ** 2 + ((Y - cy) / b) ** 2 + ((Z - cz) / c) ** 2 <= 1.0
    image[spleen] = SPLEEN_HU
    if noise_hu > 0:
        image += np.random.default_rng(seed).normal(0.0, noise_hu, shape).astype(np.float32)
    mask = spleen.astype(np.uint8)

    target = nio.axcodes2ornt(tuple(axcodes.upper()))
    transform = nio.ornt_transform(nio.axcodes2ornt(("R", "A", "S")), target)
    stored_image = nio.apply_orientation(image, transform)
    stored_mask = nio.apply_orientation(mask, transform)
    stored_affine = canonical_affine @ nio.inv_ornt_aff(transform, shape)

    image_nii = nib.Nifti1Image(np.ascontiguousarray(stored_image), stored_affine)
    mask_nii = nib.Nifti1Image(np.ascontiguousarray(stored_mask), stored_affine)
    for nii in (image_nii, mask_nii):
        nii.header.set_qform(stored_affine, code=1)
        nii.header.set_sform(stored_affine, code=1)
    return Phantom(
        image=image_nii,
        mask=mask_nii,
        spleen_volume_ml=4.0 / 3.0 * math.pi * a * b * c / 1000.0,
        spleen_center_mm=(float(cx), float(cy), float(cz)),
    )
