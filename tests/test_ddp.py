"""``spleenscope train --distributed`` under torchrun: two CPU processes (gloo) for a few
steps keep identical weights, train on different cases, and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segmentation.distributed import parameter_checksum
from segmentation.model_file import load_model
from tests.batch_support import write_small_cases
from viewer.cli import main

TORCHRUN = Path(sys.executable).with_name("torchrun")
SPLEENSCOPE = Path(sys.executable).with_name("spleenscope")


@pytest.mark.skipif(
    not (TORCHRUN.is_file() and SPLEENSCOPE.is_file()),
    reason="torchrun or the spleenscope script is not installed beside this Python",
)
def test_two_gloo_ranks_agree_on_weights_and_see_different_cases(tmp_path):
    data = tmp_path / "data"
    write_small_cases(data / "imagesTr", 5, slices=3, size=64, labels=data / "labelsTr")
    model = tmp_path / "out" / "ddp.pt"
    model.parent.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "--no-python", str(SPLEENSCOPE),
         "train", str(data), "-o", str(model), "--epochs", "2", "--steps-per-epoch", "3",
         "--batch-size", "2", "--patch-size", "32", "--base-channels", "4", "--depth", "2",
         "--device", "cpu", "--threads", "1", "--val-fraction", "0.2", "--json",
         "--distributed"],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    # Rank 0 alone reports: one start, one done, one epoch event per epoch.
    assert [e["event"] for e in events].count("start") == 1
    assert [e["event"] for e in events].count("epoch") == 2
    start, finish = events[0], events[-1]
    assert start["event"] == "start" and finish["event"] == "done"

    rank0_cases, rank1_cases = map(set, start["rank_cases"])
    assert rank0_cases and rank1_cases and not rank0_cases & rank1_cases
    assert len(rank0_cases | rank1_cases) == 4  # every training case (5 minus 1 held out)

    checksums = finish["rank_parameter_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    # Rank 0 wrote those final weights (the state file; the model file keeps the best
    # epoch), and nothing else was written beside them.
    assert sorted(p.name for p in model.parent.iterdir()) == ["ddp.pt", "ddp.pt.state.pt"]
    state = torch.load(model.parent / "ddp.pt.state.pt", weights_only=True)
    assert state["epoch"] == 2
    network = load_model(model).network
    network.load_state_dict(state["network"])
    assert parameter_checksum(network) == pytest.approx(checksums[0], rel=1e-12)


def test_distributed_outside_torchrun_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    write_small_cases(data / "imagesTr", 2, slices=2, size=32, labels=data / "labelsTr")
    code = main(["train", str(data), "-o", str(tmp_path / "m.pt"), "--distributed",
                 "--device", "cpu"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torchrun" in err[0]
    assert not (tmp_path / "m.pt").exists()
