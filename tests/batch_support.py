"""Small real volumes for batch tests and benchmarks: crops of the shared CHAOS MR cases.

Each crop keeps the upstream affine (moved to the crop's corner by nibabel's slicer), so
masks written on it can be compared voxel for voxel with ``spleenscope segment``'s.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from tests.conftest import sample_path

CHAOS_CASES = ("p01", "p02", "p05", "p10", "p13", "p19", "p20", "p22", "p32", "p33", "p34", "p36")


def write_small_cases(
    folder: Path, count: int, slices: int = 4, size: int = 96, labels: Path | None = None
) -> list[Path]:
    """``count`` crops (``size`` x ``size`` x ``slices`` around the spleen's centre slice)
    of the CHAOS MR cases as NIfTI files in ``folder``; their labels in ``labels`` when given.
    """
    root = sample_path("mr_spleen_chaos")
    folder.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        labels.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        case = CHAOS_CASES[index % len(CHAOS_CASES)]
        name = f"small_{index:02d}_{case}.nii.gz"
        image = nib.load(root / "imagesTr" / f"chaos_t2_{case}.nii.gz")
        label = nib.load(root / "labelsTr" / f"chaos_t2_{case}.nii.gz")
        spleen = np.argwhere(np.asarray(label.dataobj) > 0)
        centre = ((spleen.min(0) + spleen.max(0)) // 2).tolist()
        centre[2] += index // len(CHAOS_CASES)  # a 13th crop is another crop of case 1
        start = [
            int(min(max(0, c - extent // 2), full - extent))
            for c, extent, full in zip(centre, (size, size, slices), image.shape, strict=True)
        ]
        window = tuple(
            slice(first, first + extent)
            for first, extent in zip(start, (size, size, slices), strict=True)
        )
        nib.save(image.slicer[window], folder / name)
        if labels is not None:
            nib.save(label.slicer[window], labels / name)
        written.append(folder / name)
    return written
