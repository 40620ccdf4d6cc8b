"""The Ray engine: Ray Data feeds studies to a pool of model actors (one per GPU or per
CPU worker), on this machine or on an existing cluster (``--address`` / ``RAY_ADDRESS``).

Each actor builds one :class:`~viewer.batch.study_task.StudyTask` (the model is loaded
once per actor) and segments one study per call, writing the study's folder itself:
inputs and OUTDIR must be at the same path on every node (a shared file system).
A study that fails in our code becomes an error row; an actor or node that dies is
restarted and its study sent again by Ray Data (its actor pools restart actors and
retry their tasks by default).
Needs the optional extra: ``pip install 'spleenscope[cluster]'``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, replace

from viewer.batch.studies import Study
from viewer.batch.study_task import BatchOptions, StudyTask
from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)


class StudyActor:
    """A Ray Data callable class: the model is loaded in ``__init__``, once per actor."""

    def __init__(self, options: dict, device: str) -> None:
        self.task = StudyTask(BatchOptions(**options), device=device)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        summaries = [
            json.dumps(self.task(Study.from_dict(json.loads(text)))) for text in batch["study"]
        ]
        return {"summary": np.array(summaries, dtype=object)}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 (the Data library is a separate extra of ray)
    except ImportError:
        raise SpleenScopeError(
            "the ray engine needs Ray Data: pip install 'spleenscope[cluster]' "
            "(or use --engine local)"
        ) from None
    return ray


def connect(address: str | None) -> bool:
    """Join ``address`` (or RAY_ADDRESS), else start Ray on this machine.

    Returns True when this call started Ray (the caller shuts it down again); a Ray
    already running in this process (a test, a notebook) is used as it is.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        from viewer.batch.local_engine import available_cores

        # A Ray started here serves this machine only: keep it on loopback.
        ray.init(
            num_cpus=available_cores(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    return True


def plan_actors(options: BatchOptions, workers: int | None) -> tuple[int, float, int]:
    """``(actors, gpus_per_actor, cpus_per_actor)`` from what the cluster offers."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if options.device in ("auto", "cuda") else 0
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus:
        return workers or gpus, 1.0, max(1, min(options.threads or 4, cpus // gpus))
    actors = workers or max(1, cpus // max(1, options.threads or 2))
    return actors, 0.0, max(1, options.threads or cpus // actors)


def run_ray(
    studies: list[Study],
    options: BatchOptions,
    workers: int | None,
    address: str | None,
    on_result: Callable[[dict], None],
) -> None:
    """Segment ``studies`` on Ray; ``on_result(summary)`` is called here as each ends."""
    started_here = connect(address)
    ray = _import_ray()
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the batch has its own bar with an ETA
        actors, gpus, cpus = plan_actors(options, workers)
        actors = min(actors, len(studies))
        log.info("ray engine: %d actors, %s GPU and %d CPU each", actors, gpus, cpus)
        worker_options = asdict(replace(options, threads=cpus))
        device = "cuda" if gpus else ("cpu" if options.device == "auto" else options.device)
        dataset = ray.data.from_items(
            [{"study": json.dumps(study.as_dict())} for study in studies],
            override_num_blocks=len(studies),
        )
        segmented = dataset.map_batches(
            StudyActor,
            fn_constructor_args=(worker_options, device),
            batch_size=1,
            # One study in flight per actor: a slow study does not hold others in its queue.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_gpus=gpus,
            num_cpus=cpus,
        )
        for row in segmented.iter_rows():
            on_result(json.loads(row["summary"]))
    finally:
        if started_here:
            ray.shutdown()
