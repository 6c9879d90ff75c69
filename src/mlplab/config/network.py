"""What the network is (``model``, ``activation``): any ``torch.nn.Module`` class, named by
``model.net._target_`` as in lightning-hydra-template. Its settings are the class's own
constructor arguments, read from its signature (as the optimizer's are), but those mlplab gives
it: the data's shape, and the activation and dropout groups where the class takes them
(``NET_BUILT_BY_MLPLAB``).

    net = model.net._target_(**model.net, num_inputs=784, num_outputs=10, activation=σ, dropout=p, …)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from mlplab.config.settings import MOVED, Settings, setting, specs
from mlplab.config.signature import locate, named_class, preset_hint, signature_settings
from mlplab.nets.activations import ACTIVATIONS

# What the other groups give a network whose class takes the argument: argument → (group, setting).
GIVEN_TO_NET = {"activation": ("activation", "name"), "dropout": ("regularizer", "dropout"),
                "dropout_style": ("regularizer", "dropout_style")}
LAYER_ARGUMENTS = tuple(GIVEN_TO_NET)  # each acts on hidden layers only: with hidden=[] it does nothing
NET_BUILT_BY_MLPLAB = ("num_inputs", "num_outputs", *GIVEN_TO_NET)  # the data's shape, and those
# torch's factory arguments of a layer (torch.nn.Linear's): where its weights live and their dtype are
# Lightning's to set (trainer.accelerator, trainer.precision), not settings of the network
NET_PLACED_BY_LIGHTNING = ("device", "dtype")
# a regression's data loss (averaged over the batch): d2l's squared_loss ½(ŷ − y)² (3.1, 4.5 from
# scratch) or nn.MSELoss's (ŷ − y)² (4.4, 4.5 concise)
REGRESSION_LOSSES = ("squared", "mse")
NET_PRESETS = {"scratch": "mlplab.nets.ScratchMLP", "concise": "mlplab.nets.ConciseMLP"}
EXAMPLE_NET = NET_PRESETS["concise"]


def net_settings(values: dict[str, Any] | Settings | None) -> Settings:
    """The settings of ``model.net``: its class checked to be an importable ``nn.Module``, its
    arguments against the class's signature (``ScratchMLP`` when no class is named, as in
    ``MLPModule(model={"net": {"hidden": [64]}})``; ``model=any`` must name one)."""
    if isinstance(values, Settings):
        return values
    values = {"_target_": NET_PRESETS["scratch"], **dict(values or {})}
    target = str(values.get("_target_"))
    named_class("model.net", target, torch.nn.Module, "torch.nn.Module", EXAMPLE_NET)
    return net_class_settings(target).parse(values)


def net_class_settings(target: str) -> type[Settings]:
    """The settings class of the network class ``target``, importable as
    ``mlplab.config.network.net__<target with __ for .>`` (pickled by reference, as
    ``torch_class_settings``'s are)."""
    kind = _net_class_settings(target)
    kind.__module__, kind.__qualname__ = __name__, f"net__{target.replace('.', '__')}"
    return kind


@functools.cache
def _net_class_settings(target: str) -> type[Settings]:
    kind = signature_settings(locate(target), locate(target).__name__, "model.net",
                              skip=(*NET_BUILT_BY_MLPLAB, *NET_PLACED_BY_LIGHTNING),
                              extra=[("_target_", str, field(default=target))])
    kind.unknown_hint = preset_hint("model")
    return kind


def net_arguments(settings: Settings) -> dict[str, Any]:
    """The class's own arguments among a net's settings (not ``_target_``)."""
    return {spec.name: getattr(settings, spec.name) for spec in specs(type(settings))}


MOVED.update({f"model.{name}": f"the network's arguments are model.net.*: model.net.{name}"
              for name in ("hidden", "init_std")})
MOVED["model.name"] = ("the network is its class, model.net._target_ (model=scratch: mlplab.nets.ScratchMLP, "
                       "model=concise: mlplab.nets.ConciseMLP)")


def __getattr__(name: str) -> type[Settings]:
    """``net__mlplab__nets__ScratchMLP`` → the settings class of that network class (PEP 562)."""
    group, _, target = name.partition("__")
    if group != "net" or not target:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return net_class_settings(target.replace("__", "."))


def _activations() -> tuple[str, ...]:
    """The activations ``mlplab.nets`` knows."""
    return tuple(ACTIVATIONS)


@dataclass
class ModelSettings(Settings):
    group: ClassVar[str] = "model"
    net: Any = setting({}, "the network: an nn.Module class (_target_; mlplab.nets.ScratchMLP if none) and "
                       "its constructor's arguments (model.net.*); the presets: model=scratch (d2l 4.2), "
                       "model=concise (4.3), model=any", kind=dict, example={"_target_": EXAMPLE_NET})
    compile: bool = setting(False, "torch.compile the network (slower on a CPU for a network this small)")
    regression_loss: str = setting("squared", "a regression's loss, averaged over the batch: squared = "
                                   "½(ŷ − y)² (d2l's squared_loss: 4.5 from scratch), mse = (ŷ − y)² "
                                   "(nn.MSELoss: 4.4); a classification's is cross-entropy",
                                   choices=REGRESSION_LOSSES)

    def rules(self) -> None:
        # ``net`` stays the plain mapping Hydra composes (any class's keys can be set, added with
        # "+" or removed with "~"); its checked form is ``network``, a settings object of the class
        self.network = net_settings(self.net)

    def parts(self) -> dict[str, Settings]:
        return {"net": self.network}

    @property
    def net_class(self) -> type[torch.nn.Module]:
        return locate(self.network._target_)

    def as_dict(self) -> dict[str, Any]:
        return {"net": {"_target_": self.network._target_, **self.network.as_dict()}, "compile": self.compile,
                "regression_loss": self.regression_loss}


@dataclass
class ActivationSettings(Settings):
    group: ClassVar[str] = "activation"
    name: str = setting("relu", "σ after every hidden layer: hand-written (scratch) or built in (concise)",
                        choices=_activations)

