"""Shape arguments shared by both MLPs, checked where the network is built: a bad value is a
``ValueError`` whose message starts with the argument's name, which ``mlplab.config.module_settings``
words with the setting's key and value (``model.net.hidden=[256,-5] has -5; …``)."""

from __future__ import annotations

from collections.abc import Sequence

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.dropout import STYLES

# The constructor arguments both MLPs share, documented once: their --help lines
# (mlplab.config.signature reads a class's ``Args:``).
MLP_ARGS = """
    Args:
        num_inputs: input features (mlplab gives the data's).
        hidden: hidden layer widths; [] is the linear model of d2l 4.4/4.5. Default: ``[256]``
        num_outputs: outputs (mlplab gives the data's).
        activation: σ after every hidden layer, by name (mlplab gives activation.name).
        dropout: dropout p after each hidden layer: one number, or one per layer.
        init_std: weights start as N(0, init_std²), biases as 0. Default: ``0.01``
        dropout_style: inverted or classic (mlplab gives regularizer.dropout_style).
"""


def layer_sizes(num_inputs: int, hidden: Sequence[int], num_outputs: int) -> list[int]:
    """``[inputs, hidden…, outputs]``; ``hidden=[]`` is a linear model (d2l 4.4 and 4.5)."""
    for width in hidden:
        if int(width) < 1:
            raise ValueError(f"hidden has {width}; every hidden layer needs at least one unit")
    return [num_inputs, *hidden, num_outputs]


def check_init_std(init_std: float) -> float:
    if not init_std >= 0:
        raise ValueError("init_std must be ≥ 0 (a standard deviation)")
    return init_std


def check_choice(argument: str, value: str, choices: Sequence[str]) -> str:
    """``activation`` and ``dropout_style`` by name: a name the network does not know is refused,
    not read as another (a typo of ``classic`` would otherwise train inverted dropout)."""
    if value not in choices:
        raise ValueError(f"{argument} {value!r} is not one of {', '.join(choices)}")
    return value


def check_activation(activation: str) -> str:
    return check_choice("activation", activation, tuple(ACTIVATIONS))


def check_dropout_style(dropout_style: str) -> str:
    return check_choice("dropout_style", dropout_style, STYLES)


def per_layer(dropout: float | Sequence[float], num_hidden: int) -> list[float]:
    """One dropout probability per hidden layer, from one number or a list of them."""
    if isinstance(dropout, Sequence):
        if len(dropout) != num_hidden:
            raise ValueError(f"dropout has {len(dropout)} values but the network has {num_hidden} hidden "
                             f"layers; give one value or {num_hidden}")
        return [float(p) for p in dropout]
    return [float(dropout)] * num_hidden
