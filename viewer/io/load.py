"""One entry point that picks the right reader for a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from viewer.errors import UnreadableFileError
from viewer.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")

ProgressCallback = Callable[[int, int], None]


def is_nifti_path(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(NIFTI_SUFFIXES)


def load_volume(
    path: str | Path | list,
    series: int | None = None,
    progress: ProgressCallback | None = None,
) -> Volume:
    """Read a NIfTI file, a DICOM file, a list of DICOM files, or a DICOM folder.

    ``series`` picks one series (0-based, in the order :func:`viewer.io.dicom.list_series`
    gives) when a folder holds several. ``progress(done, total)`` is called while
    slices are read.
    """
    if isinstance(path, (list, tuple)):
        from viewer.io.dicom import load_dicom

        return load_dicom([Path(p) for p in path], series=series, progress=progress)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file or folder; check the path")
    if path.is_file() and is_nifti_path(path):
        from viewer.io.nifti import load_nifti

        return load_nifti(path)
    from viewer.io.dicom import load_dicom

    return load_dicom(path, series=series, progress=progress)
