"""A run's row in TensorBoard's HParams tab: every declared setting that says what the run
computes (not where its files are), named as on the command line, one plain scalar each.

    model.net.hidden = "256,256"   regularizer.dropout = 0.5   optimizer.lr = 0.1   data.batch_size = 256

The keys come from the declarations (``mlplab.config``), so a new setting shows up here
without being listed anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mlplab.config.settings import Settings, specs

HParam = str | int | float | bool


def settings_row(groups: Iterable[Settings]) -> dict[str, HParam]:
    """``{group.name: value}`` over the settings objects, leaving out the ``where`` settings."""
    row = {}
    for settings in groups:
        if getattr(settings, "_target_", None):  # which class: torch.optim.SGD, a DataModule, …
            row[settings.key("_target_")] = settings._target_
        parts = settings.parts()  # a group inside a group: model.net
        for spec in specs(type(settings)):
            if spec.name in parts:
                row.update(settings_row([parts[spec.name]]))
            elif not spec.where:
                row[settings.key(spec.name)] = hparam_value(getattr(settings, spec.name))
    return row


def hparam_value(value: Any) -> HParam:
    """What the HParams plugin takes: lists become comma-joined strings (``[256, 256]`` →
    ``"256,256"``) and anything else that is not str/int/float/bool its ``str`` (None → "None"),
    so every run of a sweep has the same columns to sort and filter by."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Sequence):
        return ",".join(str(v) for v in value)
    return str(value)
