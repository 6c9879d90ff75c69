"""Weight decay both ways the chapter teaches (d2l 4.5).

    penalty:    loss + λ/2 · Σ_W ‖W‖²         (scratch: added to the objective)
    optimizer:  w ← w − η(∇loss + λw)          (concise: SGD's ``weight_decay=λ``)

Both decay weight matrices only; biases are left alone. For plain SGD they give the same step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices (parameters with ≥ 2 dimensions); biases are vectors."""
    return [p for p in model.parameters() if p.dim() >= 2]


def biases(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.dim() < 2]


def l2_penalty(model: nn.Module, lam: float) -> Tensor:
    """λ/2 · Σ ‖W‖² over the weight matrices."""
    return lam / 2 * sum(w.pow(2).sum() for w in weights(model))


def weight_l2_norm(model: nn.Module) -> Tensor:
    """‖w‖ = sqrt(Σ ‖W‖²) over all weight matrices: the number d2l prints in 4.5."""
    with torch.no_grad():
        return torch.sqrt(sum(w.pow(2).sum() for w in weights(model)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer groups: weights decayed by ``weight_decay``, biases not decayed."""
    return [{"params": weights(model), "weight_decay": weight_decay},
            {"params": biases(model), "weight_decay": 0.0}]
