"""The MLP of d2l 4.3 in built-in layers:
``nn.Sequential(Flatten, Linear, act, Dropout, …, Linear)``, weights ``normal(0, σ)``, zero biases.
Same constructor as ``ScratchMLP``, so the two are interchangeable in every experiment."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.dropout import ClassicDropout
from mlplab.nets.shapes import (
    MLP_ARGS,
    check_activation,
    check_dropout_style,
    check_init_std,
    layer_sizes,
    per_layer,
)


class ConciseMLP(nn.Sequential):
    __doc__ = "d2l 4.3's MLP in ``nn.Linear``, built-in activations and ``nn.Dropout``.\n" + MLP_ARGS

    def __init__(self, num_inputs: int = 784, hidden: list[int] = (256,),  # type: ignore[assignment]
                 num_outputs: int = 10, activation: str = "relu",
                 dropout: float | Sequence[float] = 0.0, init_std: float = 0.01,
                 dropout_style: str = "inverted") -> None:
        act = ACTIVATIONS[check_activation(activation)].builtin
        dropout_style = check_dropout_style(dropout_style)
        sizes = layer_sizes(num_inputs, hidden, num_outputs)
        init_std = check_init_std(init_std)
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out, p in zip(sizes, sizes[1:-1], per_layer(dropout, len(hidden))):
            layers += [nn.Linear(fan_in, fan_out), act()]
            if p > 0:
                layers.append(nn.Dropout(p) if dropout_style == "inverted" else ClassicDropout(p))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        super().__init__(*layers)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=init_std)
                nn.init.zeros_(m.bias)
