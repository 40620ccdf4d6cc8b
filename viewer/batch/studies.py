"""What a batch segments: INPUT... (folders, files, manifest CSVs) as a list of studies.

Rules, applied to each INPUT in order:

- a ``.csv`` file is a manifest: one study per row, column ``path`` (or the first
  column when there is no header) and optional ``reference`` and ``id`` columns;
  relative paths are relative to the manifest's folder. A row may instead name a
  series on a PACS: columns ``pacs`` (a node as ``spleenscope pacs`` takes it),
  ``study_uid`` and ``series_uid`` (optional when the study has one CT or MR series);
  the worker retrieves it into OUTDIR/retrieved/ first;
- any other file is one study (NIfTI, or a DICOM file);
- a folder that directly holds files other than NIfTI/CSV is one DICOM study;
- any other folder is searched: each NIfTI file in it is a study and each sub-folder
  follows these folder rules again.

A study's id comes from its file or folder name (never from header values, which may
identify the patient), made safe for a folder name and unique within the batch.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from viewer.errors import SpleenScopeError
from viewer.io.file_names import is_nifti_name, split_suffix

MANIFEST_ENDING = ".csv"
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Study:
    """One volume to segment, with its optional reference mask for Dice."""

    study_id: str
    source: str  # a path, or for a PACS series a description (pacs://node/study/series)
    reference: str | None = None
    pacs: str | None = None  # the node to retrieve the series from
    study_uid: str | None = None
    series_uid: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Study:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class _Entry:
    source: Path | None
    reference: Path | None = None
    given_id: str | None = None
    pacs: tuple[str, str, str | None] | None = None  # node, study UID, series UID


def _is_nifti(path: Path) -> bool:
    return is_nifti_name(path)


def name_without_ending(path: Path) -> str:
    return split_suffix(path)[0]


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_dicom_folder(folder: Path) -> bool:
    return any(
        entry.is_file() and _visible(entry) and not _is_nifti(entry)
        and not entry.name.lower().endswith((MANIFEST_ENDING, ".json", ".txt", ".md"))
        for entry in folder.iterdir()
    )  # fmt: skip


def _from_folder(folder: Path) -> list[Path]:
    if _is_dicom_folder(folder):
        return [folder]
    found: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_dir():
            found += _from_folder(entry)
        elif _is_nifti(entry):
            found.append(entry)
    return found


def _from_manifest(manifest: Path) -> list[_Entry]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SpleenScopeError(f"{manifest}: cannot read the manifest ({error})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SpleenScopeError(f"{manifest}: the manifest is empty; give one study path per line")
    rows = list(csv.reader(lines))
    header = [cell.strip().lower() for cell in rows[0]]
    has_header = "path" in header or "study_uid" in header
    if has_header:
        names = ("path", "reference", "id", "pacs", "study_uid", "series_uid")
        column = {name: header.index(name) for name in names if name in header}
        rows = rows[1:]
    else:
        column = {"path": 0}
    entries = []
    for number, row in enumerate(rows, start=2 if has_header else 1):

        def cell(name: str, row=row) -> str:
            index = column.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        reference = (manifest.parent / cell("reference")) if cell("reference") else None
        if cell("pacs") or cell("study_uid"):
            if not (cell("pacs") and cell("study_uid")):
                raise SpleenScopeError(
                    f"{manifest}: line {number} names a PACS study: give both pacs and study_uid"
                )
            pacs = (cell("pacs"), cell("study_uid"), cell("series_uid") or None)
            entries.append(_Entry(None, reference, cell("id") or None, pacs))
            continue
        if not cell("path"):
            raise SpleenScopeError(f"{manifest}: line {number} has no path")
        source = (manifest.parent / cell("path")).expanduser()
        entries.append(_Entry(source, reference, cell("id") or None))
    return entries


def _safe_id(text: str) -> str:
    safe = _UNSAFE_CHARACTERS.sub("_", text).strip("._") or "study"
    return safe[:100]


def collect_studies(inputs: list[Path], references: Path | None = None) -> list[Study]:
    """Expand INPUT... into studies, in a stable order; ``references`` is a folder of
    masks named like the studies (the MSD ``labelsTr/`` convention) for Dice.
    """
    entries: list[_Entry] = []
    for given in inputs:
        path = Path(given).expanduser()
        if not path.exists():
            raise SpleenScopeError(f"{path}: no such file or folder")
        if path.is_file() and path.name.lower().endswith(MANIFEST_ENDING):
            entries += _from_manifest(path)
        elif path.is_file():
            entries.append(_Entry(path))
        else:
            found = _from_folder(path)
            if not found:
                raise SpleenScopeError(
                    f"{path}: no NIfTI files or DICOM folders found; give studies or a manifest CSV"
                )
            entries += [_Entry(source) for source in found]
    if references is not None and not references.is_dir():
        raise SpleenScopeError(f"{references}: the reference folder does not exist")
    studies: list[Study] = []
    used: set[str] = set()
    seen_sources: set[str] = set()
    for entry in entries:
        reference = entry.reference
        if entry.pacs is not None:
            node, study_uid, series_uid = entry.pacs
            resolved = f"pacs://{node}/{study_uid}/{series_uid or ''}"
            name = series_uid or study_uid
        else:
            resolved, name = str(entry.source.resolve()), name_without_ending(entry.source)
            if reference is None and references is not None:
                candidate = references / entry.source.name
                reference = candidate if candidate.exists() else None
        if resolved in seen_sources:
            continue  # the same study given twice (a folder and a file in it)
        seen_sources.add(resolved)
        base = _safe_id(entry.given_id or name)
        study_id, counter = base, 2
        while study_id in used:
            study_id, counter = f"{base}-{counter}", counter + 1
        used.add(study_id)
        pacs = dict(zip(("pacs", "study_uid", "series_uid"), entry.pacs or (), strict=False))
        studies.append(
            Study(study_id, resolved, str(reference.resolve()) if reference else None, **pacs)
        )
    return studies
