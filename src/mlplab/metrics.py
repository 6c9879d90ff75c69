"""Epoch averages of one stage, kept as running sums on the model's device.

    loss = Σ_batches loss_b · n_b / Σ n_b        acc = Σ 1[argmax ŷ = y] / Σ n_b

Three in-place additions per step and no host sync (a MeanMetric checks every value for NaN,
which waits on the GPU); torchmetrics sums the states across processes under DDP. float32
states, since MPS has no float64.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class EpochAverages(Metric):
    full_state_update = False

    def __init__(self, with_accuracy: bool) -> None:
        super().__init__()
        self.with_accuracy = with_accuracy
        for name in ("loss_sum", "correct", "count"):
            self.add_state(name, default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, loss: Tensor, output: Tensor, target: Tensor) -> None:
        n = target.shape[0]
        self.loss_sum += loss.detach() * n
        self.count += n
        if self.with_accuracy:
            self.correct += (output.detach().argmax(dim=1) == target).sum()

    def compute(self) -> dict[str, Tensor]:
        values = {"loss": (self.loss_sum / self.count).float()}
        if self.with_accuracy:
            values["acc"] = (self.correct / self.count).float()
        return values
