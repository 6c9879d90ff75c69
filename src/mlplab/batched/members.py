"""Each member of a stacked fit seen as the single run it stands for.

A member's run has what a job of the basic launcher has: its ``MLPModule`` (the stacked weights
copied in, ``StackedModule.sync_members``), its callbacks (``ModelCheckpoint``\\ s, the TensorBoard
dashboard) and its loggers, all built from its own config. Lightning drives one trainer, the
stacked fit's; three adapters give each member its share of it, through Lightning's public APIs:

    MemberTrainer   the trainer as member k's callbacks see it: its metrics (``m<k>/…`` without the
                    prefix), its loggers and callbacks, and ``save_checkpoint`` writing member k's
                    checkpoint — a single model's, which ``mlplab-eval`` loads and ``ckpt_path=``
                    resumes
    MemberLoggers   the stacked trainer's one logger: Lightning's calls (hyperparameters, each
                    epoch's metrics at Lightning's own step) handed to each member's loggers
    Members         the callback that calls each member's callbacks at the stacked trainer's hooks
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from omegaconf import DictConfig

from mlplab.batched.module import StackedModule, members_of
from mlplab.records import RunStatus
from mlplab.runtime.checkpoints import AtomicCheckpointIO
from mlplab.training.module import MLPModule

CAPTURE = "<mlplab: the checkpoint in memory>"  # a path no one writes to


@dataclass
class MemberRun:
    """Member k: its job's config, module, callbacks and loggers, and what its run ended as."""

    index: int
    cfg: DictConfig
    module: MLPModule
    callbacks: list[L.Callback]
    loggers: list[Logger]
    status: RunStatus = RunStatus.FINISHED
    error: str | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return Path(self.cfg.paths.output_dir)


class CapturingCheckpointIO(AtomicCheckpointIO):
    """Writes as ``AtomicCheckpointIO``; a checkpoint "saved" to ``CAPTURE`` is kept in memory
    instead (``Trainer.save_checkpoint`` builds it, the member's own is made from it)."""

    captured: dict[str, Any] | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if path == CAPTURE:
            self.captured = checkpoint
            return
        super().save_checkpoint(checkpoint, path, storage_options)


def member_metrics(metrics: dict[str, Any], k: int) -> dict[str, Any]:
    """Member k's entries of ``metrics`` under their own names (``m3/val/acc`` → ``val/acc``)."""
    found = {}
    for key, value in metrics.items():
        parsed = members_of(key)
        if parsed and parsed[0] == k:
            found[parsed[1]] = value
    return found


class MemberTrainer:
    """The stacked trainer as member ``run``'s callbacks see it; anything not member k's own
    (epoch, step, strategy, state, data) is the stacked trainer's, shared by every member."""

    def __init__(self, trainer: L.Trainer, run: MemberRun, io: CapturingCheckpointIO) -> None:
        self._trainer, self._run, self._io = trainer, run, io

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)

    @property
    def callback_metrics(self) -> dict[str, Any]:
        return member_metrics(self._trainer.callback_metrics, self._run.index)

    @property
    def loggers(self) -> list[Logger]:
        return self._run.loggers

    @property
    def logger(self) -> Logger | None:
        return self._run.loggers[0] if self._run.loggers else None

    @property
    def callbacks(self) -> list[L.Callback]:
        return self._run.callbacks

    @property
    def checkpoint_callbacks(self) -> list[Checkpoint]:
        return [c for c in self._run.callbacks if isinstance(c, Checkpoint)]

    @property
    def lightning_module(self) -> MLPModule:
        return self._run.module

    @property
    def default_root_dir(self) -> str:
        """The member's own (a ModelCheckpoint without a dirpath saves under it), not job 0's."""
        return os.path.normpath(str(self._run.cfg.trainer.get("default_root_dir") or self._run.out))

    @property
    def log_dir(self) -> str:
        """As ``Trainer.log_dir``, of the member's own loggers and folder."""
        logger = self.logger
        if logger is None:
            return self.default_root_dir
        return logger.log_dir if isinstance(logger, (TensorBoardLogger, CSVLogger)) else logger.save_dir

    def save_checkpoint(self, filepath: str | Path, weights_only: bool = False,
                        storage_options: Any = None) -> None:
        """Member k's checkpoint: the stacked trainer's (loops, epoch, step, versions), with the
        member's weights, hyperparameters, optimizer state, callbacks' states and history."""
        stacked: StackedModule = self._trainer.lightning_module
        self._trainer.save_checkpoint(CAPTURE, weights_only)
        checkpoint, self._io.captured = self._io.captured, None
        k, member = self._run.index, self._run.module
        stacked.sync_member(k)
        checkpoint["state_dict"] = member.state_dict()
        checkpoint["hyper_parameters"] = dict(member.hparams)
        if not weights_only:
            checkpoint["optimizer_states"] = [stacked.member_optimizer_state(k)]
            checkpoint["callbacks"] = {c.state_key: c.state_dict() for c in self._run.callbacks
                                       if c.state_dict()}
        member.on_save_checkpoint(checkpoint)  # its history, and the random state
        self._io.save_checkpoint(checkpoint, filepath, storage_options)


class MemberLoggers(Logger):
    """The stacked trainer's logger: member k's metrics go to member k's loggers, named as its
    own run names them, at the step Lightning gives; a member that stopped gets nothing more."""

    def __init__(self, runs: list[MemberRun]) -> None:
        super().__init__()
        self.runs = runs

    @property
    def name(self) -> str:
        return "members"

    @property
    def version(self) -> str:
        return ""

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Lightning's row for the stacked module and its data: each member's with its own settings."""
        shared = dict(params) if isinstance(params, dict) else vars(params)
        for run in self.runs:
            for logger in run.loggers:
                logger.log_hyperparams({**shared, **dict(run.module.hparams)})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        shared = {key: v for key, v in metrics.items() if members_of(key) is None}  # e.g. epoch
        own: dict[int, dict[str, float]] = defaultdict(dict)
        for key, value in metrics.items():
            if (parsed := members_of(key)) is not None:
                own[parsed[0]][parsed[1]] = value
        for run in self.runs:
            if run.index in own:
                for logger in run.loggers:
                    logger.log_metrics({**own[run.index], **shared}, step)

    def save(self) -> None:
        for run in self.runs:
            for logger in run.loggers:
                logger.save()

    def finalize(self, status: str) -> None:
        for run in self.runs:
            for logger in run.loggers:
                logger.finalize(status)


class Members(Checkpoint):
    """Calls every living member's callbacks at the stacked trainer's hooks, with the member's
    view of the trainer and its own module (weights synced first where a hook reads them).

    A ``Checkpoint`` to Lightning, which calls checkpoint callbacks' ``on_train_epoch_end`` after
    the module's (whose hook closes the epoch's history row): so does a member's run."""

    def __init__(self, runs: list[MemberRun], io: CapturingCheckpointIO) -> None:
        self.runs, self.io = runs, io

    def _call(self, trainer: L.Trainer, stacked: StackedModule, hook: str, *args: Any,
              sync: bool = False) -> None:
        if sync:
            stacked.sync_members()
        for run in self.runs:
            if run.status is RunStatus.FINISHED and stacked.alive_members[run.index]:
                view = MemberTrainer(trainer, run, self.io)
                for callback in run.callbacks:
                    getattr(callback, hook)(view, run.module, *args)

    def setup(self, trainer: L.Trainer, pl_module: StackedModule, stage: str) -> None:
        self._call(trainer, pl_module, "setup", stage)

    def on_fit_start(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_fit_start")

    def on_train_start(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_train_start")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_train_epoch_end", sync=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        if not trainer.sanity_checking:
            self._call(trainer, pl_module, "on_validation_end", sync=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_train_end", sync=True)

    def on_fit_end(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_fit_end", sync=True)

    def on_test_end(self, trainer: L.Trainer, pl_module: StackedModule) -> None:
        self._call(trainer, pl_module, "on_test_end", sync=True)

    def teardown(self, trainer: L.Trainer, pl_module: StackedModule, stage: str) -> None:
        self._call(trainer, pl_module, "teardown", stage)
