"""Inference speed per 512 x 512 slice: prints one JSON line.

CPU figures use 2 threads (the target machine: at most 100 ms per slice including
preprocessing, the inverse resampling and post-processing). The baseline, measured
in the same run, is the network forward pass alone on already-preprocessed batches,
so the overhead of the pipeline around it is visible. A third figure, interleaved with
the other two, is the whole study as ``segment`` runs it (:func:`segmentation.study.segment_study`:
modality detection, volume range, uncertain slices, verdict); ``verdict_ratio`` is its
median over the plain pipeline's (target: at most 1.5). With CUDA present the same is
measured on the GPU with a larger synthetic volume (slices per second).

Usage: ``python tests/benchmarks/bench_infer.py [--repeats N] [--model M]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from segmentation.inference import default_batch_size, resolve_model, segment_volume  # noqa: E402
from segmentation.preprocessing import prepare_batch, slice_geometry  # noqa: E402
from segmentation.study import segment_study  # noqa: E402
from viewer.volume import Volume  # noqa: E402


def sample_volume(slices: int) -> tuple[Volume, str]:
    data = Path(os.environ.get("SPLEENSCOPE_SAMPLE_DATA", REPO.parent / "shared" / "data"))
    series = data / "ct_spleen_dicom"
    if series.is_dir() and slices <= 20:
        from viewer.io import load_volume

        return load_volume(series), "sample CT 512x512x20"
    # Synthetic 512 x 512 abdomen-like noise volume at the sample's spacing.
    rng = np.random.default_rng(0)
    array = rng.normal(40.0, 30.0, (512, 512, slices)).astype(np.float32)
    affine = np.diag([0.977, 0.977, 2.0, 1.0])
    return Volume(array=array, affine=affine, modality="CT"), f"synthetic 512x512x{slices}"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _timed(function, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def measure(volume: Volume, model, device: str, repeats: int) -> dict:
    """Full pipeline and forward-only baseline, interleaved repeat by repeat.

    Interleaving matters on a shared machine: a burst of load from another process
    then slows both figures of that repeat instead of only one of them.
    """
    loaded = resolve_model(model)
    torch_device = torch.device(device)
    slices = volume.shape[2]
    config = loaded.config
    geometry = slice_geometry(
        volume.shape, volume.spacing, config.axis, config.target_spacing_mm, config.pad_multiple
    )
    batch_size = default_batch_size(torch_device)
    batches = [
        prepare_batch(volume.array, np.arange(s, min(s + batch_size, slices)), config, geometry).to(
            torch_device
        )
        for s in range(0, slices, batch_size)
    ]
    network = loaded.network.to(torch_device).eval()

    def pipeline() -> None:
        segment_volume(volume, model=loaded, device=device)

    def with_verdict() -> None:
        segment_study(volume, model=loaded, device=device)

    def forward_only() -> None:
        amp = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if torch_device.type == "cuda"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), amp:
            for batch in batches:
                network(batch)

    pipeline()  # warm-up (allocations, cuDNN autotuning)
    forward_only()
    with_verdict()
    full, forward, study = [], [], []
    for _ in range(repeats):
        full.append(_timed(pipeline, torch_device) * 1000.0 / slices)
        forward.append(_timed(forward_only, torch_device) * 1000.0 / slices)
        study.append(_timed(with_verdict, torch_device) * 1000.0 / slices)
    median = statistics.median(full)
    return {
        "ms_per_slice_median": round(median, 2),
        "ms_per_slice_p95": round(percentile(full, 95), 2),
        "slices_per_second": round(1000.0 / median, 1),
        "baseline_forward_only_ms_per_slice_median": round(statistics.median(forward), 2),
        "overhead_ms_per_slice": round(median - statistics.median(forward), 2),
        "with_verdict_ms_per_slice_median": round(statistics.median(study), 2),
        "verdict_ratio": round(statistics.median(study) / median, 3),
        "model_grid": list(geometry.padded_shape),
        "batch_size": batch_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--model", default=None)
    parser.add_argument("--gpu-slices", type=int, default=200)
    args = parser.parse_args()

    torch.set_num_threads(2)
    volume, description = sample_volume(20)
    result = {
        "benchmark": "inference per 512x512 slice incl. pre/post-processing",
        "input": description,
        "model": resolve_model(args.model).name,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "cpu": measure(volume, args.model, "cpu", args.repeats),
        "target_cpu_ms_per_slice": 100,
    }
    if torch.cuda.is_available():
        big, big_description = sample_volume(args.gpu_slices)
        result["gpu"] = {
            "device": torch.cuda.get_device_name(0),
            "input": big_description,
            **measure(big, args.model, "cuda", args.repeats),
        }
    else:
        result["gpu"] = None
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
