"""One entry point that picks the right reader for a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from viewer.errors import UnreadableFileError
from viewer.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
GZIP_MAGIC = b"\x1f\x8b"
# sizeof_hdr of NIfTI-1 (348) and NIfTI-2 (540), in either byte order.
NIFTI_HEADER_SIZES = {348, 540}

ProgressCallback = Callable[[int, int], None]


def is_nifti_path(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(NIFTI_SUFFIXES) or name.endswith(".gz")


def looks_like_nifti(path: Path) -> bool:
    """A file without a NIfTI suffix that still starts like one (or is gzip)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    if head[:2] == GZIP_MAGIC:
        return True
    if len(head) < 4:
        return False
    return (
        int.from_bytes(head, "little") in NIFTI_HEADER_SIZES
        or int.from_bytes(head, "big") in NIFTI_HEADER_SIZES
    )


def load_volume(
    path: str | Path | list,
    series: int | None = None,
    progress: ProgressCallback | None = None,
) -> Volume:
    """Read a NIfTI file, a DICOM file, a list of DICOM files, or a DICOM folder.

    ``series`` picks one series (0-based, in the order :func:`viewer.io.dicom.list_series`
    gives) when a folder holds several. ``progress(done, total)`` is called while
    slices are read. Problems the user can fix raise
    :class:`viewer.errors.SpleenScopeError` subclasses with a one-line message.
    """
    if isinstance(path, (list, tuple)):
        from viewer.io.dicom import load_dicom

        if not path:
            raise UnreadableFileError("no files given; choose a file or folder")
        return load_dicom([Path(p) for p in path], series=series, progress=progress)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file or folder; check the path")
    if path.is_file() and (is_nifti_path(path) or looks_like_nifti(path)):
        from viewer.io.nifti import load_nifti

        volume = load_nifti(path)
        if progress:
            progress(1, 1)
        return volume
    from viewer.io.dicom import load_dicom

    return load_dicom(path, series=series, progress=progress)
