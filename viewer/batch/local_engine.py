"""The local engine: a pool of worker processes on this machine, each loading the model once.

GPU-aware: with CUDA GPUs (and ``--device auto`` or ``cuda``) there is one worker per GPU
by default, each pinned to its own GPU; on CPU the cores are shared out between the
workers (torch threads per worker = cores // workers) so they do not oversubscribe the
machine. One worker runs in this process (no start-up of a second interpreter).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from viewer.batch.studies import Study
from viewer.batch.study_task import BatchOptions, StudyTask

log = logging.getLogger(__name__)

_WORKER_TASK: StudyTask | None = None


@dataclass(frozen=True)
class WorkerPlan:
    devices: tuple[str, ...]  # one per worker
    threads: int  # torch CPU threads per worker


def available_cores() -> int:
    from segmentation.devices import usable_cores

    return usable_cores()


def plan_workers(options: BatchOptions, workers: int | None) -> WorkerPlan:
    """How many workers, on which devices, with how many CPU threads each."""
    import torch

    cores = available_cores()
    gpus = torch.cuda.device_count() if options.device in ("auto", "cuda") else 0
    if gpus:
        count = workers or gpus
        devices = tuple(f"cuda:{index % gpus}" for index in range(count))
    else:
        count = workers or max(1, min(8, cores // 2))
        devices = (options.device,) * count
    threads = options.threads or max(1, cores // count)
    return WorkerPlan(devices, threads)


def _start_worker(options: BatchOptions, devices, threads: int) -> None:
    global _WORKER_TASK
    import signal

    # Ctrl-C is the main process's to handle: it stops handing out studies, and a
    # worker finishes (and commits) the study it is on instead of dying half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_TASK = StudyTask(replace(options, threads=threads), device=devices.get())


def _run_in_worker(study: dict) -> dict:
    assert _WORKER_TASK is not None, "worker initializer did not run"
    return _WORKER_TASK(Study.from_dict(study))


def run_local(
    studies: list[Study],
    options: BatchOptions,
    workers: int | None,
    on_result: Callable[[dict], None],
) -> None:
    """Segment ``studies``; ``on_result(summary)`` is called in this process as each ends."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    plan = plan_workers(options, workers)
    count = min(len(plan.devices), len(studies))
    log.info("local engine: %d workers on %s, %d threads each", count, plan.devices, plan.threads)
    if count <= 1:
        task = StudyTask(replace(options, threads=plan.threads), device=plan.devices[0])
        for study in studies:
            on_result(task(study))
        return
    context = multiprocessing.get_context("spawn")  # CUDA and torch threads need a fresh process
    devices = context.Queue()
    for device in plan.devices[:count]:
        devices.put(device)
    queue = iter(studies)
    in_flight: dict = {}
    with ProcessPoolExecutor(
        max_workers=count,
        mp_context=context,
        initializer=_start_worker,
        initargs=(options, devices, plan.threads),
    ) as pool:

        def hand_out() -> None:
            study = next(queue, None)
            if study is not None:
                in_flight[pool.submit(_run_in_worker, study.as_dict())] = study

        # A few studies ahead of the workers, not the whole cohort: an interrupt then
        # stops after the studies in hand, and 10,000 studies are not 10,000 futures.
        for _ in range(2 * count):
            hand_out()
        try:
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    study = in_flight.pop(future)
                    on_result(_summary_of(future, study))
                    hand_out()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _summary_of(future, study: Study) -> dict:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        return {
            "status": "error",
            "error": "the worker process stopped (out of memory?); rerun the batch to retry",
            "study": study.study_id,
            "input": study.source,
            "reference": study.reference,
        }
