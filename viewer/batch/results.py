"""The cohort table (``results.csv``) and the final summary, both made from study summaries.

Each fact lives in the study's ``summary.json``; this module only chooses columns.
A study without a quality verdict gets ``unchecked``, never ``ok``: an unverified
result must not look like a verified one. An error row has ``status: error``, its
message and empty numbers.

A spleen that the scan cuts off (it reaches the first or last slice) has a volume
that is only a minimum: ``volume_is_lower_bound`` says so, ``true`` / ``false`` (empty
for an error row), beside a ``volume_ml`` that stays a plain number so spreadsheets
still read it. The flag is :attr:`SpleenMeasurements.is_lower_bound
<segmentation.measurements.SpleenMeasurements.is_lower_bound>`, recorded in the
study's ``summary.json``.
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from segmentation.measurements import SpleenMeasurements
from viewer.atomic import write_text_atomically

RESULT_COLUMNS = (
    "study",
    "status",
    "volume_ml",
    "volume_ml_low",
    "volume_ml_high",
    "volume_is_lower_bound",
    "verdict",
    "reasons",
    "dice",
    "seconds",
    "model",
    "device",
    "modality",
    "mask",
    "uncertainty",
    "thumbnail",
    "input",
    "reference",
    "error",
)
UNCHECKED = "unchecked"
ERROR_VERDICT = "error"


def verdict_of(summary: dict) -> str:
    if summary.get("status") != "ok":
        return ERROR_VERDICT
    quality = summary.get("quality") or {}
    return str(quality.get("verdict") or UNCHECKED)


def _text(value) -> str:
    return "" if value is None else str(value)


def volume_is_lower_bound(summary: dict) -> bool | None:
    """Is the study's volume only a minimum (the spleen runs past the scan)?

    :attr:`SpleenMeasurements.is_lower_bound` of the measurements the summary holds
    (so a summary written before ``segment --json`` carried the flag gets it too).
    None when there is no volume to qualify (an error) or nothing to tell.
    """
    if summary.get("status") != "ok":
        return None
    try:
        return SpleenMeasurements.from_dict(summary).is_lower_bound
    except (KeyError, TypeError, ValueError):
        return None


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def row_of(summary: dict) -> dict:
    """One ``results.csv`` row from a study summary."""
    ok = summary.get("status") == "ok"
    low, high = (summary.get("volume_ml_range") or [None, None])[:2]
    quality = summary.get("quality") or {}

    return {
        "study": summary.get("study", ""),
        "status": summary.get("status", ERROR_VERDICT),
        "volume_ml": _text(summary.get("volume_ml")) if ok else "",
        "volume_ml_low": _text(low) if ok else "",
        "volume_ml_high": _text(high) if ok else "",
        "volume_is_lower_bound": _flag(volume_is_lower_bound(summary)),
        "verdict": verdict_of(summary),
        "reasons": "; ".join(quality.get("reasons") or []),
        "dice": _text(summary.get("dice")) if ok else "",
        "seconds": _text(summary.get("seconds") if ok else summary.get("wall_seconds")),
        "model": _text(summary.get("model")),
        "device": _text(summary.get("device")),
        "modality": _text(summary.get("modality")),
        "mask": _text(summary.get("output")) if ok else "",
        "uncertainty": _text(summary.get("uncertainty")) if ok else "",
        "thumbnail": _text(summary.get("thumbnail")) if ok else "",
        "input": _text(summary.get("input")),
        "reference": _text(summary.get("reference")),
        "error": _text(summary.get("error")),
    }


def write_results_csv(path: Path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomically(path, buffer.getvalue())


def read_results_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _quantiles(values: list[float], digits: int = 1) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else ordered * 3
    return {
        "min": round(ordered[0], digits),
        "q1": round(quartiles[0], digits),
        "median": round(statistics.median(ordered), digits),
        "q3": round(quartiles[2], digits),
        "max": round(ordered[-1], digits),
    }


def summarize(summaries: list[dict], seconds: float, skipped: int, engine: str) -> dict:
    """Counts per verdict, failures and the volume distribution of a finished batch."""
    verdicts: dict[str, int] = {}
    for summary in summaries:
        verdict = verdict_of(summary)
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    failures = [
        {"study": s.get("study"), "error": s.get("error")}
        for s in summaries
        if s.get("status") != "ok"
    ]
    volumes = [float(s["volume_ml"]) for s in summaries if s.get("status") == "ok"]
    lower_bounds = sum(bool(volume_is_lower_bound(s)) for s in summaries)
    dices = [float(s["dice"]) for s in summaries if s.get("dice") is not None]
    processed = len(summaries) - skipped
    return {
        "studies": len(summaries),
        "processed": processed,
        "skipped_finished": skipped,
        "verdicts": dict(sorted(verdicts.items())),
        "failures": failures,
        "volume_ml": _quantiles(volumes),
        "volume_lower_bounds": lower_bounds,  # of those volumes, how many are only minimums
        "dice": _quantiles(dices, digits=4) if dices else None,
        "engine": engine,
        "seconds": round(seconds, 2),
        "studies_per_minute": round(60.0 * processed / seconds, 2) if seconds > 0 else None,
    }


def summary_lines(summary: dict) -> list[str]:
    """The final summary for a person, a few lines."""
    verdicts = ", ".join(f"{count} {name}" for name, count in summary["verdicts"].items())
    lines = [
        f"{summary['studies']} studies ({summary['processed']} segmented, "
        f"{summary['skipped_finished']} already finished) in {summary['seconds']:.1f} s "
        f"with the {summary['engine']} engine: {verdicts or 'none'}"
    ]
    volume = summary["volume_ml"]
    if volume:
        cut = summary.get("volume_lower_bounds") or 0
        lines.append(
            f"spleen volume mL: min {volume['min']}, quartiles {volume['q1']} / "
            f"{volume['median']} / {volume['q3']}, max {volume['max']}"
            + (f" ({cut} of them at least: the spleen runs past the scan)" if cut else "")
        )
    if summary["dice"]:
        lines.append(f"Dice against references: median {summary['dice']['median']}")
    for failure in summary["failures"]:
        lines.append(f"failed: {failure['study']}: {failure['error']}")
    return lines
