"""Checking a training data folder before any training starts (Qt-free).

The dialog runs :func:`check_training_data` in a worker thread and lists every problem
it returns; training starts only from a clean result. The checks are those of
:func:`segmentation.datasets.validate_cases` (files exist, image and label grids
match, label values are 0/1 and not empty) plus the files the Decathlon-layout
scan skips silently: an image without a label, or a label without an image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from segmentation.datasets import Case, find_cases, validate_cases
from viewer.errors import SpleenScopeError
from viewer.io.file_names import nifti_stem

log = logging.getLogger(__name__)


@dataclass
class DataCheck:
    """The cases found in a folder and what is wrong with them (empty when usable)."""

    folder: Path
    cases: list[Case] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.cases) and not self.problems

    def summary(self) -> str:
        count = len(self.cases)
        noun = f"{count} case{'' if count == 1 else 's'}"
        if self.ok:
            return f"{noun} found; all usable"
        if not self.problems:
            return "no cases found"
        return f"{noun} found; {len(self.problems)} problem{'' if len(self.problems) == 1 else 's'}"


def _stems(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    stems = set()
    for path in folder.iterdir():
        stem = nifti_stem(path)
        if stem is not None and not path.name.startswith("."):
            stems.add(stem)
    return stems


def unpaired_files(folder: Path) -> list[str]:
    """Problems for images without labels and labels without images (MSD layout)."""
    images, labels = _stems(folder / "imagesTr"), _stems(folder / "labelsTr")
    problems = [f"image {stem} has no label in labelsTr/" for stem in sorted(images - labels)]
    problems += [f"label {stem} has no image in imagesTr/" for stem in sorted(labels - images)]
    return problems


def check_training_data(folder: str | Path) -> DataCheck:
    """Find and validate the cases of an MSD-layout folder (reads every file once)."""
    folder = Path(folder)
    check = DataCheck(folder)
    try:
        check.cases = find_cases(folder)
    except SpleenScopeError as error:
        check.problems.append(str(error))
    if (folder / "imagesTr").is_dir():
        check.problems += unpaired_files(folder)
    if check.cases:
        check.problems += validate_cases(check.cases)
    log.info("checked %s: %d cases, %d problems", folder.name, len(check.cases),
             len(check.problems))
    return check
