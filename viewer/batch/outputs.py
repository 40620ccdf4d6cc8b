"""Where a batch writes, and how a study's results appear all at once or not at all.

Layout of OUTDIR::

    OUTDIR/batch.json              settings of the run (a rerun must use the same ones)
    OUTDIR/results.csv             one row per study (rewritten atomically as studies finish)
    OUTDIR/summary.json            the final summary (counts per verdict, volumes, failures)
    OUTDIR/studies/<id>/summary.json   the study's JSON (``segment --json``'s keys and more)
    OUTDIR/studies/<id>/mask.nii.gz    or mask.dcm (a DICOM SEG) for DICOM input
    OUTDIR/studies/<id>/uncertainty.nii.gz   when asked

A worker writes a study into a hidden ``studies/.<id>.partial-*`` folder and renames it
to ``studies/<id>`` when everything is written (a rename is atomic), so an interrupted
run never leaves a half-written study under its real name. A study is finished when
its ``summary.json`` says ``status: ok``; one with ``status: error`` is tried again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from viewer.atomic import _current_umask, write_text_atomically
from viewer.errors import SpleenScopeError

SUMMARY_NAME = "summary.json"
PARTIAL_MARK = ".partial-"


def studies_folder(outdir: Path) -> Path:
    return Path(outdir) / "studies"


def study_folder(outdir: Path, study_id: str) -> Path:
    return studies_folder(outdir) / study_id


def mask_name(dicom_input: bool) -> str:
    return "mask.dcm" if dicom_input else "mask.nii.gz"


def new_partial_folder(outdir: Path, study_id: str) -> Path:
    parent = studies_folder(outdir)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{study_id}{PARTIAL_MARK}", dir=parent))


def commit_study_folder(partial: Path, final: Path) -> Path:
    """Put a completely written study folder in place of any earlier (failed) attempt."""
    # mkdtemp makes a private folder; results are for whoever may read OUTDIR.
    partial.chmod(0o777 & ~_current_umask())
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final


def remove_partial_folders(outdir: Path) -> int:
    """Delete what interrupted workers left behind; returns how many were removed."""
    parent = studies_folder(outdir)
    if not parent.is_dir():
        return 0
    leftovers = [p for p in parent.iterdir() if p.name.startswith(".") and PARTIAL_MARK in p.name]
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return len(leftovers)


def read_study_summary(outdir: Path, study_id: str) -> dict | None:
    """The committed summary of a study, or None when there is none (or it is unreadable)."""
    path = study_folder(outdir, study_id) / SUMMARY_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict) -> Path:
    return write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_settings(outdir: Path, settings: dict) -> None:
    """Record the run's settings; refuse to resume into OUTDIR made with other settings.

    Skipping finished studies is only right when they were made the same way.
    """
    outdir = Path(outdir)
    recorded = outdir / "batch.json"
    if recorded.is_file():
        try:
            earlier = json.loads(recorded.read_text(encoding="utf-8"))
        except ValueError:
            earlier = None
        if earlier != settings:
            changed = sorted(
                key for key in set(settings) | set(earlier or {})
                if (earlier or {}).get(key) != settings.get(key)
            )  # fmt: skip
            raise SpleenScopeError(
                f"{outdir}: holds results made with other settings ({', '.join(changed)}); "
                "rerun with the same settings or choose a new output folder"
            )
        return
    outdir.mkdir(parents=True, exist_ok=True)
    write_json(recorded, settings)
