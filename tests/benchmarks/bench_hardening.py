"""Peak memory and time of refusing absurd inputs, one JSON line.

Each input goes through ``python main.py info`` in a fresh process; the peak
resident memory is that process's VmHWM (from /proc, read at exit). The baseline is the
same command on the small real MR volume, measured in the same run, so the figures
say what refusing costs beyond starting the program.

Inputs: a NIfTI-1 header claiming 32767^3 voxels, a NIfTI-2 header claiming 2^62
voxels per axis, an enhanced multi-frame DICOM claiming 10^7 and 2^31-1 frames, and
a gzip bomb (a small valid NIfTI whose gzip data inflates to 2 GiB).

    python tests/benchmarks/bench_hardening.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.fuzz.corpus import SAMPLE, absurd_size_headers, gzip_bomb, set_dicom_value  # noqa: E402
from tests.fuzz.seeds import tiny_dicom  # noqa: E402

LIMIT_MB = 300


def absurd_inputs(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, data in absurd_size_headers().items():
        if "bytes_missing" in name:
            continue
        paths[name.split(".")[0]] = folder / name
        paths[name.split(".")[0]].write_bytes(data)
    for label, frames in (
        ("multiframe_1e7_frames", b"10000000"),
        ("multiframe_2pow31_frames", b"2147483647"),
    ):
        path = folder / f"{label}.dcm"
        path.write_bytes(set_dicom_value(tiny_dicom(2), 0x00280008, b"IS", frames))
        paths[label] = path
    bomb = folder / "bomb_2GiB.nii.gz"
    bomb.write_bytes(gzip_bomb(2 * 2**30))
    paths["gzip_bomb_2GiB"] = bomb
    return paths


# Runs main.py and writes the process's own peak RSS (VmHWM) at exit. Measured inside
# the new program image: wait4's ru_maxrss would also count the parent's memory at fork.
PEAK_WRAPPER = """
import atexit, runpy, sys
def report(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(peak)
atexit.register(report)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def peak_rss_mb(path: Path, log_dir: Path) -> tuple[int, float, float, str]:
    """(exit code, peak RSS MB, seconds, stderr) of ``main.py info PATH``, fresh process."""
    env = {**os.environ, "SPLEENSCOPE_LOG_DIR": str(log_dir)}
    report = log_dir.parent / "peak_kb.txt"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, str(report), str(REPO / "main.py"), "info", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(report.read_text())
    return done.returncode, peak_kb / 1024, seconds, done.stderr.decode("utf-8", "replace").strip()


def in_process_refusal_ms(path: Path, repeats: int = 5) -> float:
    from viewer.errors import SpleenScopeError
    from viewer.io import load_volume

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            load_volume(path)
        except SpleenScopeError:
            pass
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run() -> dict:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        log_dir = folder / "log"
        inputs = absurd_inputs(folder)
        baseline_rc, baseline_mb, baseline_s, _ = peak_rss_mb(SAMPLE / "mr_abdomen.nii.gz", log_dir)
        cases = {}
        for name, path in inputs.items():
            rc, mb, seconds, err = peak_rss_mb(path, log_dir)
            cases[name] = {
                "rc": rc,
                "peak_rss_mb": round(mb, 1),
                "over_baseline_mb": round(mb - baseline_mb, 1),
                "seconds": round(seconds, 2),
                "refusal_ms_in_process": round(in_process_refusal_ms(path), 2),
                "stderr_lines": len(err.splitlines()),
            }
        return {
            "benchmark": "hardening_memory",
            "baseline_info_small_mr": {
                "rc": baseline_rc,
                "peak_rss_mb": round(baseline_mb, 1),
                "seconds": round(baseline_s, 2),
            },
            "cases": cases,
            "max_peak_rss_mb": max(c["peak_rss_mb"] for c in cases.values()),
            "limit_mb": LIMIT_MB,
        }


if __name__ == "__main__":
    print(json.dumps(run()))
