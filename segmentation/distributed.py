"""Data-parallel training over several processes (DDP), started by ``torchrun``.

``spleenscope train ... --distributed`` run as ::

    torchrun --nproc-per-node 4 --no-python spleenscope train DATA -o MODEL.pt --distributed

starts one process per GPU (or several CPU processes). torchrun sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous address; :func:`start_distributed` joins the process
group (nccl on CUDA GPUs, gloo on CPU). Each rank trains on its own shard of the
training data, chosen by torch's DistributedSampler: whole cases when there are at
least as many training cases as ranks, else slices. DistributedDataParallel averages
the gradients, so every rank holds the same weights after every step; rank 0 alone
writes the model file, its state and the progress events. Validation runs on every
rank (it is identical) so all ranks take the same keep-the-best decision.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistributedRun:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, pairs: np.ndarray, foreground: np.ndarray, seed: int):
        """This rank's part of the training (case, slice) pairs, and which cases it holds."""
        from torch.utils.data import DistributedSampler

        cases = np.unique(pairs[:, 0])
        by_case = len(cases) >= self.world_size
        items = cases if by_case else np.arange(len(pairs))
        # DistributedSampler pads the last round by repeating items; an item belongs to
        # the first rank that drew it, so the shards are disjoint and cover everything.
        owner: dict[int, int] = {}
        for rank in range(self.world_size):
            sampler = DistributedSampler(
                range(len(items)), self.world_size, rank, shuffle=True, seed=seed
            )
            for index in sampler:
                owner.setdefault(int(index), rank)
        mine = items[[index for index, rank in sorted(owner.items()) if rank == self.rank]]
        keep = np.isin(pairs[:, 0], mine) if by_case else np.isin(np.arange(len(pairs)), mine)
        return pairs[keep], foreground[keep]

    def wrap(self, network: torch.nn.Module) -> torch.nn.Module:
        """The network as DDP (gradients averaged over ranks on every backward)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(network, device_ids=ids)

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a stop must be taken together, or the
        others would wait for the stopped rank's gradients forever)."""
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0], device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def gather(self, value) -> list:
        """``value`` from every rank, in rank order (any picklable object)."""
        import torch.distributed as dist

        gathered: list = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def _collective_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")


def parameter_checksum(network: torch.nn.Module) -> float:
    """A float that changes with any weight: equal on all ranks when they are in sync."""
    with torch.no_grad():
        return float(sum(p.double().sum() * (i + 1) for i, p in enumerate(network.parameters())))


def start_distributed(device_name: str = "auto") -> DistributedRun:
    """Join the process group torchrun prepared; raises a one-line error outside torchrun."""
    import torch.distributed as dist

    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise SpleenScopeError(
            "--distributed runs under torchrun, e.g. torchrun --nproc-per-node 2 "
            "--no-python spleenscope train DATA -o MODEL.pt --distributed "
            f"({', '.join(missing)} not set)"
        )
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if device_name == "cuda" and not use_cuda:
        raise SpleenScopeError("--device cuda requested but no CUDA GPU is available")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise SpleenScopeError(
                f"{torch.cuda.device_count()} GPUs on this node but torchrun started more "
                "processes; use --nproc-per-node at most the GPU count"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    log.info("rank %d of %d on %s (%s)", rank, world, device, backend)
    return DistributedRun(rank, world, local_rank, backend, device)
