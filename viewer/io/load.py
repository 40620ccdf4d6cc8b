"""One entry point that picks the right reader for a path.

Which reader is decided in :mod:`viewer.io.format_detect` (by name where the name is
unambiguous, by content where it is not): NIfTI (``viewer.io.nifti``), MetaImage and
NRRD through SimpleITK (``viewer.io.itk_formats``), Analyze, NIfTI pairs, MINC and
MGH through nibabel (``viewer.io.nibabel_formats``), and DICOM for folders and the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from viewer.errors import UnreadableFileError
from viewer.io.file_names import NIFTI_SUFFIXES
from viewer.io.format_detect import DICOM, ITK, NIBABEL, detect_reader, looks_like_nifti
from viewer.volume import Volume

__all__ = ["NIFTI_SUFFIXES", "is_nifti_path", "load_volume", "looks_like_nifti"]

ProgressCallback = Callable[[int, int], None]


def is_nifti_path(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(NIFTI_SUFFIXES) or name.endswith(".gz")


def load_volume(
    path: str | Path | list,
    series: int | None = None,
    progress: ProgressCallback | None = None,
) -> Volume:
    """Read a volume file (NIfTI, MetaImage, NRRD, Analyze, MINC, MGH), a DICOM file,
    a list of DICOM files, or a DICOM folder.

    ``series`` picks one series (0-based, in the order :func:`viewer.io.dicom.list_series`
    gives) when a folder holds several. ``progress(done, total)`` is called while
    slices are read. Problems the user can fix raise
    :class:`viewer.errors.SpleenScopeError` subclasses with a one-line message.
    What the compiled decoders print on their own goes to the log file, not stderr.
    """
    from viewer.log_file import native_output_to_log

    with native_output_to_log():
        return _load_volume(path, series, progress)


def _load_volume(path, series, progress) -> Volume:
    if isinstance(path, (list, tuple)):
        from viewer.io.dicom import load_dicom

        if not path:
            raise UnreadableFileError("no files given; choose a file or folder")
        return load_dicom([Path(p) for p in path], series=series, progress=progress)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file or folder; check the path")
    reader = detect_reader(path)
    if reader == DICOM:
        from viewer.io.dicom import load_dicom

        return load_dicom(path, series=series, progress=progress)
    if reader == ITK:
        from viewer.io.itk_formats import load_itk as load_file
    elif reader == NIBABEL:
        from viewer.io.nibabel_formats import load_nibabel as load_file
    else:
        from viewer.io.nifti import load_nifti as load_file
    volume = load_file(path)
    if progress:
        progress(1, 1)
    return volume
