"""Which reader a file needs: by its name where the name is unambiguous, else by content.

The suffix table is :data:`viewer.io.file_names.FORMATS`. Content decides where names
mislead: ``.img``/``.hdr`` can be Analyze, a NIfTI pair, or a whole NIfTI file named
``.img``; a file with no known suffix can still be NIfTI (its header size field) or
DICOM (anything else is left to the DICOM scanner, which says what it found).
"""

from __future__ import annotations

from pathlib import Path

from viewer.io.file_names import format_of

GZIP_MAGIC = b"\x1f\x8b"
# sizeof_hdr of NIfTI-1 (348) and NIfTI-2 (540), in either byte order.
NIFTI_HEADER_SIZES = {348, 540}

#: Reader keys :func:`detect_reader` returns.
NIFTI, ITK, NIBABEL, DICOM = "nifti", "itk", "nibabel", "dicom"


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def looks_like_nifti(path: Path) -> bool:
    """A file without a NIfTI suffix that still starts like one (or is gzip)."""
    head = _head(path, 4)
    if head[:2] == GZIP_MAGIC:
        return True
    if len(head) < 4:
        return False
    return (
        int.from_bytes(head, "little") in NIFTI_HEADER_SIZES
        or int.from_bytes(head, "big") in NIFTI_HEADER_SIZES
    )


def detect_reader(path: Path) -> str:
    """``"nifti"``, ``"itk"`` (MetaImage, NRRD), ``"nibabel"`` (Analyze, NIfTI pair, MINC,
    MGH) or ``"dicom"`` (folders, ``.dcm`` and everything not recognised)."""
    path = Path(path)
    if path.is_dir():
        return DICOM
    fmt = format_of(path)
    key = fmt.key if fmt is not None else ""
    if key in ("metaimage", "nrrd"):
        return ITK
    if key in ("minc", "mgh"):
        return NIBABEL
    if key == "analyze":
        from viewer.io.nibabel_formats import is_single_file_nifti

        return NIFTI if is_single_file_nifti(path) else NIBABEL
    if key == "nifti" or path.name.lower().endswith(".gz") or looks_like_nifti(path):
        return NIFTI
    return DICOM
