"""Training cases: where they come from, whether they are usable, and the user's collection.

Two sources: a folder in the Medical Segmentation Decathlon layout (``imagesTr/`` and
``labelsTr/`` holding NIfTI files with the same names, as in Task09_Spleen), or a
list of ``(image, label)`` pairs where the image may be a DICOM folder. Images and
labels are read with :func:`viewer.io.load_volume`, so both end up on the canonical
grid and a label is usable exactly when its canonical grid equals its image's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import SpleenScopeError
from viewer.grid import same_grid
from viewer.io.file_names import nifti_stem

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Case:
    """One training example: an image (file or DICOM folder) and its label file."""

    name: str
    image: Path
    label: Path


def _nifti_files(folder: Path) -> dict[str, Path]:
    """NIfTI files by stem, skipping hidden files (MSD archives carry macOS ``._`` files)."""
    files = {}
    for path in sorted(folder.iterdir()):
        stem = nifti_stem(path)
        if stem is not None and not path.name.startswith("."):
            files[stem] = path
    return files


def _case_name(image: Path) -> str:
    stem = nifti_stem(image) or image.name
    return re.sub(r"_0000$", "", stem)  # nnU-Net style channel suffix


def find_msd_cases(folder: Path) -> list[Case]:
    images = _nifti_files(folder / "imagesTr")
    labels = _nifti_files(folder / "labelsTr")
    for stem in images.keys() - labels.keys():
        log.warning("image %s has no label in labelsTr; skipped", stem)
    return [
        Case(_case_name(images[stem]), images[stem], labels[stem])
        for stem in sorted(images.keys() & labels.keys())
    ]


def find_cases(path_or_pairs) -> list[Case]:
    """Cases from an MSD-layout folder, or from ``[(image, label), ...]``.

    Raises :class:`SpleenScopeError` when nothing usable is found.
    """
    if isinstance(path_or_pairs, (str, Path)):
        folder = Path(path_or_pairs)
        if not (folder / "imagesTr").is_dir() or not (folder / "labelsTr").is_dir():
            raise SpleenScopeError(
                f"{folder}: not a dataset folder; expected imagesTr/ and labelsTr/ inside "
                "(Medical Segmentation Decathlon layout) or pass image/label pairs"
            )
        cases = find_msd_cases(folder)
    else:
        cases = []
        for image, label in path_or_pairs:
            image, label = Path(image), Path(label)
            cases.append(Case(_case_name(image), image, label))
    if not cases:
        raise SpleenScopeError("no training cases found: every image needs a label with its name")
    return cases


def load_case(case: Case):
    """``(volume, canonical_label)``: the image and its label (uint8 0/1) on one grid."""
    from viewer.io import load_volume

    volume = load_volume(case.image)
    label_volume = load_volume(case.label)
    problem = grid_problem(volume, label_volume)
    if problem:
        raise SpleenScopeError(f"case {case.name}: {problem}")
    label = np.rint(np.asarray(label_volume.array)).astype(np.int64)
    return volume, (label > 0).astype(np.uint8)


def grid_problem(volume, label_volume) -> str | None:
    """Why a label cannot be used with an image, or None when the grids agree."""
    if tuple(volume.shape) != tuple(label_volume.shape):
        return f"label shape {label_volume.shape} differs from image shape {volume.shape}"
    if not same_grid(volume.affine, volume.shape, label_volume.affine, label_volume.shape):
        return "label and image have different voxel-to-world geometry (affines differ)"
    return None


def validate_cases(cases: list[Case]) -> list[str]:
    """One line per problem (missing files, grids that differ, labels not 0/1); [] when fine."""
    from viewer.io import load_volume

    problems = []
    names = [case.name for case in cases]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"case name {name} appears more than once")
    for case in cases:
        for what, path in (("image", case.image), ("label", case.label)):
            if not path.exists():
                problems.append(f"case {case.name}: {what} {path} does not exist")
        if problems and problems[-1].startswith(f"case {case.name}:"):
            continue
        try:
            volume = load_volume(case.image)
            label = load_volume(case.label)
        except SpleenScopeError as error:
            problems.append(f"case {case.name}: {error}")
            continue
        problem = grid_problem(volume, label)
        if problem:
            problems.append(f"case {case.name}: {problem}")
            continue
        values = np.unique(np.asarray(label.array))
        if not set(values.tolist()) <= {0, 1}:
            shown = ", ".join(f"{v:g}" for v in values[:6])
            problems.append(f"case {case.name}: label values {shown} (expected only 0 and 1)")
        elif 1 not in values:
            problems.append(f"case {case.name}: label is empty (no spleen voxels)")
    return problems


def add_case_to_collection(volume, canonical_mask: np.ndarray, collection_dir=None) -> Path:
    """Save a reviewed image + mask as the next ``case_NNN`` pair in the user's collection.

    The image goes on its canonical grid and the label with it (same grid, uint8), so
    the pair reads back as a valid MSD case. Returns the image path.
    """
    from segmentation.registry import user_collection_dir
    from viewer.io.writers import save_volume

    folder = Path(collection_dir) if collection_dir else user_collection_dir()
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    volume.check_same_grid_shape(canonical_mask)
    taken = {nifti_stem(p) for p in (folder / "imagesTr").iterdir()}
    number = 1
    while f"case_{number:03d}" in taken:
        number += 1
    name = f"case_{number:03d}.nii.gz"
    label = (np.asarray(canonical_mask) > 0).astype(np.uint8)
    save_volume(volume.with_array(label, window=None), folder / "labelsTr" / name)
    image_path = folder / "imagesTr" / name
    save_volume(volume, image_path)
    log.info("added %s to the collection %s", name, folder)
    return image_path
