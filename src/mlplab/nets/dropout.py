"""Inverted dropout written by hand (d2l 4.6.4).

    h' = 0 with probability p,  h' = h / (1 − p) otherwise,   so  E[h'] = h.
"""

from __future__ import annotations

import torch
from torch import Tensor


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` (mask ``rand > p``) and scale the rest by
    ``1 / (1 − p)``; identity in eval mode or when ``p = 0``; zeros when ``p = 1``."""
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand_like(x) > p
    return x * keep / (1.0 - p)
