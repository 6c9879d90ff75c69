"""The MLP of d2l 4.2 from explicit parameters, with hand-written activation and dropout.

    H₁ = dropout(σ(X W₁ + b₁)),  …,  O = H_L W_{L+1} + b_{L+1}

Weights start as ``randn · σ`` (σ = 0.01 in the book's 4.2), biases as zeros; ``W_k`` has shape
``[inputs, outputs]`` so the forward pass reads exactly like the formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.dropout import dropout as dropout_fn
from mlplab.nets.shapes import (
    MLP_ARGS,
    check_activation,
    check_dropout_style,
    check_init_std,
    layer_sizes,
    per_layer,
)


class ScratchMLP(nn.Module):
    __doc__ = "d2l 4.2's MLP written out: ``nn.Parameter`` weights, hand-written σ and dropout.\n" + MLP_ARGS

    # d2l 4.5.3 adds λ/2·‖w‖² to the scratch model's loss; weight_decay_mode=auto follows it
    weight_decay_mode = "penalty"

    def __init__(self, num_inputs: int = 784, hidden: list[int] = (256,),  # type: ignore[assignment]
                 num_outputs: int = 10, activation: str = "relu",
                 dropout: float | Sequence[float] = 0.0, init_std: float = 0.01,
                 dropout_style: str = "inverted") -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.act = ACTIVATIONS[check_activation(activation)].scratch
        sizes = layer_sizes(num_inputs, hidden, num_outputs)
        init_std = check_init_std(init_std)
        self.dropout, self.dropout_style = per_layer(dropout, len(hidden)), check_dropout_style(dropout_style)
        for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
            setattr(self, f"W{k}", nn.Parameter(torch.randn(fan_in, fan_out) * init_std))
            setattr(self, f"b{k}", nn.Parameter(torch.zeros(fan_out)))
        self.num_layers = len(sizes) - 1

    def layers(self) -> list[tuple[Tensor, Tensor]]:
        """``[(W₁, b₁), …]`` in order, input to output."""
        return [(getattr(self, f"W{k}"), getattr(self, f"b{k}"))
                for k in range(1, self.num_layers + 1)]

    def forward(self, x: Tensor) -> Tensor:
        h = x.reshape(-1, self.num_inputs)
        *hidden, (w_out, b_out) = self.layers()
        for (w, b), p in zip(hidden, self.dropout):
            h = dropout_fn(self.act(torch.addmm(b, h, w)), p, self.training,  # addmm: b + h @ w, fused
                           self.dropout_style)
        return torch.addmm(b_out, h, w_out)
