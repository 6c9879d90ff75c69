"""mlplab's learning-rate schedules, as ``torch.optim.lr_scheduler`` classes: ``lr = base · f(t)``,
``t = min(step / total_steps, 1)``, ``step`` = the times Lightning has stepped the schedule (every
update with the presets' ``scheduler.interval=step``, every epoch with ``epoch``); ``total_steps`` is
filled with the run's number of them (``MLPModule.schedule_length``).

    cosine     f = r + (1 − r)·(1 + cos πt)/2
    onecycle   f rises linearly from 1/div to 1 over the first ``pct_start`` of the updates, then
               falls along a cosine to 1/(div·final_div)

Each ``get_lr`` is the closed form of the step count, so the value never drifts by chaining and a
resumed run (the scheduler's step count is in the checkpoint) continues the schedule exactly.
Any other ``torch.optim.lr_scheduler`` (``StepLR`` is the ``step`` preset) works the same way.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class FactorSchedule(LRScheduler, ABC):
    """``lr = base_lr · factor(t)`` for the fraction ``t`` of ``total_steps`` done."""

    def __init__(self, optimizer: Optimizer, total_steps: int | None = None, last_epoch: int = -1) -> None:
        if not total_steps or total_steps < 1:
            raise ValueError(f"total_steps={total_steps}: the number of updates the schedule spans "
                             f"must be ≥ 1 (mlplab fills it with the run's updates)")
        self.total_steps = total_steps
        super().__init__(optimizer, last_epoch)

    @abstractmethod
    def factor(self, t: float) -> float:
        """The schedule's formula at the fraction ``t`` of its updates."""

    def get_lr(self) -> list[float]:
        t = min(self.last_epoch / self.total_steps, 1.0)
        return [base * self.factor(t) for base in self.base_lrs]


class Cosine(FactorSchedule):
    """Cosine decay to ``min_ratio`` of the base learning rate over ``total_steps`` updates."""

    def __init__(self, optimizer: Optimizer, total_steps: int | None = None, min_ratio: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not 0 <= min_ratio <= 1:
            raise ValueError(f"min_ratio={min_ratio} must be in [0, 1]")
        self.min_ratio = min_ratio
        super().__init__(optimizer, total_steps, last_epoch)

    def factor(self, t: float) -> float:
        r = self.min_ratio
        return r + (1 - r) * (1 + math.cos(math.pi * t)) / 2


class OneCycle(FactorSchedule):
    """Linear warm-up from ``1/div_factor`` over ``pct_start`` of the updates, then a cosine down to
    ``1/(div_factor·final_div_factor)`` of the base learning rate."""

    def __init__(self, optimizer: Optimizer, total_steps: int | None = None, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, last_epoch: int = -1) -> None:
        if not 0 < pct_start < 1:
            raise ValueError(f"pct_start={pct_start} must be in (0, 1)")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if value < 1:
                raise ValueError(f"{name}={value} must be ≥ 1")
        self.pct_start, self.div_factor, self.final_div_factor = pct_start, div_factor, final_div_factor
        super().__init__(optimizer, total_steps, last_epoch)

    def factor(self, t: float) -> float:
        start = 1 / self.div_factor
        end = start / self.final_div_factor
        if t < self.pct_start:
            return start + (1 - start) * t / self.pct_start
        return end + (1 - end) * (1 + math.cos(math.pi * (t - self.pct_start) / (1 - self.pct_start))) / 2
