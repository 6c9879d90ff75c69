"""Dropout written by hand, both ways the chapter describes (d2l 4.6).

    inverted (d2l's code, 4.6.4)   training: h' = 0 with probability p, h / (1 − p) otherwise
                                   evaluation: h' = h
    classic (the notes, 4.6.3)     training: h' = 0 with probability p, h otherwise
                                   evaluation: h' = (1 − p)·h

Either way the evaluation output is the training-time expectation: E[h'] = h (inverted) and
E[h'] = (1 − p)·h (classic). Inverted dropout moves the scaling into training, so the network at
evaluation is the plain one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

STYLES = ("inverted", "classic")


def dropout(x: Tensor, p: float, training: bool = True, style: str = "inverted") -> Tensor:
    """Zero each element with probability ``p`` (mask ``rand > p``) while training, scaling as
    ``style`` says; zeros when training with ``p = 1``; ``x`` itself when ``p = 0``."""
    if p == 0:
        return x
    if not training:
        return x if style == "inverted" else x * (1.0 - p)
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand_like(x) > p
    return x * keep / (1.0 - p) if style == "inverted" else x * keep


class ClassicDropout(nn.Module):
    """The classic style as a layer for the concise MLP (``nn.Dropout`` is inverted only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, style="classic")

    def extra_repr(self) -> str:
        return f"p={self.p}"
