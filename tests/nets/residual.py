"""Networks that live only in the tests folder, trained by ``model.net._target_=residual.<Class>``
with this folder on PYTHONPATH: nothing of mlplab's source knows them."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResidualMLP(nn.Module):
    """An MLP whose hidden layers add to their input:

        h₀ = x W_in + b_in,   h_k = h_{k−1} + dropout(ReLU(h_{k−1} W_k + b_k)),   O = h_L W_out + b_out

    Args:
        num_inputs: input features.
        num_outputs: outputs.
        hidden: the width of h₀ and of each residual layer (all equal). Default: ``[64, 64]``
        init_std: weights start as N(0, init_std²), biases as 0. Default: ``0.01``
        dropout: p after each residual layer's ReLU (one number).
    """

    def __init__(self, num_inputs: int, num_outputs: int,  # no defaults: the data's shape is given
                 hidden: list[int] = (64, 64),  # type: ignore[assignment]
                 init_std: float = 0.01, dropout: float = 0.0) -> None:
        super().__init__()
        if len(set(hidden)) != 1:
            raise ValueError(f"hidden has {list(hidden)}; a residual layer keeps its width: give equal "
                             f"widths")
        width = hidden[0]
        self.stem = nn.Linear(num_inputs, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in hidden)
        self.head = nn.Linear(width, num_outputs)
        self.drop = nn.Dropout(float(dropout))
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=init_std)
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(torch.flatten(x, 1))
        for block in self.blocks:
            h = h + self.drop(torch.relu(block(h)))
        return self.head(h)


class PlainLinear(nn.Module):
    """Softmax regression with no dropout argument: mlplab must refuse a dropout it cannot apply.

    Args:
        num_inputs: input features.
        num_outputs: outputs.
    """

    def __init__(self, num_inputs: int = 784, num_outputs: int = 10) -> None:
        super().__init__()
        self.linear = nn.Linear(num_inputs, num_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(torch.flatten(x, 1))


