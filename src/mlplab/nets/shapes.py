"""Shape arguments shared by both MLPs (their ranges are checked by ``mlplab.config.schema``)."""

from __future__ import annotations

from collections.abc import Sequence


def layer_sizes(num_inputs: int, hidden: Sequence[int], num_outputs: int) -> list[int]:
    """``[inputs, hidden…, outputs]``; ``hidden=[]`` is a linear model (d2l 4.4 and 4.5)."""
    return [num_inputs, *hidden, num_outputs]


def per_layer(dropout: float | Sequence[float], num_hidden: int) -> list[float]:
    """One dropout probability per hidden layer, from one number or a list of them."""
    if isinstance(dropout, Sequence):
        if len(dropout) != num_hidden:
            raise ValueError(f"{len(dropout)} dropout probabilities for {num_hidden} hidden layers")
        return [float(p) for p in dropout]
    return [float(dropout)] * num_hidden
