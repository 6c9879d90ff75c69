"""The training objective, one function for a single model and for every member of a stack.

    classification   L = CE(softmax(ŷ), y_ε)          y_ε = (1 − ε)·onehot(y) + ε/K   (ε: label smoothing)
    regression       L = mean((ŷ − y)²) / 2           (d2l's squared loss)
    objective        L + λ/2 · Σ_W ‖W‖²               (λ in penalty mode; in optimizer mode SGD adds λw,
                                                        AdamW decays w apart: ``optimizer_decay``, which
                                                        configure_optimizers reads)

Label smoothing shapes the training target only: validation and test losses are plain NLL.
``MLPModule`` and ``StackedModule`` both call ``objective`` (the stack once per member, on that
member's outputs), so a setting that enters the loss is written here once and every path trains
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlplab.config.schema import ModuleSettings
from mlplab.config.signature import locate
from mlplab.errors import ConfigError
from mlplab.training.regularization import l2_penalty

TASKS = ("classification", "regression")


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

    @classmethod
    def of(cls, settings: ModuleSettings, task: str, net_class: type) -> Objective:
        if task not in TASKS:
            raise ValueError(f"task={task!r}; the data must say classification or regression")
        r = settings.regularizer
        if r.label_smoothing and task != "classification":
            raise ConfigError(f"regularizer.label_smoothing={r.label_smoothing} smooths class labels, but "
                              f"this data set is a regression (d2l's squared loss); set "
                              f"regularizer.label_smoothing=0")
        decoupled = decouples_weight_decay(settings.optimizer)
        in_loss = r.decay_mode(net_class, decoupled) == "penalty"  # the one place a run's decay mode is read
        return cls(task, r.label_smoothing, penalty=r.weight_decay if in_loss else 0.0,
                   optimizer_decay=0.0 if in_loss else r.weight_decay)

    def loss(self, output: Tensor, y: Tensor, training: bool = False) -> Tensor:
        """The data loss of one minibatch: ``output`` [B, q] against ``y`` (labels [B], or [B, q])."""
        if self.task == "classification":
            return F.cross_entropy(output, y, label_smoothing=self.label_smoothing if training else 0.0)
        return F.mse_loss(output, y.reshape(output.shape)) / 2

    def __call__(self, output: Tensor, y: Tensor, net: nn.Module | None) -> tuple[Tensor, Tensor]:
        """(the training loss, the objective) of one minibatch: the loss is what ``train/loss``
        averages, the objective what the update follows. ``net=None``: its λ is applied elsewhere
        (the stack's ``MemberSGD``), so no penalty is added."""
        loss = self.loss(output, y, training=True)
        return loss, (loss + l2_penalty(net, self.penalty) if self.penalty > 0 and net is not None else loss)
