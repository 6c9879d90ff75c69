"""The chapter's networks: the MLP from scratch (d2l 4.2) and the concise one (4.3), their
activation functions (4.1) and dropout (4.6). Plain ``nn.Module``\\ s: a run names one by its class
(``model.net._target_=mlplab.nets.ScratchMLP``), as it could name any other.

May import: torch only. The settings that choose among them are declared
in ``mlplab.config.network``, which reads ``ACTIVATIONS`` for its choices.
"""

from __future__ import annotations

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.concise import ConciseMLP
from mlplab.nets.scratch import ScratchMLP

__all__ = ["ACTIVATIONS", "ConciseMLP", "ScratchMLP"]
