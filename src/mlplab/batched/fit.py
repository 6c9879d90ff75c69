"""A batched group: several jobs of a sweep fitted as one stacked model, in one Lightning fit.

    data   loaded once (the members share it: same data settings, same seed)
    fit    ``StackedModule`` over the members' ``MLPModule``\\ s, on the first member's trainer
           settings (equal for all), with the ``Members`` callback and ``MemberLoggers``
    test   each finished member's test checkpoint (``test_ckpt``) loaded into the stack, one pass
    write  each member's ``metrics.json`` and ``curves.png``, as a run's
           (``mlplab.runtime.record.write_outputs``)

Every member's run folder then holds what a job of the basic launcher writes: its checkpoints,
its TensorBoard run with its HParams row, its metrics. ``seconds`` and ``fit_seconds`` of a
member are its share of the group's (the group's own are in ``batched``).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelSummary, ProgressBar
from omegaconf import DictConfig

from mlplab.batched.members import (
    CapturingCheckpointIO,
    MemberLoggers,
    MemberRun,
    Members,
    MemberTrainer,
    member_metrics,
)
from mlplab.batched.module import StackedModule
from mlplab.config.signature import locate
from mlplab.records import RunRecord, RunStatus
from mlplab.reporting.dashboard import TensorBoardDashboard
from mlplab.runtime.folder_lock import hold
from mlplab.runtime.interrupt import (
    GracefulStop,
    Interrupted,
    ctrl_c_as_interrupt,
    reached_the_end,
    stopped_at_epoch_end,
    stopped_mid_epoch,
)
from mlplab.runtime.lightning_trainer import build_trainer
from mlplab.runtime.preflight import CheckedRun, check_accelerator
from mlplab.runtime.record import checkpoint_path, monitor_summary, run_record, trained_on, write_outputs
from mlplab.training.module import MLPModule

log = logging.getLogger(__name__)
ONE_PER_FIT = (ProgressBar, ModelSummary)  # what the stacked fit shows once, not per member


def build_members(cfgs: list[DictConfig], checked: list[CheckedRun],
                  datamodule: L.LightningDataModule) -> list[MemberRun]:
    """Each member's module (seeded as its own run seeds it, so its initial weights are its own
    run's) from its parsed settings, and its callbacks and loggers, from its own config."""
    runs = []
    for k, (cfg, settings) in enumerate(zip(cfgs, checked)):
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        module = MLPModule(settings=settings.module, max_loss=cfg.max_loss, **datamodule.shape)
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
        loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
        own = [c for c in callbacks if not isinstance(c, ONE_PER_FIT)]
        runs.append(MemberRun(k, cfg, module, own, loggers))
    return runs


def fit_group(cfgs: list[DictConfig], checked: list[CheckedRun], other_folders: list[str],
              engine: str = "stacked") -> list[RunRecord]:
    """Fit, test and write every member of the group; their ``metrics.json`` records, in order.
    ``checked``: the members' settings as ``check_run`` parsed them (the data's are equal for all);
    ``other_folders``: the members' run folders this process does not hold yet (locked here);
    ``engine``: how the members' steps run (``mlplab.batched.module.StackedModule``)."""
    start = time.perf_counter()
    first = cfgs[0]
    check_accelerator(first.trainer)  # on the machine that fits the group, before its data
    datamodule = locate(checked[0].data._target_)(settings=checked[0].data)
    runs = build_members(cfgs, checked, datamodule)
    shown = [c for c in (instantiate(c) for c in (first.get("callbacks") or {}).values() if c)
             if isinstance(c, ONE_PER_FIT)]
    io, stopper = CapturingCheckpointIO(), GracefulStop()
    stacked = StackedModule([run.module for run in runs], engine)
    L.seed_everything(first.seed, workers=True, verbose=False)  # the stacked fit's dropout masks
    logger = MemberLoggers(runs) if any(run.loggers for run in runs) else False
    trainer = build_trainer(first.trainer, callbacks=[*shown, Members(runs, io), stopper], logger=logger,
                            enable_checkpointing=True, plugins=[io])  # Members: the Checkpoint
    with ExitStack() as folders:
        for folder in other_folders:
            folders.enter_context(hold(folder))
        interrupted = fit_stack(trainer, stacked, datamodule, stopper)
        fit_seconds = time.perf_counter() - start
        for run in runs:
            run.status, run.error = RunStatus.FINISHED, None
            if interrupted:
                run.status, run.error = RunStatus.INTERRUPTED, interrupted
            if run.index in stacked.divergence:
                run.status, run.error = RunStatus.DIVERGED, stacked.divergence[run.index]
        fit_metrics = {run.index: as_floats(member_metrics(trainer.callback_metrics, run.index))
                       for run in runs}
        histories = {run.index: list(run.module.history) for run in runs}
        tested = test_members(trainer, stacked, datamodule, runs, io)
        seconds = time.perf_counter() - start
        batched = {**stacked.batched, "group_seconds": round(seconds, 2),
                   "group_fit_seconds": round(fit_seconds, 2)}
        results = []
        for run in runs:
            view = MemberTrainer(trainer, run, io)
            if run.status is not RunStatus.FINISHED:  # a run not tested writes its HParams row now
                for callback in run.callbacks:
                    if isinstance(callback, TensorBoardDashboard):
                        callback.write_hparams(view, run.module)
            result = run_record(run.cfg, run.status, run.error, histories[run.index],
                                seconds=seconds / len(runs), fit_seconds=fit_seconds / len(runs),
                                device=trained_on(trainer), batched=batched, resume=None,
                                test_checkpoint=tested.get(run.index),
                                monitor=monitor_summary(view),
                                metrics={**fit_metrics[run.index], **run.test_metrics})
            write_outputs(run.out, result)
            results.append(result)
    return results


def fit_stack(trainer: L.Trainer, stacked: StackedModule, datamodule: L.LightningDataModule,
        stopper: GracefulStop) -> str | None:
    """``trainer.fit``; None when it ran to its end, else why every member was interrupted
    (the words of ``mlplab.runtime.run.fit_run``)."""
    try:
        with ctrl_c_as_interrupt():
            trainer.fit(stacked, datamodule=datamodule)
    except Interrupted as err:
        return stopped_mid_epoch(err, trainer)
    if stopper.requested and not reached_the_end(trainer):
        return stopped_at_epoch_end(stopper, trainer)
    return None


def as_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def test_members(trainer: L.Trainer, stacked: StackedModule, datamodule: L.LightningDataModule,
                 runs: list[MemberRun], io: CapturingCheckpointIO) -> dict[int, str | None]:
    """Score the test set once for every finished member, with the weights its ``test_ckpt``
    names (``mlplab.runtime.record.checkpoint_path``); the checkpoint each was scored with."""
    finished = [run for run in runs if run.status is RunStatus.FINISHED]
    if not finished:
        return {}
    paths = {}
    for run in finished:
        path = checkpoint_path(MemberTrainer(trainer, run, io), run.cfg.test_ckpt)
        paths[run.index] = path
        if path:
            state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
            run.module.load_state_dict(state)
            stacked.load_members({run.index: run.module.net})
    with ctrl_c_as_interrupt():
        trainer.test(stacked, datamodule=datamodule, verbose=False, weights_only=True)
    for run in finished:
        found = as_floats(member_metrics(trainer.callback_metrics, run.index))
        run.test_metrics = {k: v for k, v in found.items() if k.startswith("test/")}
    return paths
