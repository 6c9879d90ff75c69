"""Epoch averages of one stage, kept as running sums on the model's device.

    loss = Σ_batches loss_b · n_b / Σ n_b        acc = Σ 1[argmax ŷ = y] / Σ n_b

A plain object with two in-place additions and one integer sum per step: no host sync (a
torchmetrics MeanMetric checks every value for NaN, which waits on a GPU) and none of a Metric's
per-update bookkeeping, which costs more than the additions for batches this small. Under DDP
the sums are added across processes once, in ``compute``. The members of a stack
(``mlplab.batched.module``) keep theirs side by side: losses [K] and outputs [K, B, q] give
averages [K].
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


class EpochAverages:
    def __init__(self, with_accuracy: bool) -> None:
        self.with_accuracy = with_accuracy
        self.reset()

    def reset(self) -> None:
        self.loss_sum: Tensor | None = None  # Σ loss·n and Σ correct, on the device of the data
        self.correct: Tensor | None = None
        self.count = 0  # a Python int: counting costs no kernel

    def update(self, loss: Tensor, output: Tensor, target: Tensor) -> None:
        if self.loss_sum is None:  # float32 throughout: MPS has no float64
            self.loss_sum = torch.zeros_like(loss, dtype=torch.float32)
            self.correct = torch.zeros_like(self.loss_sum)
        n = target.shape[0]
        self.loss_sum.add_(loss.detach(), alpha=n)
        if self.with_accuracy:
            self.correct.add_((output.detach().argmax(dim=-1) == target).sum(dim=-1))
        self.count += n

    def compute(self) -> dict[str, Tensor]:
        if self.loss_sum is None:
            raise RuntimeError("compute() before any update(): no batch was seen this epoch")
        sums = torch.stack([self.loss_sum, self.correct, torch.full_like(self.loss_sum, float(self.count))])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        values = {"loss": sums[0] / sums[2]}
        if self.with_accuracy:
            values["acc"] = sums[1] / sums[2]
        return values
