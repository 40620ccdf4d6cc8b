"""Survey header speed next to a bare pydicom ``stop_before_pixels`` loop over the same files.

Cases: 10 copies of the sample CT (200 files, 10 series); the same plus the DICOM
edge cases (many short series, two NIfTI files, two non-DICOM files); and the whole
sample data folder (DICOM, 54 NIfTI, SEG, non-DICOM files: there the loop reads no
NIfTI header at all, so its ratio says little about DICOM header speed). The
baseline reads every file of the same tree with ``pydicom.dcmread(path,
stop_before_pixels=True)`` (skipping what is not DICOM) and nothing else; the survey
also groups series, checks geometry, reads the NIfTI headers and flags outliers.
Alternated in the same run: the survey as the CLI runs it (worker processes only
from PARALLEL_MIN_FILES files on, so one process here) and the loop. Prints one
JSON line with medians (wall and CPU) and ratios. Target: ratio <= 1.5.

Run: ``.venv/bin/python tests/benchmarks/bench_survey.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import sample_data_dir  # noqa: E402
from viewer.survey.collect import (  # noqa: E402
    PARALLEL_MIN_FILES,
    default_workers,
    survey_folder,
    walk,
)


def bare_pydicom_loop(root: Path) -> int:
    """Headers of every file, as a notebook would read them; non-DICOM files skipped."""
    read = 0
    for path in walk(root):
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
            read += 1
        except Exception:  # noqa: BLE001 - not DICOM
            pass
    return read


def compare(root: Path, repeats: int, workers: int) -> dict:
    survey_folder(root, show_bar=False), bare_pydicom_loop(root)  # warm caches and imports
    runs = {
        "survey": lambda: survey_folder(root, show_bar=False, workers=workers),
        "pydicom_loop": lambda: bare_pydicom_loop(root),
    }
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, function in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result: dict = {
        name: {
            "median_s": round(statistics.median(wall[name]), 4),
            "median_cpu_s": round(statistics.median(cpu[name]), 4),
        }
        for name in wall
    }
    result["files"] = len(walk(root))
    result["rows"] = len(survey_folder(root, show_bar=False).rows)
    result["workers"] = workers if result["files"] >= PARALLEL_MIN_FILES else 1
    result["ratio"] = round(result["survey"]["median_s"] / result["pydicom_loop"]["median_s"], 3)
    result["cpu_ratio"] = round(
        result["survey"]["median_cpu_s"] / result["pydicom_loop"]["median_cpu_s"], 3
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    data = sample_data_dir()
    if not (data / "ct_spleen_dicom").is_dir():
        print(json.dumps({"error": f"sample data not found at {data}"}))
        return 1
    results: dict = {"repeats": args.repeats}
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "dicom_tree"
        for copy in range(args.copies):
            shutil.copytree(data / "ct_spleen_dicom", tree / f"ct_{copy:02d}")
        results["ct_series_copies"] = compare(tree, args.repeats, default_workers())
        shutil.copytree(data / "dicom_edge", tree / "dicom_edge")
        results["ct_copies_and_dicom_edge"] = compare(tree, args.repeats, default_workers())
    results["sample_data_folder"] = compare(data, args.repeats, default_workers())
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
