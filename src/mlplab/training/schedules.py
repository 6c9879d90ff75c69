"""Learning-rate schedules as pure functions: ``lr = optimizer.lr · factor``.

    none       factor = 1
    step       factor = γ^⌊epoch / step_size⌋                                  (per epoch)
    cosine     factor = r + (1 − r)·(1 + cos πt)/2,  t = update / total updates  (per update)
    onecycle   rises from 1/div to 1 over the first ``pct_start`` of the updates, then falls
               along a cosine to 1/(div·final_div)                              (per update)

The factor depends only on (update, epoch), which Lightning restores on resume, so a schedule
needs no state of its own and a resumed run continues it exactly. The settings of each schedule
are declared in ``mlplab.config.schema`` (``SCHEDULES``).
"""

from __future__ import annotations

import math
from typing import Any


def lr_factor(schedule: Any, update: int, total_updates: int, epoch: int) -> float:
    """The factor for update number ``update`` (0-based) of ``total_updates``, in ``epoch``."""
    name = schedule.name
    t = min(update / max(total_updates, 1), 1.0)
    if name == "none":
        return 1.0
    if name == "step":
        return schedule.gamma ** (epoch // schedule.step_size)
    if name == "cosine":
        r = schedule.min_ratio
        return r + (1 - r) * (1 + math.cos(math.pi * t)) / 2
    start = 1 / schedule.div_factor  # onecycle
    end = start / schedule.final_div_factor
    if t < schedule.pct_start:
        return start + (1 - start) * t / schedule.pct_start
    return end + (1 - end) * (1 + math.cos(math.pi * (t - schedule.pct_start) / (1 - schedule.pct_start))) / 2
