"""Interrupting a run at a chosen point from inside it: no sleep decides where the signal lands."""

from __future__ import annotations

import os
import signal

import lightning as L
from hydra.experimental.callback import Callback


class SignalAt(L.Callback):
    """Send this process ``name`` (SIGTERM, SIGINT) when epoch ``epoch`` (0-based) ends, before
    mlplab's own handler looks: the run stops after that epoch, as after a user's ``kill``. With
    ``batches``: once after each of those training steps of the epoch instead (a second signal
    mid-epoch). With ``job``: only in that job of a sweep (Hydra's ``job.num``)."""

    def __init__(self, epoch: int, name: str = "SIGTERM", batches: list[int] | None = None,
                 job: int | None = None) -> None:
        self.epoch, self.name, self.batches, self.job = epoch, name, batches, job

    def send(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        if self.job is None or (HydraConfig.initialized() and HydraConfig.get().job.num == self.job):
            os.kill(os.getpid(), getattr(signal, self.name))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.batches is not None and trainer.current_epoch == self.epoch and batch_idx in self.batches:
            self.send()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.batches is None and trainer.current_epoch == self.epoch:
            self.send()


class InterruptAtJobStart(Callback):
    """Hydra callback: a Ctrl-C as a job of a sweep starts (``job``: its number), outside any epoch,
    where Python's own handler raises KeyboardInterrupt."""

    def __init__(self, job: int) -> None:
        self.job = job

    def on_job_start(self, config, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.get().job.num == self.job:
            raise KeyboardInterrupt
