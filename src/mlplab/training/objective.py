"""The training objective, one function for a single model and for every member of a stack.

    classification   L = CE(softmax(ŷ), y_ε)          y_ε = (1 − ε)·onehot(y) + ε/K   (ε: label smoothing)
    regression       L = mean((ŷ − y)²) / 2           (model.regression_loss=squared: d2l's squared_loss)
                     L = mean((ŷ − y)²)               (mse: nn.MSELoss, as the book's 4.4)
    objective        L + λ/2 · Σ_W ‖W‖²               (λ in penalty mode; in optimizer mode SGD adds λw,
                                                        AdamW decays w apart: ``optimizer_decay``, which
                                                        configure_optimizers reads)

Label smoothing shapes the training target only: validation and test losses are plain NLL.
``MLPModule`` and ``StackedModule`` both call ``Objective`` (the stack's members, which share their
data loss, mostly in one ``member_losses`` call over their outputs), so a setting that enters the
loss is written here once and every path trains with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlplab.config.module_settings import ModuleSettings
from mlplab.config.monitor import FIT_METRICS
from mlplab.config.network import ModelSettings
from mlplab.config.settings import info
from mlplab.config.signature import locate
from mlplab.errors import ConfigError
from mlplab.training.regularization import l2_penalty

TASKS = tuple(FIT_METRICS)  # what a data set's ``task`` may be


def decouples_weight_decay(optimizer: Any) -> bool:
    """Whether the optimizer decays the weights apart from the gradient's adaptive scaling:
    ``w ← w − η·λ·w`` beside the update (AdamW; Adam with ``decoupled_weight_decay=True``)."""
    return (issubclass(locate(optimizer._target_), torch.optim.AdamW)
            or bool(getattr(optimizer, "decoupled_weight_decay", False)))


@dataclass(frozen=True)
class Objective:
    """What the loss of one run is made of, read once from its settings."""

    task: str
    label_smoothing: float = 0.0
    penalty: float = 0.0  # λ when weight decay is a penalty term of the loss, else 0
    optimizer_decay: float = 0.0  # λ when the optimizer decays the weights instead, else 0
    regression_loss: str = "squared"  # a regression's: ½(ŷ − y)² (squared) or (ŷ − y)² (mse)

    @classmethod
    def of(cls, settings: ModuleSettings, task: str, net_class: type) -> Objective:
        if task not in TASKS:
            raise ValueError(f"task={task!r}; the data must say classification or regression")
        r = settings.regularizer
        if r.label_smoothing and task != "classification":
            raise ConfigError(f"regularizer.label_smoothing={r.label_smoothing} smooths class labels, but "
                              f"this data set is a regression (a squared loss); set "
                              f"regularizer.label_smoothing=0")
        loss = settings.model.regression_loss
        if loss != info(ModelSettings, "regression_loss").default and task != "regression":
            raise ConfigError(f"model.regression_loss={loss} is a regression's loss, but this data set is a "
                              f"{task} (cross-entropy); leave model.regression_loss at its default")
        decoupled = decouples_weight_decay(settings.optimizer)
        in_loss = r.decay_mode(net_class, decoupled, settings.optimizer_decays) == "penalty"  # read here only
        return cls(task, r.label_smoothing, penalty=r.weight_decay if in_loss else 0.0,
                   optimizer_decay=0.0 if in_loss else r.weight_decay, regression_loss=loss)

    def loss(self, output: Tensor, y: Tensor, training: bool = False) -> Tensor:
        """The data loss of one minibatch: ``output`` [B, q] against ``y`` (labels [B], or [B, q])."""
        return self._data_loss(output, y, training, reduction="mean")

    def member_losses(self, outputs: Tensor, y: Tensor, training: bool = False) -> Tensor:
        """``loss`` of K models at once, for a stack whose members share this data loss:
        ``outputs`` [K, B, q] → [K], member k's the mean of its B examples' losses, which is what
        ``loss``'s mean reduction gives (no class weights or ignored labels here to weigh it
        otherwise). One call for the K: on a GPU, K calls of ``loss`` cost K times its kernel
        launches."""
        members = outputs.shape[0]
        flat = outputs.reshape(-1, *outputs.shape[2:])  # member-major: rows k·B … (k+1)·B − 1
        targets = y.repeat(members, *[1] * (y.dim() - 1))
        per_example = self._data_loss(flat, targets, training, reduction="none")
        return per_example.reshape(members, -1).mean(dim=1)

    def same_data_loss(self) -> Objective:
        """This objective without its λ: two runs whose ``same_data_loss`` are equal have the same
        ``loss``, so ``member_losses`` can take them at once."""
        return replace(self, penalty=0.0, optimizer_decay=0.0)

    def _data_loss(self, output: Tensor, y: Tensor, training: bool, reduction: str) -> Tensor:
        if self.task == "classification":
            return F.cross_entropy(output, y, label_smoothing=self.label_smoothing if training else 0.0,
                                   reduction=reduction)
        squared = F.mse_loss(output, y.reshape(output.shape), reduction=reduction)
        return squared / 2 if self.regression_loss == "squared" else squared

    def __call__(self, output: Tensor, y: Tensor, net: nn.Module | None) -> tuple[Tensor, Tensor]:
        """(the training loss, the objective) of one minibatch: the loss is what ``train/loss``
        averages, the objective what the update follows. ``net=None``: its λ is applied elsewhere
        (the stack's ``MemberSGD``), so no penalty is added."""
        loss = self.loss(output, y, training=True)
        return loss, (loss + l2_penalty(net, self.penalty) if self.penalty > 0 and net is not None else loss)
