"""Run every file-reading command on a damaged corpus and classify what happens.

``python -m tests.fuzz.runner --count 1000`` (``make fuzz``) generates the corpus
(:mod:`tests.fuzz.corpus`), runs ``info --json`` and ``convert`` on every case and
``segment``, ``evaluate``, ``view --screenshot``, ``train`` (its data check, on a
tiny model), ``batch`` and ``survey`` (when they exist) on a spread subset, each
in its own process with a 60 s limit, and prints one JSON line of counts.

Each run is classified:

- ``ok``: exit 0 with well-formed output; ``refused``: exit 2, exactly one stderr line
  ``spleenscope: error: ...``;
- failures: ``traceback`` (a Python traceback anywhere), ``unexpected`` (the CLI's
  boundary caught an exception nobody anticipated: a traceback turned into a line),
  ``crash`` (killed by a signal), ``hang`` (past the time limit), ``multi_line``
  (exit 2 with more than one stderr line), ``bad_json`` (``--json`` output that is
  not strict JSON), ``bad_geometry`` (a non-finite or singular affine reported as
  success), ``silent_drop`` (a folder's DICOM files neither all loaded nor each
  named in a warning), ``leak`` (the canary patient name in any output),
  ``false_refusal`` (an unmodified sample file refused by info or convert).

Children are forked from warm workers (imports done once), so a run costs
milliseconds of start-up instead of a second; each child is still its own process,
so a hang or a crash is seen as one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tests.fuzz.corpus import CANARY, SAMPLE, generate

TIME_LIMIT_S = 60
FAILURES = (
    "traceback",
    "unexpected",
    "crash",
    "hang",
    "multi_line",
    "bad_json",
    "bad_geometry",
    "silent_drop",
    "leak",
    "false_refusal",
)
MR_LABEL = SAMPLE / "mr_abdomen_organs.nii.gz"


# ------------------------------------------------------------------ the plan
def plan(cases: list[dict], corpus: Path, subset_every: int) -> list[dict]:
    """(case, command) runs: info and convert for all, the heavier commands on a subset."""
    from viewer.cli import SUBCOMMANDS

    runs = []
    for index, case in enumerate(cases):
        path = str(corpus / case["path"])
        if case["family"] == "seg":
            runs.append(
                _run(
                    case,
                    "view",
                    [
                        "view",
                        case["mask_for"],
                        "--mask",
                        path,
                        "--screenshot",
                        "{out}/shot.png",
                        "--size",
                        "320x240",
                    ],
                )
            )
            runs.append(_run(case, "evaluate", ["evaluate", path, case["reference"], "--json"]))
            continue
        runs.append(_run(case, "info", ["info", path, "--json"]))
        runs.append(_run(case, "convert", ["convert", path, "{out}/converted.nii.gz"]))
        if index % subset_every:
            continue
        heavy = index // subset_every
        choice = heavy % 5
        if choice == 0:
            runs.append(
                _run(
                    case,
                    "segment",
                    [
                        "segment",
                        path,
                        "-o",
                        "{out}/mask.nii.gz",
                        "--device",
                        "cpu",
                        "--threads",
                        "1",
                        "--json",
                    ],
                )
            )
        elif choice == 1:
            runs.append(
                _run(
                    case,
                    "view",
                    ["view", path, "--screenshot", "{out}/shot.png", "--size", "320x240"],
                )
            )
        elif choice == 2 and case["family"] == "nifti1_gz":
            runs.append(_run(case, "evaluate", ["evaluate", path, str(MR_LABEL), "--json"]))
        elif choice == 2 or choice == 3:
            runs.append(
                _run(
                    case,
                    "train",
                    [
                        "train",
                        "--pair",
                        path,
                        str(MR_LABEL),
                        "-o",
                        "{out}/model.pt",
                        "--epochs",
                        "1",
                        "--steps-per-epoch",
                        "1",
                        "--batch-size",
                        "1",
                        "--base-channels",
                        "2",
                        "--depth",
                        "2",
                        "--patch-size",
                        "16",
                        "--threads",
                        "1",
                        "--device",
                        "cpu",
                        "--val-fraction",
                        "0",
                    ],
                )
            )
        elif "batch" in SUBCOMMANDS:
            runs.append(
                _run(
                    case,
                    "batch",
                    [
                        "batch",
                        path,
                        "-o",
                        "{out}/cohort",
                        "--device",
                        "cpu",
                        "--threads",
                        "1",
                        "--json",
                    ],
                )
            )
        if "survey" in SUBCOMMANDS and heavy % 7 == 0:
            runs.append(_run(case, "survey", ["survey", path, "-o", "{out}/survey"]))
    return runs


def _run(case: dict, command: str, argv: list[str]) -> dict:
    return {"case": case, "command": command, "argv": argv}


# ------------------------------------------------------------------ one run
def execute(run: dict) -> dict:
    """Fork a child that runs the CLI in-process; classify its outcome."""
    work = Path(tempfile.mkdtemp(prefix="fuzz-run-"))
    argv = [a.replace("{out}", str(work)) for a in run["argv"]]
    stdout_path, stderr_path = work / "stdout", work / "stderr"
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: the real CLI, in a process of its own
        code = 1
        try:
            out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT, 0o600)
            err = os.open(stderr_path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.setsid()
            os.chdir(work)
            from viewer.cli import main

            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - exactly what Python would print
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
    status, peak_kb, hung = _wait(pid, TIME_LIMIT_S)
    seconds = time.monotonic() - started
    stdout = stdout_path.read_bytes().decode("utf-8", "replace") if stdout_path.exists() else ""
    stderr = stderr_path.read_bytes().decode("utf-8", "replace") if stderr_path.exists() else ""
    outputs = b"".join(
        p.read_bytes()[:4_000_000]
        for p in work.rglob("*")
        if p.is_file() and p.name not in ("stdout", "stderr")
    )
    shutil.rmtree(work, ignore_errors=True)
    outcome = classify(run, status, hung, stdout, stderr, outputs)
    first_line = (stderr.strip().splitlines() or [""])[-1][:300].replace(CANARY, "<canary>")
    return {
        "case": run["case"]["id"],
        "family": run["case"]["family"],
        "mutation": run["case"]["mutation"],
        "command": run["command"],
        "outcome": outcome,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "stderr": first_line,
    }


def _wait(pid: int, limit: float) -> tuple[int, int, bool]:
    deadline = time.monotonic() + limit
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_maxrss, False
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, usage = os.wait4(pid, 0)
            return status, usage.ru_maxrss, True
        select.select([], [], [], 0.02)


def classify(run: dict, status: int, hung: bool, stdout: str, stderr: str, outputs: bytes) -> str:
    if hung:
        return "hang"
    if CANARY in stdout or CANARY in stderr or CANARY.encode() in outputs:
        return "leak"
    if "Traceback (most recent call last)" in stdout + stderr:
        return "traceback"
    if os.WIFSIGNALED(status):
        return "crash"
    code = os.WEXITSTATUS(status)
    lines = [line for line in stderr.splitlines() if line.strip()]
    if (
        code == 1
        and lines
        and ("unexpected internal error" in lines[-1] or "could not be used (" in lines[-1])
    ):
        return "unexpected"
    if code != 0:
        if len(lines) != 1 or not lines[0].startswith("spleenscope: error: "):
            return "multi_line"
        if "baseline" in run["case"].get("tags", []) and run["command"] in ("info", "convert"):
            return "false_refusal"  # an unmodified sample file must open
        return "refused"
    if "--json" in run["argv"] and stdout.strip():
        try:
            document = json.loads(stdout.strip().splitlines()[-1], parse_constant=_reject_constant)
        except ValueError:
            return "bad_json"
        if run["command"] == "info":
            return check_info(run["case"], document)
    return "ok"


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def check_info(case: dict, summary: dict) -> str:
    """A success must report a usable geometry and account for every DICOM file."""
    affine = summary.get("affine")
    if affine is not None:
        values = [v for row in affine for v in row]
        if any(v is None or not math.isfinite(v) for v in values):
            return "bad_geometry"
        import numpy as np

        if abs(np.linalg.det(np.asarray(affine, float)[:3, :3])) < 1e-9:
            return "bad_geometry"
    expected = case.get("dicom_files") or 0
    if expected:
        series = summary.get("series") or []
        loaded = sum(s.get("slices", 0) for s in series) if series else summary.get("slices", 0)
        frames_per_file = (
            max(1, loaded // max(1, expected)) if case["family"] == "multiframe" else 1
        )
        named = sum(1 for w in summary.get("warnings", []) if w.startswith("skipped "))
        if loaded // frames_per_file + named < expected:
            return "silent_drop"
    return "ok"


# ------------------------------------------------------------------ the whole run
def _worker_init() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SPLEENSCOPE_LOG_DIR"] = tempfile.mkdtemp(prefix="fuzz-log-")
    import importlib

    import nibabel  # noqa: F401 - warm imports, shared by every forked child
    import numpy  # noqa: F401
    import pydicom  # noqa: F401

    from viewer.cli import build_parser

    build_parser()  # imports every command module once, not in every child
    for name in (
        "viewer.io.load",
        "viewer.io.dicom",
        "viewer.io.nifti",
        "viewer.io.dicom_seg",
        "viewer.io.itk_formats",
        "viewer.io.nibabel_formats",
        "viewer.io.writers",
        "viewer.overlays",
        "pydicom.pixels",
        "pylibjpeg",
        "openjpeg",
        "libjpeg",
        "rle",
        "SimpleITK",
        "platformdirs",
        "isal.isal_zlib",
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the CLI on a damaged corpus.")
    parser.add_argument("--count", type=int, default=1000, help="mutated inputs to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "spleenscope-fuzz"
    )
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 2))))
    parser.add_argument(
        "--subset-every", type=int, default=8, help="heavier commands on 1 case in N"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse an existing corpus in --work")
    parser.add_argument("--only", default="", help="comma-separated commands to run")
    args = parser.parse_args(argv)
    manifest = args.work / "manifest.json"
    if args.reuse and manifest.exists():
        cases = json.loads(manifest.read_text())
    else:
        cases = [c.__dict__ for c in generate(args.work, args.count, args.seed)]
    runs = plan(cases, args.work, args.subset_every)
    if args.only:
        runs = [r for r in runs if r["command"] in args.only.split(",")]
    started = time.monotonic()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_worker_init) as pool:
        for result in pool.map(execute, runs, chunksize=4):
            results.append(result)
            if result["outcome"] in FAILURES:
                print(json.dumps(result), file=sys.stderr)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    outcomes = Counter(r["outcome"] for r in results)
    by_command = Counter(r["command"] for r in results)
    summary = {
        "inputs": len(cases),
        "mutated_inputs": sum(1 for c in cases if "baseline" not in c.get("tags", [])),
        "runs": len(results),
        "seconds": round(time.monotonic() - started, 1),
        "by_command": dict(by_command),
        "outcomes": dict(outcomes),
        "failures": sum(outcomes[f] for f in FAILURES),
        "max_peak_rss_mb": max((r["peak_rss_mb"] for r in results), default=0),
        "results": str(args.work / "results.json"),
    }
    print(json.dumps(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
