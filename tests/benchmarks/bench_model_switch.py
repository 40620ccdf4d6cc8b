"""What switching models costs: one JSON line.

- ``load_ms``: reading a model file from disk (``load_model``) against getting it from
  the cache (``resolve_model``) while CT and MR studies alternate (medians of
  ``--repeats``); before the cache held several models, every alternation re-read
  the file.
- ``compare_*_s``: :func:`segmentation.model_comparison.compare_with_active` for a new
  CT model (the bundled one with its output bias shifted: a real network, new bytes)
  and for an MR cross-validation fold model, cold (both models segment the validation
  cases) and again (the scores kept by model bytes: nothing is segmented).

Usage: ``python tests/benchmarks/bench_model_switch.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from segmentation import model_comparison  # noqa: E402
from segmentation.inference import resolve_model  # noqa: E402
from segmentation.model_file import load_model, save_model  # noqa: E402
from segmentation.registry import bundled_model_path, repository_models_dir  # noqa: E402


def _ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _seconds(function) -> float:
    started = time.perf_counter()
    function()
    return round(time.perf_counter() - started, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    ct, mr = bundled_model_path("CT"), bundled_model_path("MR")
    resolve_model(ct), resolve_model(mr)
    figures = {
        "benchmark": "model_switch",
        "threads": 2,
        "load_ms": {
            "from_disk_ct": _ms(lambda: load_model(ct), args.repeats),
            "from_disk_mr": _ms(lambda: load_model(mr), args.repeats),
            "cached_alternating_ct_mr": _ms(lambda: (resolve_model(ct), resolve_model(mr)),
                                            args.repeats),
        },
    }
    with tempfile.TemporaryDirectory() as home:
        os.environ["SPLEENSCOPE_HOME"] = home  # the bundled models are the active ones
        bundled = load_model(ct)
        with torch.no_grad():
            bundled.network.head.bias.add_(3.0)
        candidate = save_model(Path(home) / "candidate.pt", bundled.network, bundled.config,
                               dict(bundled.metadata, name="candidate"))
        fold = repository_models_dir() / "mr_cv" / "fold_0.pt"
        for name, path in (("ct", candidate), ("mr", fold)):
            if not path.is_file():
                continue
            figures[f"compare_{name}_cold_s"] = _seconds(
                lambda p=path: model_comparison.compare_with_active(p))
            figures[f"compare_{name}_again_s"] = _seconds(
                lambda p=path: model_comparison.compare_with_active(p))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
