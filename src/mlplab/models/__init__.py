"""The two MLPs of the chapter, built by name with the same arguments."""

from __future__ import annotations

from torch import nn

from mlplab.errors import ConfigError
from mlplab.models.concise import ConciseMLP
from mlplab.models.scratch import ScratchMLP

MODELS: dict[str, type[nn.Module]] = {"scratch": ScratchMLP, "concise": ConciseMLP}


def build_model(name: str, **kwargs) -> nn.Module:
    """``build_model("scratch", hidden=[256], activation="relu", …)``."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} "
                         f"(e.g. model=concise)")
    return MODELS[name](**kwargs)
