"""The LightningModule around any network: loss, metrics, optimizer, weight decay, logging.

The loop is Lightning's own, as its docs show it: ``training_step`` returns the objective of one
minibatch (``mlplab.training.objective``) and automatic optimization makes the update, so every
Trainer flag and callback acts as Lightning documents it. Metrics accumulate over the epoch as
running sums on the device (``EpochAverages``) and are logged once per epoch as ``train/…``,
``val/…``, ``test/…`` (plus ``weights/l2_norm``, ``train/lr``); logging per step would cost more
than the step itself for a model this small.
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch
from torch import Tensor

from mlplab.config.module_settings import ModuleSettings
from mlplab.config.network import NET_PRESETS
from mlplab.config.optimization import arguments
from mlplab.config.schema import RunSettings
from mlplab.config.signature import locate
from mlplab.data.batches import Minibatch
from mlplab.errors import ConfigError, Diverged
from mlplab.training.metrics import EpochAverages
from mlplab.training.objective import Objective
from mlplab.training.regularization import param_groups, weight_l2_norm

STAGES = ("train", "val", "test")


def divergence(loss: float, update: int, epoch: int, lr: float) -> str:
    """Why a run stopped as diverged, and the fix."""
    return (f"the training loss reached {loss:.3g} at update {update} (epoch {epoch}): optimizer.lr={lr} "
            f"is too large for this model; try optimizer.lr={lr / 10:g} or smaller (d2l uses 0.1)")


class MLPModule(L.LightningModule):
    """A network with its loss, metrics and optimizer, built from the groups of settings that
    ``mlplab.config`` declares (``model``, ``activation``, ``regularizer``, ``optimizer``,
    ``scheduler``: settings objects or partial dicts of them, e.g.
    ``model={"net": {"_target_": "mlplab.nets.ConciseMLP", "hidden": [64]}}``). The data decide the
    shape (``num_inputs``, ``num_outputs``, ``task``). The saved hyperparameters are those groups as
    plain dicts, so a checkpoint rebuilds the module with ``weights_only=True``."""

    def __init__(self, model: Any = None, activation: Any = None, regularizer: Any = None,
                 optimizer: Any = None, scheduler: Any = None, max_loss: float = 1e6,
                 num_inputs: int = 784, num_outputs: int = 10, task: str = "classification",
                 settings: ModuleSettings | None = None) -> None:
        """``settings``: the groups already parsed (``mlplab.runtime.preflight.check_run``), instead
        of the five group arguments."""
        super().__init__()
        self.settings = settings or ModuleSettings.parse(model, activation, regularizer, optimizer, scheduler)
        self.max_loss = RunSettings(max_loss=max_loss).max_loss  # checked where it is declared
        self.objective = Objective.of(self.settings, task, self.settings.model.net_class)
        self.save_hyperparameters({**self.settings.as_dict(), "max_loss": max_loss,
                                   "num_inputs": num_inputs, "num_outputs": num_outputs, "task": task})
        self.net = self.settings.build_net(num_inputs=num_inputs, num_outputs=num_outputs)
        if self.settings.model.compile:  # in place: the state_dict keys stay those of the plain network
            self.net.compile()
        self.epoch_metrics = {stage: EpochAverages(with_accuracy=task == "classification")
                              for stage in STAGES}
        self.history: list[dict[str, float]] = []  # one row per epoch, kept in checkpoints
        self._last_val: dict[str, float] = {}
        self._last_lr: float | None = None  # the step size of the latest update (train/lr)
        self._resume_rng: dict[str, Any] | None = None  # set by on_load_checkpoint
        self.fit_process: int | None = None  # the pid that ran on_train_start (ddp_spawn: a child)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @property
    def example_input_array(self) -> Tensor | None:
        """One blank image, in the dtype of the weights (``precision=64-true``, ``bf16-true``: Lightning
        converts the batches it feeds, not this). Lightning's model summary runs it (eval mode, no
        gradients) for each layer's in and out sizes and the FLOPs; TensorBoardLogger(log_graph=True)
        traces it into the graph tab. None for a compiled network (it would compile for this one-image
        batch too, and its training graph would then be compiled for any batch size), and for a
        network of one's own, which may want its images in another shape (a Conv2d: 1×28×28)."""
        if self.settings.model.compile or self.settings.model.network._target_ not in NET_PRESETS.values():
            return None
        weight = next(self.net.parameters(), None)
        floating = weight is not None and weight.is_floating_point()
        dtype = weight.dtype if floating else torch.get_default_dtype()
        return torch.zeros(1, self.hparams.num_inputs, dtype=dtype, device=self.device)

    def training_step(self, batch: Minibatch, batch_idx: int) -> Tensor:
        """The objective of one minibatch, ``loss + λ/2‖w‖²`` (λ in penalty mode); Lightning makes
        the update (clipping, accumulation, precision, schedulers as it documents)."""
        x, y = batch
        output = self(x)
        loss, objective = self.objective(output, y, self.net)
        self.epoch_metrics["train"].update(loss, output, y)
        self.check_finite(objective)
        return objective

    def check_finite(self, objective: Tensor) -> None:
        """Stop at an update whose objective is NaN, ±inf or above ``max_loss``, naming the update
        and the fix (one host sync per step: a diverged run stops at once, not at its epoch's end)."""
        value = float(objective.detach())
        if not abs(value) <= self.max_loss:  # False for NaN too
            raise Diverged(divergence(value, self.trainer.global_step + 1, self.current_epoch,
                                      self.settings.optimizer.lr))

    def _evaluate(self, batch: Minibatch, stage: str) -> None:
        x, y = batch
        output = self(x)
        self.epoch_metrics[stage].update(self.objective.loss(output, y), output, y)

    def validation_step(self, batch: Minibatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Minibatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: Minibatch | Tensor, batch_idx: int) -> Tensor:
        """``trainer.predict``: class probabilities (softmax), or the regression output."""
        output = self(batch[0] if isinstance(batch, (tuple, list)) else batch)
        return output.softmax(dim=1) if self.hparams.task == "classification" else output

    def _log_epoch(self, stage: str) -> dict[str, float]:
        metrics = self.epoch_metrics[stage]
        if metrics.count == 0:  # an epoch resumed after its last batch (from a mid-epoch checkpoint)
            return {}
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
        if self._last_lr is not None:
            self.log("train/lr", self._last_lr, sync_dist=self.trainer.world_size > 1)  # equal on every rank
        row = {**row, **self._last_val, "weights/l2_norm": float(norm)}
        if self.history and self.history[-1]["epoch"] == row["epoch"]:  # resumed inside this epoch:
            self.history[-1] = {**self.history[-1], **row}  # its end replaces what the stop recorded
        else:
            self.history.append(row)
        self._last_val = {}  # an epoch without validation must not repeat the previous one's

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # train/lr is the step size of the epoch's last update: by on_train_epoch_end Lightning has
        # already stepped the schedule past it (step- and epoch-interval schedulers alike)
        self._last_lr = optimizer.param_groups[0]["lr"]

    def configure_optimizers(self) -> Any:
        """The ``optimizer._target_`` class on the net's parameters (weights decayed by λ in
        optimizer mode, biases never), and the ``scheduler._target_`` class on it, stepped by
        Lightning at its ``interval`` (Lightning's configure_optimizers contract)."""
        s = self.settings
        decay = self.objective.optimizer_decay  # 0 where the objective adds λ/2‖w‖² itself
        # an optimizer without weight_decay (Rprop, LBFGS: which takes no parameter groups at all) gets
        # the parameters alone; λ, if any, is then the objective's penalty
        parameters = param_groups(self.net, decay) if s.optimizer_decays else self.net.parameters()
        optimizer = locate(s.optimizer._target_)(parameters, **arguments(s.optimizer))
        if s.scheduler is None:
            return optimizer
        kwargs = arguments(s.scheduler)
        if "total_steps" in kwargs and kwargs["total_steps"] is None:
            kwargs["total_steps"] = self.schedule_length(s.scheduler.interval)
            self.check_resumed_schedule(kwargs["total_steps"])
        scheduler = {"scheduler": locate(s.scheduler._target_)(optimizer, **kwargs),
                     "interval": s.scheduler.interval}
        if s.scheduler.monitor:
            scheduler["monitor"] = s.scheduler.monitor
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def schedule_length(self, interval: str) -> int:
        """How many times Lightning will step the schedule: every update (``interval=step``), or
        every epoch (``interval=epoch``): ``total_steps`` where the settings leave it to mlplab."""
        if interval == "step":
            return int(self.trainer.estimated_stepping_batches)
        if self.trainer.max_epochs is None or self.trainer.max_epochs < 1:
            raise ConfigError(f"scheduler.interval=epoch with trainer.max_epochs={self.trainer.max_epochs}: "
                              f"the schedule's length is unknown; give it, e.g. scheduler.total_steps=10, "
                              f"or step it every update, scheduler.interval=step")
        return int(self.trainer.max_epochs)

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

    def check_resumed_schedule(self, length: int) -> None:
        """A resumed schedule keeps the length its checkpoint was made with (Lightning restores the
        scheduler's state, ``total_steps`` included): a run resumed with more epochs than it began
        with would spend them past the schedule's end (cosine: at lr 0), so it is refused, here in
        configure_optimizers, where the length is first known: before any epoch, any checkpoint and
        the fit's hooks (Lightning has only opened its loggers)."""
        if not self.trainer.ckpt_path:
            return
        saved = torch.load(self.trainer.ckpt_path, map_location="cpu", weights_only=True).get("lr_schedulers")
        spans = (saved or [{}])[0].get("total_steps")
        if spans is None or spans == length:
            return
        schedule = self.settings.scheduler
        raise ConfigError(f"ckpt_path={self.trainer.ckpt_path}: its schedule ({schedule._target_}) spans "
                          f"{spans} {schedule.interval}s, this run's would span {length} "
                          f"(trainer.max_epochs={self.trainer.max_epochs}): the added ones would run past "
                          f"its end; resume with the length it began with (its trainer.max_epochs, "
                          f"max_steps and batch size), or start a new run")

    def on_train_start(self) -> None:
        self.fit_process = os.getpid()
        if self._resume_rng:  # resuming: the next epoch's dropout masks as the checkpoint left them
            torch.set_rng_state(self._resume_rng["cpu"])
            if "cuda" in self._resume_rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._resume_rng["cuda"])
            self._resume_rng = None
