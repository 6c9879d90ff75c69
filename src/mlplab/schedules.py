"""Learning-rate schedules as pure functions: ``lr = base_lr · factor``.

    none       factor = 1
    step       factor = γ^⌊epoch / step_size⌋                                  (per epoch)
    cosine     factor = r + (1 − r)·(1 + cos πt)/2,  t = update / total updates  (per update)
    onecycle   rises from 1/div to 1 over the first ``pct_start`` of the updates, then falls
               along a cosine to 1/(div·final_div)                              (per update)

The factor depends only on (update, epoch), which Lightning restores on resume, so a schedule
needs no state of its own and a resumed run continues it exactly.
"""

from __future__ import annotations

import math
from typing import Any

from mlplab.errors import ConfigError

DEFAULTS: dict[str, dict[str, float]] = {
    "none": {},
    "step": {"step_size": 10, "gamma": 0.1},
    "cosine": {"min_ratio": 0.0},
    "onecycle": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
}


def check_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
    """``{"name": …, **settings}`` with the name known and no unknown or impossible setting."""
    name = schedule.get("name")
    if name not in DEFAULTS:
        raise ConfigError(f"scheduler.name={name!r}; choose one of {', '.join(DEFAULTS)} "
                          f"(e.g. scheduler=cosine)")
    settings = {k: v for k, v in schedule.items() if k != "name"}
    unknown = sorted(set(settings) - set(DEFAULTS[name]))
    if unknown:
        raise ConfigError(f"scheduler {name} has no setting {', '.join(unknown)}; "
                          f"it takes {', '.join(DEFAULTS[name]) or 'none'}")
    merged = {**DEFAULTS[name], **settings}
    if name == "step" and not (merged["step_size"] >= 1 and 0 < merged["gamma"] <= 1):
        raise ConfigError(f"scheduler.step_size={merged['step_size']}, scheduler.gamma={merged['gamma']}: "
                          f"need step_size ≥ 1 epoch and 0 < gamma ≤ 1")
    if name == "onecycle" and not 0 < merged["pct_start"] < 1:
        raise ConfigError(f"scheduler.pct_start={merged['pct_start']} is outside (0, 1)")
    if name == "cosine" and not 0 <= merged["min_ratio"] <= 1:
        raise ConfigError(f"scheduler.min_ratio={merged['min_ratio']} is outside [0, 1]")
    return {"name": name, **merged}


def lr_factor(schedule: dict[str, Any], update: int, total_updates: int, epoch: int) -> float:
    """The factor for update number ``update`` (0-based) of ``total_updates``, in ``epoch``."""
    name = schedule["name"]
    t = min(update / max(total_updates, 1), 1.0)
    if name == "none":
        return 1.0
    if name == "step":
        return schedule["gamma"] ** (epoch // schedule["step_size"])
    if name == "cosine":
        r = schedule["min_ratio"]
        return r + (1 - r) * (1 + math.cos(math.pi * t)) / 2
    start = 1 / schedule["div_factor"]  # onecycle
    end = start / schedule["final_div_factor"]
    peak_at = schedule["pct_start"]
    if t < peak_at:
        return start + (1 - start) * t / peak_at
    return end + (1 - end) * (1 + math.cos(math.pi * (t - peak_at) / (1 - peak_at))) / 2
