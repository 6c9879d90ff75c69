"""The chapter's activation functions, hand-written and built in, under one name registry.

    ReLU(x)    = max(x, 0)                  ReLU'(x)    = 1[x > 0]
    sigmoid(x) = 1 / (1 + exp(−x))          sigmoid'(x) = sigmoid(x)(1 − sigmoid(x))
    tanh(x)    = (1 − exp(−2x)) / (1 + exp(−2x))   tanh'(x) = 1 − tanh²(x)
    identity(x) = x  (the MLP then collapses to one affine map, section 4.1.1.3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def relu(x: Tensor) -> Tensor:
    # max(x, 0) as x·1[x > 0]: the mask is a constant to autograd, so the gradient is exactly
    # 1[x > 0] (torch.relu's, 0 at x = 0), at half the cost of torch.where.
    return x * (x > 0)


def _magnitude(x: Tensor) -> Tensor:
    """|x| spelled with ``where``: ``abs()`` has gradient 0 at x = 0, which would zero
    sigmoid'(0) and tanh'(0)."""
    return torch.where(x >= 0, x, -x)


def sigmoid(x: Tensor) -> Tensor:
    # Written with exp(−|x|) ≤ 1 so that neither the value nor its gradient overflows.
    e = torch.exp(-_magnitude(x))
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: Tensor) -> Tensor:
    e = torch.exp(-2 * _magnitude(x))
    t = (1 - e) / (1 + e)
    return torch.where(x >= 0, t, -t)


def identity(x: Tensor) -> Tensor:
    return x


@dataclass(frozen=True)
class Activation:
    """One activation by name: the hand-written function and the built-in ``nn.Module``."""

    scratch: Callable[[Tensor], Tensor]
    builtin: type[nn.Module]


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, nn.ReLU),
    "sigmoid": Activation(sigmoid, nn.Sigmoid),
    "tanh": Activation(tanh, nn.Tanh),
    "identity": Activation(identity, nn.Identity),
}


def autograd_derivative(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d fn(x) / dx elementwise, by autograd, as the notes do: ``y.backward(ones_like(x))``."""
    x = x.detach().clone().requires_grad_(True)
    fn(x).backward(torch.ones_like(x))
    return x.grad
