"""What a batch segments: INPUT... (folders, files, manifest CSVs) as a list of studies.

Rules, applied to each INPUT in order:

- a ``.csv`` file is a manifest: one study per row, column ``path`` (or the first
  column when there is no header) and optional ``reference`` and ``id`` columns;
  relative paths are relative to the manifest's folder;
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
    source: str
    reference: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Study:
        return cls(data["study_id"], data["source"], data.get("reference") or None)


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


def _from_manifest(manifest: Path) -> list[tuple[Path, Path | None, str | None]]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SpleenScopeError(f"{manifest}: cannot read the manifest ({error})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SpleenScopeError(f"{manifest}: the manifest is empty; give one study path per line")
    rows = list(csv.reader(lines))
    header = [cell.strip().lower() for cell in rows[0]]
    if "path" in header:
        column = {
            name: header.index(name) for name in ("path", "reference", "id") if name in header
        }
        rows = rows[1:]
    else:
        column = {"path": 0}
    entries = []
    for number, row in enumerate(rows, start=2 if "path" in header else 1):

        def cell(name: str, row=row) -> str:
            index = column.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        if not cell("path"):
            raise SpleenScopeError(f"{manifest}: line {number} has no path")
        source = (manifest.parent / cell("path")).expanduser()
        reference = (manifest.parent / cell("reference")) if cell("reference") else None
        entries.append((source, reference, cell("id") or None))
    return entries


def _safe_id(text: str) -> str:
    safe = _UNSAFE_CHARACTERS.sub("_", text).strip("._") or "study"
    return safe[:100]


def collect_studies(inputs: list[Path], references: Path | None = None) -> list[Study]:
    """Expand INPUT... into studies, in a stable order; ``references`` is a folder of
    masks named like the studies (the MSD ``labelsTr/`` convention) for Dice.
    """
    entries: list[tuple[Path, Path | None, str | None]] = []
    for given in inputs:
        path = Path(given).expanduser()
        if not path.exists():
            raise SpleenScopeError(f"{path}: no such file or folder")
        if path.is_file() and path.name.lower().endswith(MANIFEST_ENDING):
            entries += _from_manifest(path)
        elif path.is_file():
            entries.append((path, None, None))
        else:
            found = _from_folder(path)
            if not found:
                raise SpleenScopeError(
                    f"{path}: no NIfTI files or DICOM folders found; give studies or a manifest CSV"
                )
            entries += [(source, None, None) for source in found]
    if references is not None and not references.is_dir():
        raise SpleenScopeError(f"{references}: the reference folder does not exist")
    studies: list[Study] = []
    used: set[str] = set()
    seen_sources: set[str] = set()
    for source, reference, given_id in entries:
        resolved = str(source.resolve())
        if resolved in seen_sources:
            continue  # the same study given twice (a folder and a file in it)
        seen_sources.add(resolved)
        if reference is None and references is not None:
            candidate = references / source.name
            reference = candidate if candidate.exists() else None
        base = _safe_id(given_id or name_without_ending(source))
        study_id, counter = base, 2
        while study_id in used:
            study_id, counter = f"{base}-{counter}", counter + 1
        used.add(study_id)
        studies.append(
            Study(study_id, resolved, str(reference.resolve()) if reference is not None else None)
        )
    return studies
