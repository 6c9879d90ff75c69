"""The chapter's networks: the MLP from scratch (d2l 4.2) and the concise one (4.3), their
activation functions (4.1) and dropout (4.6), built by name with the same arguments.

May import: torch only (and ``mlplab.errors``). The settings that choose among these names are
declared in ``mlplab.config.schema``, which reads ``NETS`` and ``ACTIVATIONS`` for its choices.
"""

from __future__ import annotations

from torch import nn

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.concise import ConciseMLP
from mlplab.nets.scratch import ScratchMLP

NETS: dict[str, type[nn.Module]] = {"scratch": ScratchMLP, "concise": ConciseMLP}

__all__ = ["ACTIVATIONS", "NETS", "build_net"]


def build_net(name: str, **kwargs) -> nn.Module:
    """``build_net("scratch", hidden=[256], activation="relu", dropout=[0.2], init_std=0.01)``."""
    return NETS[name](**kwargs)
