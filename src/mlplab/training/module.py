"""The LightningModule around either MLP: loss, metrics, optimizer, weight decay, logging.

Classification: softmax cross-entropy, ``acc = mean(argmax ŷ = y)``. Regression: d2l's squared
loss ``mean((ŷ − y)²) / 2``. Metrics accumulate over the epoch as running sums (``EpochAverages``) and are
logged once per epoch as ``train/…``, ``val/…``, ``test/…`` (plus ``weights/l2_norm``); logging
per step would cost more than the step itself for a model this small.
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from mlplab.config.schema import ModuleSettings, RunSettings, arguments
from mlplab.config.signature import locate
from mlplab.data.batches import updates_per_epoch
from mlplab.errors import Diverged
from mlplab.nets import build_net
from mlplab.training.loop import grouping_blockers
from mlplab.training.metrics import EpochAverages
from mlplab.training.regularization import l2_penalty, param_groups, weight_l2_norm
from mlplab.training.updates import hooks_are_silent, update

STAGES = ("train", "val", "test")
Batch = tuple[Tensor, Tensor]


def is_group(batch: Any) -> bool:
    """A step's minibatches (``data.batches_per_step`` > 1: a list of ``(x, y)``), not one ``(x, y)``
    (which a DataLoader's default collate also hands over as a list)."""
    return isinstance(batch, list) and bool(batch) and isinstance(batch[0], (tuple, list))


def divergence(loss: float, update: int, epoch: int, lr: float) -> str:
    """Why a run stopped as diverged, and the fix."""
    return (f"the training loss reached {loss:.3g} at update {update} (epoch {epoch}): optimizer.lr={lr} "
            f"is too large for this model; try optimizer.lr={lr / 10:g} or smaller (d2l uses 0.1)")


class MLPModule(L.LightningModule):
    """Either MLP with its loss, metrics and optimizer, built from the groups of settings that
    ``mlplab.config.schema`` declares (``model``, ``activation``, ``regularizer``, ``optimizer``,
    ``scheduler``: settings objects or partial dicts of them, e.g. ``model={"hidden": [64]}``).
    The data decide the shape (``num_inputs``, ``num_outputs``, ``task``). The saved hyperparameters
    are those groups as plain dicts, so a checkpoint rebuilds the module with ``weights_only=True``."""

    def __init__(self, model: Any = None, activation: Any = None, regularizer: Any = None,
                 optimizer: Any = None, scheduler: Any = None, max_loss: float = 1e6,
                 num_inputs: int = 784, num_outputs: int = 10, task: str = "classification") -> None:
        super().__init__()
        if task not in ("classification", "regression"):
            raise ValueError(f"task={task!r}; the data must say classification or regression")
        self.settings = ModuleSettings.parse(model, activation, regularizer, optimizer, scheduler)
        self.max_loss = RunSettings(max_loss=max_loss).max_loss  # checked where it is declared
        self.save_hyperparameters({**self.settings.as_dict(), "max_loss": max_loss,
                                   "num_inputs": num_inputs, "num_outputs": num_outputs, "task": task})
        s = self.settings
        self.net = build_net(s.model.name, num_inputs=num_inputs, hidden=s.model.hidden,
                             num_outputs=num_outputs, activation=s.activation.name,
                             dropout=s.regularizer.probabilities(len(s.model.hidden)),
                             dropout_style=s.regularizer.dropout_style, init_std=s.model.init_std)
        if s.model.compile:  # in place: the state_dict keys stay those of the plain network
            self.net.compile()
        self.decay_mode = s.regularizer.decay_mode(s.model.name)
        self.epoch_metrics = {stage: EpochAverages(with_accuracy=task == "classification")
                              for stage in STAGES}
        self.history: list[dict[str, float]] = []  # one row per epoch, kept in checkpoints
        self._last_val: dict[str, float] = {}
        self._direct_updates = False  # decided in on_train_start (mlplab.training.updates)
        self.loop: dict[str, Any] = {"name": "lightning"}  # decided in setup (mlplab.training.loop)
        self._lr = s.optimizer.lr  # the learning rate of the latest update, logged per epoch
        self._resume_rng: dict[str, Any] | None = None  # set by on_load_checkpoint
        self.fit_process: int | None = None  # the pid that ran on_train_start (ddp_spawn: a child)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def loss(self, output: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
        if self.hparams.task == "classification":
            return F.cross_entropy(output, y, label_smoothing=label_smoothing)
        return F.mse_loss(output, y.reshape(output.shape)) / 2

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Our batches are (x, y) tensors, or a list of them (GroupedBatches): move them directly
        # instead of walking them as a generic collection, which costs more than a step's math.
        if isinstance(batch, list):
            return [self.transfer_batch_to_device(b, device, dataloader_idx) for b in batch]
        if isinstance(batch, tuple) and len(batch) == 2 and all(isinstance(t, Tensor) for t in batch):
            return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _step(self, batch: Batch, stage: str) -> Tensor:
        x, y = batch
        output = self(x)
        # label smoothing shapes the training target only; val/test losses stay plain NLL
        loss = self.loss(output, y, self.settings.regularizer.label_smoothing if stage == "train" else 0.0)
        self.epoch_metrics[stage].update(loss, output, y)
        return loss

    @property
    def takes_groups(self) -> bool:
        """Whether this fit's training loader should hand over several minibatches per step."""
        return self.loop["name"] == "grouped"

    def setup(self, stage: str) -> None:
        """Choose the loop (``mlplab.training.loop``): grouped steps when the data offer several
        minibatches per step and nothing in the fit acts per Lightning step, else Lightning's loop
        with automatic optimization. Runs after Lightning's own checks of the loop's flags."""
        if stage != "fit":
            return
        group = getattr(getattr(self.trainer.datamodule, "settings", None), "batches_per_step", 1)
        scheduler = self.settings.scheduler
        blockers = grouping_blockers(self.trainer, scheduler._target_ if scheduler else None)
        if group > 1 and not blockers:
            self.loop = {"name": "grouped", "minibatches_per_step": group}
        else:
            self.loop = {"name": "lightning", "because": blockers or ["data.batches_per_step=1"]}
        self.automatic_optimization = not self.takes_groups

    def objective(self, batch: Batch) -> Tensor:
        """The training loss of one minibatch: ``loss + λ/2‖w‖²`` (the penalty in penalty mode)."""
        loss = self._step(batch, "train")
        decay = self.settings.regularizer.weight_decay if self.decay_mode == "penalty" else 0.0
        return loss + l2_penalty(self.net, decay) if decay > 0 else loss

    def training_step(self, batch: Batch | list[Batch], batch_idx: int) -> Tensor | None:
        """Lightning's loop: the loss of one minibatch; Lightning makes the update (clipping,
        accumulation, precision, schedulers as it documents). Grouped steps: one update per
        minibatch of the group, ``w ← optimizer(w, ∇loss)``, made here (``mlplab.training.updates``)
        with the schedulers stepped as Lightning would (per update, or after the epoch's last)."""
        optimizer = self.optimizers()
        self._lr = optimizer.param_groups[0]["lr"]
        if self.automatic_optimization:
            loss = self.objective(batch)
            self.check_finite(loss.detach().reshape(1), first_update=self.trainer.global_step + 1)
            return loss
        schedulers = self.schedulers_by_interval()
        losses = []
        for minibatch in batch if is_group(batch) else [batch]:
            self._lr = optimizer.param_groups[0]["lr"]
            loss = self.objective(minibatch)
            update(self, optimizer, loss, direct=self._direct_updates)
            for scheduler in schedulers["step"]:
                scheduler.step()
            losses.append(loss.detach())
        if batch_idx == self.trainer.num_training_batches - 1:  # the epoch's last update
            for scheduler in schedulers["epoch"]:
                scheduler.step()
        self.check_finite(torch.stack(losses), first_update=self.trainer.global_step - len(losses) + 1)
        return None

    def schedulers_by_interval(self) -> dict[str, list[Any]]:
        configs = self.trainer.lr_scheduler_configs
        return {interval: [c.scheduler for c in configs if c.interval == interval]
                for interval in ("step", "epoch")}

    def check_finite(self, losses: Tensor, first_update: int) -> None:
        """Stop at the first of these updates' losses that is NaN, ±inf or above ``max_loss``
        (one host sync per step, not per update), naming the update and the fix."""
        bounded = losses.abs() <= self.max_loss  # False for NaN too
        if bool(bounded.all()):
            return
        first = int((~bounded).nonzero()[0])
        raise Diverged(divergence(float(losses[first]), first_update + first, self.current_epoch,
                                  self.settings.optimizer.lr))

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        """``trainer.predict``: class probabilities (softmax), or the regression output."""
        output = self(batch[0] if isinstance(batch, (tuple, list)) else batch)
        return output.softmax(dim=1) if self.hparams.task == "classification" else output

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_epoch(self, stage: str) -> dict[str, float]:
        metrics = self.epoch_metrics[stage]
        values = {f"{stage}/{k}": v for k, v in metrics.compute().items()}
        metrics.reset()
        # already summed over DDP processes (EpochAverages); sync_dist only averages equal values
        self.log_dict(values, prog_bar=stage == "val", sync_dist=self.trainer.world_size > 1)
        return {k: float(v) for k, v in values.items()}

    def on_validation_epoch_end(self) -> None:
        values = self._log_epoch("val")
        if not self.trainer.sanity_checking:
            self._last_val = values

    def on_train_epoch_end(self) -> None:
        row = {"epoch": self.current_epoch, **self._log_epoch("train")}
        norm = weight_l2_norm(self.net)
        self.log("weights/l2_norm", norm, sync_dist=self.trainer.world_size > 1)  # equal on every rank
        self.log("train/lr", self._lr)
        self.history.append({**row, **self._last_val, "weights/l2_norm": float(norm)})
        self._last_val = {}  # an epoch without validation must not repeat the previous one's

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> Any:
        """The ``optimizer._target_`` class on the net's parameters (weights decayed by λ in
        optimizer mode, biases never), and the ``scheduler._target_`` class on it, stepped by
        Lightning at its ``interval`` (Lightning's configure_optimizers contract)."""
        s = self.settings
        decay = s.regularizer.weight_decay if self.decay_mode == "optimizer" else 0.0
        optimizer = locate(s.optimizer._target_)(param_groups(self.net, decay), **arguments(s.optimizer))
        if s.scheduler is None:
            return optimizer
        kwargs = arguments(s.scheduler)
        if "total_steps" in kwargs and kwargs["total_steps"] is None:
            kwargs["total_steps"] = self.total_updates()
        scheduler = {"scheduler": locate(s.scheduler._target_)(optimizer, **kwargs),
                     "interval": s.scheduler.interval}
        if s.scheduler.monitor:
            scheduler["monitor"] = s.scheduler.monitor
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def total_updates(self) -> int:
        """The updates this fit makes: Lightning's estimate of its optimizer steps (max_steps,
        limits and accumulation included); on grouped steps, minibatches × epochs."""
        steps = self.trainer.estimated_stepping_batches  # also sets up the training loader
        if not self.takes_groups:
            return int(steps)
        return updates_per_epoch(self.trainer.train_dataloader) * self.trainer.max_epochs

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The history for metrics.json, and the random state that draws the next epoch's dropout
        # masks: with it a resumed run continues exactly as an uninterrupted one would.
        checkpoint["mlplab_history"] = self.history
        checkpoint["mlplab_rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["mlplab_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("mlplab_history", []))
        self._resume_rng = checkpoint.get("mlplab_rng")

    def on_train_start(self) -> None:
        self.fit_process = os.getpid()
        self._direct_updates = self.takes_groups and hooks_are_silent(self.trainer, self)
        if self._resume_rng:  # resuming: the next epoch's dropout masks as the checkpoint left them
            torch.set_rng_state(self._resume_rng["cpu"])
            if "cuda" in self._resume_rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._resume_rng["cuda"])
            self._resume_rng = None
