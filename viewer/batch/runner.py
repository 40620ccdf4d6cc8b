"""Run a batch: resume, hand the unfinished studies to an engine, keep the table current.

The engine (local process pool or Ray) only runs :class:`~viewer.batch.study_task.StudyTask`
calls and reports each finished study's summary; everything a user sees (progress
bar with ETA, ``results.csv``, the final summary) is made here, the same way for both.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from viewer.batch import outputs, results
from viewer.batch.studies import Study
from viewer.batch.study_task import BatchOptions

log = logging.getLogger(__name__)

# results.csv is rewritten at most this often while a batch runs (and always at the end),
# so a cohort of thousands does not spend its time rewriting the table.
TABLE_REFRESH_SECONDS = 5.0

ENGINES = ("local", "ray")


def run_batch(
    studies: list[Study],
    options: BatchOptions,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    show_progress: bool = True,
    on_summary: Callable[[dict], None] | None = None,
) -> dict:
    """Segment every unfinished study; returns the final summary (also in OUTDIR)."""
    from tqdm import tqdm

    started = time.perf_counter()
    outdir = Path(options.outdir)
    outputs.check_settings(outdir, options.settings())
    removed = outputs.remove_partial_folders(outdir)
    if removed:
        log.info("removed %d half-written study folders from an interrupted run", removed)

    summaries: dict[str, dict] = {}
    todo: list[Study] = []
    for study in studies:
        earlier = outputs.read_study_summary(outdir, study.study_id)
        if earlier is not None and earlier.get("status") == "ok":
            summaries[study.study_id] = earlier
        else:
            todo.append(study)
    skipped = len(summaries)
    table_path = outdir / "results.csv"

    def write_table() -> None:
        rows = [results.row_of(summaries[s.study_id]) for s in studies if s.study_id in summaries]
        results.write_results_csv(table_path, rows)

    bar = tqdm(
        total=len(todo), unit="study", desc="batch", file=sys.stderr, disable=not show_progress
    )
    last_write = 0.0

    def finished(summary: dict) -> None:
        nonlocal last_write
        summaries[summary["study"]] = summary
        bar.update(1)
        bar.set_postfix(failed=sum(s.get("status") != "ok" for s in summaries.values()))
        if on_summary is not None:
            on_summary(summary)
        if time.perf_counter() - last_write > TABLE_REFRESH_SECONDS:
            write_table()
            last_write = time.perf_counter()

    try:
        if todo:
            if engine == "local":
                from viewer.batch.local_engine import run_local

                run_local(todo, options, workers, finished)
            elif engine == "ray":
                from viewer.batch.ray_engine import run_ray

                run_ray(todo, options, workers, address, finished)
            else:
                raise ValueError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    finally:
        bar.close()
        write_table()  # whatever finished is in the table, even after an interrupt
    summary = results.summarize(
        [summaries[s.study_id] for s in studies], time.perf_counter() - started, skipped, engine
    )
    outputs.write_json(outdir / "summary.json", summary)
    return summary
