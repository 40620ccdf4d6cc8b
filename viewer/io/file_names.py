"""Every rule about file names, in one place.

- Which formats SpleenScope knows and the suffixes that name them (:data:`FORMATS`).
  A new reader adds one :class:`FileFormat` row here; everything that tests a name
  (loading, the output checks, the file dialogs' filters) reads this table.
- How a name splits into stem and format suffix (``case.nii.gz`` -> ``case``, ``.nii.gz``).
- The names SpleenScope derives for its outputs: ``<input>_seg.nii.gz`` beside the
  input, ``<mask>_edited.nii.gz`` beside an edited mask, the case key that pairs
  ``spleen_1_pred.nii.gz`` with ``spleen_1.nii.gz``.
- The one output check every writer runs before any work: never over or inside the
  input, never over an existing file unless asked, never into a missing folder.

DICOM files are found by their content (``viewer.io.dicom_files``), not their name:
many PACS exports have no suffix at all. ``.dcm`` only matters where a name must
say what will be written (a DICOM SEG output).

Qt-free and torch-free: a dialog filter is built here as a plain string.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from viewer.errors import SpleenScopeError


@dataclass(frozen=True)
class FileFormat:
    """One file format as far as names go.

    ``suffixes`` are lower case, longest first (so ``.nii.gz`` wins over ``.gz``); the
    first one is what SpleenScope appends when a name has none. ``companions`` are
    the suffixes of the data files a header file needs beside it (an Analyze ``.hdr``
    needs its ``.img``), so a copy or a check can name what is missing.
    """

    key: str
    label: str
    suffixes: tuple[str, ...]
    companions: tuple[str, ...] = ()
    reads_volume: bool = True
    writes_mask: bool = False

    @property
    def default_suffix(self) -> str:
        return self.suffixes[0]

    def dialog_filter(self) -> str:
        """``"NIfTI (*.nii.gz *.nii)"`` for a file dialog."""
        return f"{self.label} ({' '.join('*' + s for s in self.suffixes)})"


NIFTI = FileFormat("nifti", "NIfTI", (".nii.gz", ".nii"), writes_mask=True)
DICOM = FileFormat("dicom", "DICOM", (".dcm",), writes_mask=True)  # as a DICOM SEG

# Research formats read through SimpleITK (MetaImage, NRRD) and nibabel (the rest).
# ".img"/".hdr" are ambiguous by name (Analyze, a NIfTI pair, or a single NIfTI file
# named .img): viewer.io.format_detect decides by content.
METAIMAGE = FileFormat(
    "metaimage", "MetaImage", (".mha", ".mhd"), companions=(".raw", ".zraw"), writes_mask=True
)
NRRD = FileFormat("nrrd", "NRRD", (".nrrd", ".nhdr"), companions=(".raw.gz", ".raw"),
                  writes_mask=True)
ANALYZE = FileFormat("analyze", "Analyze 7.5", (".hdr", ".img"), companions=(".img", ".hdr"))
MINC = FileFormat("minc", "MINC", (".mnc",))
MGH = FileFormat("mgh", "FreeSurfer MGH", (".mgz", ".mgh"))

#: Every known format by key. Add a row for a new reader; keep suffixes lower case.
FORMATS: dict[str, FileFormat] = {
    f.key: f for f in (NIFTI, DICOM, METAIMAGE, NRRD, ANALYZE, MINC, MGH)
}

NIFTI_SUFFIXES: tuple[str, ...] = NIFTI.suffixes
DICOM_SUFFIX = DICOM.default_suffix
#: Added to a mask's stem for the default output of ``segment`` and Save mask.
SEGMENTATION_TAG = "_seg"
#: Added to an opened mask's stem for the default name of its edited copy.
EDITED_TAG = "_edited"
#: Name endings that mark a mask rather than an image (``spleen_1_pred`` -> ``spleen_1``);
#: ``_0000`` is nnU-Net's channel suffix on images.
CASE_TAGS = ("_seg", "_pred", "_mask", "_label", "_labels", "_gt", "_ref", "_0000")


def _all_suffixes() -> list[tuple[str, FileFormat]]:
    pairs = [(suffix, fmt) for fmt in FORMATS.values() for suffix in fmt.suffixes]
    return sorted(pairs, key=lambda pair: -len(pair[0]))  # .nii.gz before .gz


def format_of(path: str | Path) -> FileFormat | None:
    """The format a name says it holds, or None (a DICOM file without ``.dcm``, a folder)."""
    name = Path(path).name.lower()
    for suffix, fmt in _all_suffixes():
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    return None


def is_format(path: str | Path, *keys: str) -> bool:
    """True when the name ends in a suffix of one of the formats ``keys``."""
    fmt = format_of(path)
    return fmt is not None and fmt.key in keys


def is_nifti_name(path: str | Path) -> bool:
    return is_format(path, NIFTI.key)


def split_suffix(path: str | Path) -> tuple[str, str]:
    """``(stem, suffix)`` of a name, the suffix being a known format's (case kept).

    ``Case.NII.GZ`` -> ``("Case", ".NII.GZ")``; ``x.txt`` -> ``("x.txt", "")``.
    """
    name = Path(path).name
    fmt = format_of(name)
    if fmt is None:
        return name, ""
    lower = name.lower()
    for suffix in fmt.suffixes:
        if lower.endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return name, ""  # unreachable: format_of matched one of these suffixes


def stem_of(path: str | Path) -> str:
    """The name without a known format suffix; a folder or unknown file keeps its name
    (minus its last extension, so ``x.dcm.bak`` stays recognisable)."""
    path = Path(path)
    stem, suffix = split_suffix(path)
    if suffix or path.is_dir() or not path.suffix:
        return stem
    return path.stem


def nifti_stem(path: str | Path) -> str | None:
    """The stem of a NIfTI name, or None when the name is not NIfTI."""
    stem, suffix = split_suffix(path)
    return stem if suffix and is_nifti_name(path) else None


def case_key(path: str | Path) -> str:
    """What pairs a prediction with its reference: the stem without mask tags
    (``spleen_1_pred.nii.gz`` and ``spleen_1.nii.gz`` -> ``spleen_1``)."""
    stem = stem_of(path)
    lower = stem.lower()
    for tag in CASE_TAGS:
        if lower.endswith(tag):
            return stem[: -len(tag)]
    return stem


def with_default_suffix(path: str | Path, fmt: FileFormat = NIFTI) -> Path:
    """``path`` as given when it already names ``fmt``, else with ``fmt``'s suffix added
    (what a save dialog does with a name typed without one)."""
    path = Path(path)
    return path if is_format(path, fmt.key) else path.with_name(path.name + fmt.default_suffix)


def mask_path_beside(source: str | Path | None, fmt: FileFormat = NIFTI) -> Path:
    """The default mask name beside an input: ``case.nii.gz`` -> ``case_seg.nii.gz``,
    a DICOM folder ``dir/`` -> ``dir_seg.nii.gz``, ``x.dcm`` -> ``x_seg.nii.gz``
    (``x_seg.dcm`` with ``fmt=DICOM``)."""
    source = Path(source or "volume")
    stem, suffix = split_suffix(source)
    if not (suffix and is_format(source, fmt.key)):
        stem, suffix = stem_of(source), fmt.default_suffix
    return source.parent / f"{stem}{SEGMENTATION_TAG}{suffix}"


def edited_mask_path(mask_path: str | Path) -> Path:
    """Where edits of an opened mask are saved by default: beside it, ``_edited`` added
    (``label.nii.gz`` -> ``label_edited.nii.gz``; a DICOM SEG ``seg.dcm`` ->
    ``seg_edited.nii.gz``, since edits are saved as NIfTI), numbered when the name is
    taken, so the mask that was opened is never the default target."""
    path = Path(mask_path)
    stem, suffix = split_suffix(path)
    if not is_nifti_name(path):
        stem, suffix = stem_of(path), NIFTI.default_suffix
    candidate = path.parent / f"{stem}{EDITED_TAG}{suffix}"
    number = 2
    while candidate.exists():
        candidate = path.parent / f"{stem}{EDITED_TAG}_{number}{suffix}"
        number += 1
    return candidate


def dialog_filter(*keys: str, everything: bool = False) -> str:
    """A file dialog filter for the formats ``keys``, one entry each after a combined one
    when there are several, and ``All files (*)`` last when ``everything``."""
    formats = [FORMATS[key] for key in keys]
    entries = [fmt.dialog_filter() for fmt in formats]
    if len(formats) > 1:
        patterns = " ".join("*" + s for fmt in formats for s in fmt.suffixes)
        entries.insert(0, f"Images ({patterns})")
    if everything:
        entries.append("All files (*)")
    return ";;".join(entries)


def open_dialog_filter(label: str = "Images") -> str:
    """The filter of an Open dialog: every readable format in one entry first (plus
    ``*``, since DICOM files often have no suffix), then each format, then all files."""
    readable = [fmt for fmt in FORMATS.values() if fmt.reads_volume]
    patterns = " ".join("*" + s for fmt in readable for s in fmt.suffixes)
    entries = [f"{label} ({patterns} *)", *(fmt.dialog_filter() for fmt in readable)]
    return ";;".join([*entries, "All files (*)"])


def _suffix_list(formats: list[FileFormat]) -> str:
    suffixes = [s for fmt in formats for s in reversed(fmt.suffixes)]
    if len(suffixes) == 1:
        return suffixes[0]
    return ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def require_format(path: str | Path, *keys: str, what: str = "the output") -> FileFormat:
    """The format ``path`` names, or a one-line :class:`SpleenScopeError` listing the
    suffixes allowed (``x.txt: the output must end in .nii, .nii.gz or .dcm``)."""
    fmt = format_of(path)
    if fmt is None or fmt.key not in keys:
        allowed = _suffix_list([FORMATS[key] for key in keys])
        raise SpleenScopeError(f"{Path(path).name}: {what} must end in {allowed}")
    return fmt


def check_output_path(path: str | Path, input_path: str | Path | None, overwrite: bool) -> None:
    """Refuse to write over or inside the input, over an existing file, or into no folder.

    Every writer and every command calls this before any work, so what the user
    opened is never lost and a long run never ends in a refusal.
    """
    path = Path(path)
    if input_path:
        source = Path(input_path).resolve()
        target = path.resolve()
        if target == source or (source.is_dir() and source in target.parents):
            raise SpleenScopeError(
                f"{path}: refusing to write over or inside the input; choose another output path"
            )
    if path.exists() and not overwrite:
        raise SpleenScopeError(f"{path}: already exists; choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise SpleenScopeError(f"{path.parent}: no such folder; create it or choose another path")
