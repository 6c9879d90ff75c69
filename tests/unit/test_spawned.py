"""EndSpawnedProcessGroup: a ddp_spawn worker ends its process group at a stage's end; a process
that runs every stage itself (strategy=ddp, a single process) keeps it for the next stage."""

from __future__ import annotations

import multiprocessing

import pytest
import torch.distributed as dist
from lightning.fabric.plugins.environments.lightning import find_free_network_port

from mlplab.runtime.spawned import EndSpawnedProcessGroup


def join_group(port: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)


def worker(port: int, answers) -> None:
    """A spawned process, as Lightning's ddp_spawn starts one: its group, then the stage's end."""
    join_group(port)
    answers.put(dist.is_initialized())
    EndSpawnedProcessGroup().teardown(None, None, "test")
    answers.put(dist.is_initialized())


@pytest.mark.slow  # the spawned process imports torch
def test_a_spawned_worker_ends_its_process_group_when_the_stage_ends():
    spawn = multiprocessing.get_context("spawn")
    answers = spawn.Queue()
    process = spawn.Process(target=worker, args=(find_free_network_port(), answers))
    process.start()
    try:
        assert [answers.get(timeout=120), answers.get(timeout=120)] == [True, False]
        process.join(timeout=60)
        assert process.exitcode == 0
    finally:
        process.kill()


def test_a_process_that_runs_every_stage_keeps_its_group():
    join_group(find_free_network_port())
    try:
        EndSpawnedProcessGroup().teardown(None, None, "fit")
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
