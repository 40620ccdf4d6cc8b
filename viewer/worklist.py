"""The QA worklist of a batch: its results table, sorted worst first, filtered, reviewed.

A batch folder (``spleenscope batch ... -o OUTDIR``) holds ``results.csv``; review
decisions go to ``OUTDIR/review_audit.jsonl``, an append-only log with one JSON line
per action::

    {"time": "2026-12-01T16:05:00+00:00", "user": "ana", "study": "case_007",
     "model": "...", "verdict": "check", "action": "accept" | "correct" | "reject",
     "comment": "...", "files": {"mask": "sha256:...", "corrected": "sha256:..."}}

The log is the only record of decisions: opening the worklist replays it, so a
study's decision is its last action, and nothing is ever rewritten. A correction is
saved as a new file beside the original mask (``mask_corrected_v<N>.nii.gz``), never
over it. :meth:`Worklist.export` writes the reviewed table. No Qt here; the window's
panel is :mod:`viewer.ui.worklist_panel`.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from viewer.atomic import write_text_atomically
from viewer.errors import SpleenScopeError

RESULTS_NAME = "results.csv"
AUDIT_NAME = "review_audit.jsonl"
ACTIONS = ("accept", "correct", "reject")
# Worst first: a failed run, then what the self-check failed or flagged, then results
# nobody checked, then the ones it passed.
VERDICT_ORDER = {"error": 0, "failed": 1, "check": 2, "unchecked": 3, "ok": 4}
EXPORT_EXTRA_COLUMNS = ("decision", "reviewer", "decided_at", "comment", "corrected_mask")


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def file_hash(path: str | Path | None) -> str | None:
    """``sha256:<hex>`` of a file, or None when there is no such file."""
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


@dataclass
class WorklistRow:
    """One study of the batch and what the reviewer decided about it."""

    values: dict  # the results.csv row as read
    decision: str | None = None
    reviewer: str | None = None
    decided_at: str | None = None
    comment: str = ""
    corrected_mask: str | None = None

    @property
    def study(self) -> str:
        return self.values.get("study", "")

    @property
    def verdict(self) -> str:
        return self.values.get("verdict") or "unchecked"

    @property
    def dice(self) -> float | None:
        return _number(self.values.get("dice"))

    @property
    def volume_ml(self) -> float | None:
        return _number(self.values.get("volume_ml"))

    @property
    def volume_is_lower_bound(self) -> bool:
        """The batch's ``volume_is_lower_bound``: the spleen runs past the scan, so the
        volume is only a minimum. False when the table does not say (one written before
        the column existed; rerunning the batch into its folder rewrites the table)."""
        return (self.values.get("volume_is_lower_bound") or "").strip().lower() == "true"

    @property
    def failed(self) -> bool:
        """The batch could not segment this study (no result, whatever its verdict says)."""
        return (self.values.get("status") or "ok") != "ok"

    @property
    def uncertainty(self) -> float | None:
        """Width of the volume range relative to the volume (None when not measured)."""
        low, high = (
            _number(self.values.get("volume_ml_low")),
            _number(self.values.get("volume_ml_high")),
        )
        if low is None or high is None:
            return None
        return (high - low) / max(self.volume_ml or 0.0, 1.0)

    def path(self, column: str) -> str | None:
        return self.values.get(column) or None

    def sort_key(self) -> tuple:
        """Worst first: verdict, then most uncertain, then lowest Dice, then name."""
        uncertainty = self.uncertainty
        dice = self.dice
        return (
            VERDICT_ORDER.get(self.verdict, len(VERDICT_ORDER)),
            -(uncertainty if uncertainty is not None else -1.0),
            dice if dice is not None else 2.0,
            self.study,
        )


@dataclass
class WorklistFilter:
    """Which rows to show; an empty field does not filter."""

    verdicts: set[str] = field(default_factory=set)
    decisions: set[str] = field(default_factory=set)  # "undecided" or an action
    text: str = ""
    max_dice: float | None = None

    def matches(self, row: WorklistRow) -> bool:
        if self.verdicts and row.verdict not in self.verdicts:
            return False
        if self.decisions and (row.decision or "undecided") not in self.decisions:
            return False
        if self.text and self.text.lower() not in row.study.lower():
            return False
        if self.max_dice is not None and (row.dice is None or row.dice > self.max_dice):
            return False
        return True


class Worklist:
    """A batch's results with the review decisions replayed from the audit log."""

    def __init__(self, folder: Path, rows: list[WorklistRow], columns: list[str]) -> None:
        self.folder = folder
        self.rows = rows
        self.columns = columns
        self._by_study = {row.study: row for row in rows}

    @classmethod
    def open(cls, path: str | Path) -> Worklist:
        """Open a batch folder (or its ``results.csv``), sorted worst first."""
        path = Path(path)
        table = path / RESULTS_NAME if path.is_dir() else path
        if not table.is_file():
            raise SpleenScopeError(
                f"{path}: no {RESULTS_NAME} here; choose the output folder of spleenscope batch"
            )
        try:
            with open(table, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                values = list(reader)
                columns = list(reader.fieldnames or [])
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise SpleenScopeError(
                f"{table.name}: cannot read the results table ({error})"
            ) from None
        if "study" not in columns:
            raise SpleenScopeError(f"{table.name}: not a batch results table (no study column)")
        worklist = cls(table.parent, [WorklistRow(v) for v in values], columns)
        worklist._replay()
        worklist.sort()
        return worklist

    @property
    def audit_path(self) -> Path:
        return self.folder / AUDIT_NAME

    def row(self, study: str) -> WorklistRow:
        return self._by_study[study]

    def sort(self) -> None:
        self.rows.sort(key=WorklistRow.sort_key)

    def visible(self, flt: WorklistFilter | None = None) -> list[WorklistRow]:
        return [row for row in self.rows if flt is None or flt.matches(row)]

    # ----------------------------------------------------------------- decisions
    def accept(self, study: str, comment: str = "", user: str | None = None) -> dict:
        return self._record(study, "accept", comment, user, {})

    def reject(self, study: str, comment: str, user: str | None = None) -> dict:
        if not comment.strip():
            raise SpleenScopeError("say why the result is rejected (a comment is required)")
        return self._record(study, "reject", comment, user, {})

    def correct(self, study: str, volume, mask, comment: str = "", user: str | None = None) -> Path:
        """Save the corrected ``mask`` (canonical grid of ``volume``) as a new version."""
        from viewer.io.writers import save_mask

        row = self.row(study)
        original = row.path("mask")
        folder = Path(original).parent if original else self.folder / "studies" / study
        folder.mkdir(parents=True, exist_ok=True)
        version = 1 + sum(1 for _ in folder.glob("mask_corrected_v*.nii.gz"))
        target = folder / f"mask_corrected_v{version}.nii.gz"
        while target.exists():
            version += 1
            target = folder / f"mask_corrected_v{version}.nii.gz"
        written = save_mask(volume, mask, target)
        self._record(study, "correct", comment, user, {"corrected": str(written)})
        return Path(written)

    def _record(self, study: str, action: str, comment: str, user, extra_paths: dict) -> dict:
        row = self.row(study)  # KeyError for an unknown study: a programming error
        files = {"mask": file_hash(row.path("mask"))}
        files.update({name: file_hash(path) for name, path in extra_paths.items()})
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "user": user or getpass.getuser(),
            "study": study,
            "model": row.values.get("model", ""),
            "verdict": row.verdict,
            "action": action,
            "comment": comment,
            "files": files,
            "paths": extra_paths,
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        with open(self.audit_path, "a", encoding="utf-8") as handle:  # append only
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._apply(entry)
        return entry

    def _apply(self, entry: dict) -> None:
        row = self._by_study.get(entry.get("study"))
        if row is None or entry.get("action") not in ACTIONS:
            return
        row.decision = entry["action"]
        row.reviewer = entry.get("user")
        row.decided_at = entry.get("time")
        row.comment = entry.get("comment", "")
        corrected = (entry.get("paths") or {}).get("corrected")
        if corrected:
            row.corrected_mask = corrected

    def _replay(self) -> None:
        if not self.audit_path.is_file():
            return
        for line in self.audit_path.read_text(encoding="utf-8").splitlines():
            try:
                self._apply(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash; the ones before and after still count

    # -------------------------------------------------------------------- export
    def export(self, path: str | Path, flt: WorklistFilter | None = None) -> Path:
        """The reviewed table (results columns plus the decision columns) as CSV."""
        if Path(path).resolve() == (self.folder / RESULTS_NAME).resolve():
            raise SpleenScopeError(f"{path}: that is the batch's own table; export to a new file")
        buffer = io.StringIO()
        names = self.columns + [c for c in EXPORT_EXTRA_COLUMNS if c not in self.columns]
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in self.visible(flt):
            writer.writerow(
                {
                    **row.values,
                    "decision": row.decision or "",
                    "reviewer": row.reviewer or "",
                    "decided_at": row.decided_at or "",
                    "comment": row.comment,
                    "corrected_mask": row.corrected_mask or "",
                }
            )
        return write_text_atomically(path, buffer.getvalue())
