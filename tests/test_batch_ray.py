"""The Ray engine on a real local Ray (2 CPUs, loopback, no dashboard, no usage statistics)
gives the same results as the local engine: same rows, same masks, the same error row."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from segmentation.registry import bundled_model_path
from tests.batch_support import write_small_cases
from tests.conftest import sample_path
from viewer.batch.results import read_results_csv
from viewer.batch.runner import run_batch
from viewer.batch.studies import collect_studies
from viewer.batch.study_task import BatchOptions

ray = pytest.importorskip(
    "ray.data", reason="Ray Data is not installed: pip install 'spleenscope[cluster]'"
)
pytestmark = pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _comparable(row: dict) -> dict:
    """What must agree between engines (timings and paths under OUTDIR differ)."""
    return {
        k: v
        for k, v in row.items()
        if k not in ("seconds", "mask", "uncertainty", "thumbnail", "device")
    }


def test_ray_engine_gives_the_local_engines_results(tmp_path, local_ray):
    cases = tmp_path / "cases"
    labels = tmp_path / "labels"
    write_small_cases(cases, 3, slices=3, labels=labels)
    (cases / "broken.nii.gz").write_bytes(sample_path("mr_abdomen.nii.gz").read_bytes()[:5000])
    studies = collect_studies([cases], labels)
    by_engine = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        options = BatchOptions(outdir=str(out), device="cpu", threads=1, modality="ct")
        # two workers each: the local process pool and two Ray actors
        summary = run_batch(studies, options, engine, workers=2, show_progress=False)
        assert summary["engine"] == engine and summary["processed"] == 4
        by_engine[engine] = {row["study"]: row for row in read_results_csv(out / "results.csv")}
    local, remote = by_engine["local"], by_engine["ray"]
    assert sorted(local) == sorted(remote) == sorted(s.study_id for s in studies)
    for study in local:
        assert _comparable(local[study]) == _comparable(remote[study])
        if local[study]["status"] == "ok":
            a, b = nib.load(local[study]["mask"]), nib.load(remote[study]["mask"])
            assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
            assert np.array_equal(a.affine, b.affine)
    assert remote["broken"]["status"] == "error" and "truncated" in remote["broken"]["error"]
    assert all(local[s]["dice"] != "" for s in local if s != "broken")
