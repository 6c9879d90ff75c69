"""``ddp_spawn``'s workers: each stage's workers meet on a port of their own, and each worker
ends its process group itself before it exits.

Lightning starts ``ddp_spawn``'s workers afresh (multiprocessing, spawn) for each stage, fit and
then test, and each worker exits when its stage is done with its gloo process group still up
(Lightning destroys the group at exit for NCCL only). The group's threads then meet the
interpreter's shutdown, and now and then a worker aborts after its work is done ("terminate
called without an active exception", SIGABRT), which fails the whole run. So each worker, when
its stage ends, waits for the others (a barrier: no rank leaves while another still talks to it)
and destroys the group: the orderly end PyTorch asks for.

Only in a spawned worker: under ``strategy=ddp`` the processes run every stage, and the group
made for the fit serves the test. After a ``ddp_spawn`` fit, this process's module and checkpoint
callbacks take back from the children's ``last.ckpt`` what they saw (``adopt_spawned_fit``).
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
from lightning.fabric.plugins.environments.lightning import LightningEnvironment, find_free_network_port
from lightning.pytorch.callbacks import ModelCheckpoint


def in_spawned_worker() -> bool:
    """Whether this process was started by multiprocessing (a ``ddp_spawn`` worker)."""
    return multiprocessing.parent_process() is not None


class EndSpawnedProcessGroup(L.Callback):
    """At the end of each stage in a ``ddp_spawn`` worker: barrier, then ``destroy_process_group``.
    Lightning calls ``teardown`` only when the stage completed (a failed stage skips it), so no
    rank waits at the barrier for a rank that died."""

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if in_spawned_worker() and dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def fresh_rendezvous(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Before the test stage of a fit that ran in spawned processes (``ddp_spawn``): a new port
    for the processes the test spawns. Lightning would reuse the fit's, where the fit's last
    process may still be closing its store while the new ones connect (a child then aborts)."""
    spawned = getattr(module, "fit_process", None) is None
    if spawned and isinstance(getattr(trainer.strategy, "cluster_environment", None), LightningEnvironment):
        os.environ["MASTER_PORT"] = str(find_free_network_port())
        trainer.strategy.cluster_environment = LightningEnvironment()


def adopt_spawned_fit(trainer: L.Trainer, module: L.LightningModule) -> None:
    """After a ``ddp_spawn`` fit, which ran in child processes: give this process's module its
    epoch history, the fit loop its progress and the checkpoint callbacks their best scores back,
    from the last checkpoint the children wrote (Lightning returns only the weights and the final
    metrics). The fit ran elsewhere when this process's module never saw ``on_train_start``."""
    if getattr(module, "fit_process", None) is not None:
        return
    callbacks = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath]
    last = [Path(c.dirpath) / f"{c.filename}{c.FILE_EXTENSION}" for c in callbacks if c.monitor is None]
    if not last or not last[0].is_file():
        return
    checkpoint = torch.load(last[0], map_location="cpu", weights_only=True)
    module.on_load_checkpoint(checkpoint)
    # the fit's progress too, so the test stage logs at the step the fit ended on, as in one process
    trainer.fit_loop.load_state_dict(checkpoint["loops"]["fit_loop"])
    for callback in callbacks:
        state = checkpoint.get("callbacks", {}).get(callback.state_key)
        if state:
            callback.load_state_dict(state)
