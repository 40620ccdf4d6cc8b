"""A cohort of small volumes: ``batch`` against one ``segment`` process per study, the Ray
engine against the local one, and opening a 1,000-row worklist. Prints one JSON line.

- ``separate_processes_s``: 20 studies as a user's shell loop runs them, one
  ``spleenscope segment`` process each (every process imports torch and reads the
  weights); ``batch_local_s``: ``spleenscope batch`` on the same 20 files (one model
  load per worker), the mean of a run before and one after the separate processes.
  ``speedup`` is their ratio (target: at least 3 on 2 cores); ``speedup_cpu`` the
  same for CPU seconds, which a busy shared machine disturbs far less than wall time.
- ``ray``: the same 20 through ``batch --engine ray`` (a local Ray started by the
  command): ``start_s`` is the time to the first finished study, ``per_study_s`` the
  median gap between finished studies after that; the same two for the local engine.
- ``worklist_open_1000_s``: median time to open a 1,000-row results table.

The CHAOS MR crops (96 x 96 x 4) come from the shared data; both arms use the CT model
(``--modality ct``) so they run the same network whatever models are installed.
Usage: ``python tests/benchmarks/bench_batch.py [--studies 20] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.batch_support import write_small_cases  # noqa: E402
from viewer.batch.results import row_of, write_results_csv  # noqa: E402
from viewer.worklist import Worklist  # noqa: E402

COMMON = ["--device", "cpu", "--modality", "ct"]


def _spleenscope(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "main.py"), *args]


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def separate_processes(cases: list[Path], out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one segment process per study, one after another."""
    out.mkdir()
    started, cpu = time.perf_counter(), _children_cpu_s()
    for case in cases:
        subprocess.run(
            _spleenscope("segment", str(case), "-o", str(out / case.name), *COMMON),
            check=True, capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - started, _children_cpu_s() - cpu


def batch_run(folder: Path, out: Path, engine: str, workers: int | None) -> dict:
    """Wall time of the whole command, and when each study's summary appeared."""
    command = _spleenscope("batch", str(folder), "-o", str(out), "--engine", engine,
                           "--json", *COMMON)  # fmt: skip
    if workers:
        command += ["--workers", str(workers)]
    started, cpu = time.time(), _children_cpu_s()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall, cpu = time.time() - started, _children_cpu_s() - cpu
    summary = json.loads(done.stdout)
    finished = sorted(
        path.stat().st_mtime - started for path in (out / "studies").glob("*/summary.json")
    )
    gaps = [b - a for a, b in zip(finished, finished[1:], strict=False)]
    return {
        "wall_s": round(wall, 2),
        # the CPU time of processes Ray starts is not counted here (they are not our children)
        "cpu_s": round(cpu, 2) if engine == "local" else None,
        "start_s": round(finished[0], 2),
        "per_study_s": round(statistics.median(gaps), 3) if gaps else None,
        "studies_per_minute": summary["studies_per_minute"],
        "failures": len(summary["failures"]),
    }


def worklist_open_seconds(folder: Path, rows: int = 1000, repeats: int = 5) -> float:
    summaries = [
        {"study": f"case_{i:05d}", "status": "ok", "volume_ml": 100 + i % 400,
         "volume_ml_range": [90 + i % 400, 120 + i % 400], "dice": (i % 100) / 100,
         "quality": {"verdict": ("ok", "check", "failed")[i % 3], "reasons": ["r"]},
         "model": "m", "device": "CPU", "seconds": 1.0, "input": f"/data/case_{i}.nii.gz",
         "output": f"/out/case_{i}/mask.nii.gz"}
        for i in range(rows)
    ]  # fmt: skip
    write_results_csv(folder / "results.csv", [row_of(s) for s in summaries])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        Worklist.open(folder)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=None, help="batch workers (default: its own)"
    )
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--scaling", action="store_true",
        help="only the local engine with 1 and 2 workers (how it scales on this machine)",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as temporary:
        root = Path(temporary)
        cases = write_small_cases(root / "cases", args.studies, slices=4, size=96)
        if args.scaling:
            runs = {w: batch_run(root / "cases", root / f"w{w}", "local", w) for w in (1, 2)}
            print(json.dumps({"benchmark": "batch_scaling", "studies": args.studies,
                              "workers_1": runs[1], "workers_2": runs[2],
                              "speedup_2_over_1": round(runs[1]["wall_s"] / runs[2]["wall_s"], 2)}))  # fmt: skip
            return
        # Batch before and after the separate processes: on a shared machine whose load
        # changes, the two batch runs bracket the slow arm. CPU seconds are reported too:
        # they depend much less on what else the machine is doing.
        local = batch_run(root / "cases", root / "batch_a", "local", args.workers)
        separate, separate_cpu = separate_processes(cases, root / "separate")
        again = batch_run(root / "cases", root / "batch_b", "local", args.workers)
        batch_wall = (local["wall_s"] + again["wall_s"]) / 2
        batch_cpu = (local["cpu_s"] + again["cpu_s"]) / 2
        ray = (
            None if args.skip_ray else batch_run(root / "cases", root / "ray", "ray", args.workers)
        )
        worklist_dir = root / "worklist"
        worklist_dir.mkdir()
        figures = {
            "benchmark": "batch",
            "studies": args.studies,
            "volume": "96x96x4 CHAOS MR crops, CT model",
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "separate_processes_s": round(separate, 2),
            "separate_processes_cpu_s": round(separate_cpu, 2),
            "batch_local_s": round(batch_wall, 2),
            "batch_local_cpu_s": round(batch_cpu, 2),
            "speedup": round(separate / batch_wall, 2),
            "speedup_cpu": round(separate_cpu / batch_cpu, 2),
            "local": local,
            "local_again": again,
            "ray": ray,
            "worklist_open_1000_s": round(worklist_open_seconds(worklist_dir), 4),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
