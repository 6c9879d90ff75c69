"""Shape arguments shared by both MLPs, checked once, with messages that name the fix."""

from __future__ import annotations

from collections.abc import Sequence

from mlplab.errors import ConfigError


def layer_sizes(num_inputs: int, hidden: Sequence[int], num_outputs: int) -> list[int]:
    """``[inputs, hidden…, outputs]``; every size must be a positive integer."""
    if not isinstance(hidden, Sequence) or isinstance(hidden, str):
        raise ConfigError(f"model.hidden={hidden!r} is not a list of widths; write it as a list, "
                          f"e.g. model.hidden=[256] or model.hidden=[256,256]")
    # hidden=[] is allowed on purpose: the linear models of d2l 4.4 and 4.5 have no hidden layer.
    sizes = [num_inputs, *hidden, num_outputs]
    bad = [s for s in sizes if not isinstance(s, int) or isinstance(s, bool) or s < 1]
    if bad:
        raise ConfigError(f"model.hidden={list(hidden)}: layer widths must be positive integers "
                          f"(bad: {bad}); e.g. model.hidden=[256] or model.hidden=[256,256]")
    return sizes


def per_layer(dropout: float | Sequence[float], num_hidden: int) -> list[float]:
    """One dropout probability per hidden layer, from one number or a list; each in [0, 1)
    (p = 1 would drop every unit and leave nothing to learn from)."""
    probs = [float(p) for p in dropout] if isinstance(dropout, Sequence) else [float(dropout)] * num_hidden
    if len(probs) != num_hidden:
        raise ConfigError(f"regularizer.dropout={list(probs)} has {len(probs)} values but the "
                         f"model has {num_hidden} hidden layers; give one value or {num_hidden}")
    bad = [p for p in probs if not 0.0 <= p < 1.0]
    if bad:
        raise ConfigError(f"regularizer.dropout={bad[0]} is outside [0, 1); use e.g. 0.2 or 0.5")
    return probs
