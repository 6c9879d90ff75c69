"""How it learns (``optimizer``, ``scheduler``): any torch class, named by ``_target_`` as Hydra
instantiates it (``_partial_``: mlplab gives the parameters, or the optimizer). Their settings are
the class's own arguments (``mlplab.config.signature``); the presets under conf/optimizer and
conf/scheduler name a class and the values mlplab's experiments use (``TORCH_PRESETS``).

    optimizer = optimizer._target_(params, **optimizer, weight_decay=λ per parameter group)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.optim.lr_scheduler import LRScheduler

from mlplab.config.location import config_dir
from mlplab.config.settings import MOVED, Settings, setting, specs
from mlplab.config.signature import class_settings, named_class, preset_hint
from mlplab.errors import ConfigError

OPTIMIZER_BUILT_BY_MLPLAB = ("params", "weight_decay")  # the net's, by parameter group (regularizer)
SCHEDULER_BUILT_BY_MLPLAB = ("optimizer", "last_epoch", "verbose")
MOVED.update({"optimizer.weight_decay": "λ is regularizer.weight_decay, which decays the weights, not the "
                                         "biases"})


def scheduler_extras() -> list[tuple[str, Any, Any]]:
    """What Lightning needs to know of a scheduler besides the class's own arguments."""
    return [("interval", str, setting("epoch", "when Lightning steps it: after every update (step) or "
                                                "every epoch (epoch)", choices=("step", "epoch"))),
            ("monitor", str | None, setting(None, "the validation metric a ReduceLROnPlateau watches",
                                            example="val/loss"))]


BUILT_BY_MLPLAB = {"optimizer": OPTIMIZER_BUILT_BY_MLPLAB, "scheduler": SCHEDULER_BUILT_BY_MLPLAB}
EXAMPLE_TARGETS = {"optimizer": "torch.optim.SGD", "scheduler": "torch.optim.lr_scheduler.StepLR"}
BASE_NAMES = {"optimizer": "torch.optim.Optimizer", "scheduler": "torch.optim.lr_scheduler.LRScheduler"}


def torch_settings(group: str, values: dict[str, Any] | Settings, base: type) -> Settings:
    """The settings of a torch optimizer or scheduler: its class (``_target_``) checked to be a
    ``base``, its arguments checked against the class's signature, then the class built once on a
    stand-in so that torch's own checks (``Invalid learning rate``, …) speak before any data loads."""
    if isinstance(values, Settings):
        return values
    values = dict(values or {})
    target = str(values.get("_target_"))
    built = named_class(group, target, base, BASE_NAMES[group], EXAMPLE_TARGETS[group])
    settings = torch_class_settings(group, target).parse(values)
    try_build(group, settings, built)
    return settings


def torch_class_settings(group: str, target: str) -> type[Settings]:
    """The settings class of the torch class ``target`` as an option of ``group``, importable as
    ``mlplab.config.optimization.<group>__<target with __ for .>`` (see ``__getattr__``), so that settings
    objects pickle by reference (to ddp_spawn's processes, to a launcher's workers)."""
    extras = scheduler_extras if group == "scheduler" else None
    kind = class_settings(target, group, BUILT_BY_MLPLAB[group], extras)
    kind.unknown_hint = preset_hint(group)
    kind.__module__, kind.__qualname__ = __name__, f"{group}__{target.replace('.', '__')}"
    return kind


def __getattr__(name: str) -> type[Settings]:
    """``optimizer__torch__optim__SGD`` → the settings class of ``torch.optim.SGD`` (PEP 562)."""
    group, _, target = name.partition("__")
    if group not in BUILT_BY_MLPLAB or not target:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return torch_class_settings(group, target.replace("__", "."))


def arguments(settings: Settings) -> dict[str, Any]:
    """The class's own arguments among ``settings`` (not ``_target_``, ``interval``, …)."""
    own = {spec.name for spec in specs(type(settings))} - {name for name, *_ in scheduler_extras()}
    return {name: getattr(settings, name) for name in own}


def try_build(group: str, settings: Settings, built: type) -> None:
    """Build the class on a stand-in parameter (and optimizer): torch's own argument checks; a
    schedule also takes one step (``StepLR(step_size=0)`` divides by zero only when it steps)."""
    if group == "optimizer" and not 0 < getattr(settings, "lr", 1) < math.inf:
        settings.fail("lr", "must be a finite number > 0 (an update must move the weights)", example=0.1)
    stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    kwargs = arguments(settings)
    try:
        if group == "optimizer":
            built([torch.zeros(1, requires_grad=True)], **kwargs)
        else:
            filled = {"total_steps": 1} if "total_steps" in kwargs and kwargs["total_steps"] is None else {}
            schedule = built(stand_in, **{**kwargs, **filled})  # total_steps=None: mlplab fills it in
            if not isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                stand_in.step()
                schedule.step()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{group}: {err} ({settings._target_}); see mlplab-train --help for its "
                          f"settings") from None
    except (IndexError, ZeroDivisionError) as err:  # a list too short, a count of 0 it divides by
        raise ConfigError(f"{group}: {settings._target_} stopped on its settings ({type(err).__name__}: "
                          f"{err}): one is out of range, e.g. a list too short or a 0 it divides by; "
                          f"see mlplab-train --help for its settings") from None
    if issubclass(built, torch.optim.lr_scheduler.ReduceLROnPlateau) and not settings.monitor:
        # it steps on a metric: Lightning would ask for it once the fit starts, in a dict's words
        raise ConfigError(f"scheduler: {settings._target_} steps on a validation metric and "
                          f"scheduler.monitor names none; e.g. +scheduler.monitor=val/loss")


# The presets' classes: their schemas go to Hydra's ConfigStore (optimizer/_sgd, …), so that every
# argument of the class is a key without "+" and a wrong type is refused while Hydra merges.
# optimizer=any takes any other class (its arguments then need "+": Hydra cannot know them).
TORCH_PRESETS = {"optimizer": {"sgd": "torch.optim.SGD", "adamw": "torch.optim.AdamW",
                               "adam": "torch.optim.Adam"},
                 "scheduler": {"step": "torch.optim.lr_scheduler.StepLR",
                               "cosine": "mlplab.training.schedules.Cosine",
                               "onecycle": "mlplab.training.schedules.OneCycle"}}


def preset_class(group: str, option: str) -> type[Settings]:
    """The settings class of a preset's torch class (``optimizer=sgd`` → SGD's)."""
    return torch_class_settings(group, TORCH_PRESETS[group][option])


def optimizer_settings(values: dict[str, Any] | Settings | None) -> Settings:
    """The optimizer's settings; without a ``_target_``, over the ``sgd`` preset (d2l's SGD, lr 0.1)."""
    if not isinstance(values, Settings) and not (values or {}).get("_target_"):
        sgd = {"_target_": TORCH_PRESETS["optimizer"]["sgd"], **preset("optimizer", "sgd")}
        values = {**sgd, **(values or {})}
    return torch_settings("optimizer", values, torch.optim.Optimizer)


def scheduler_settings(values: dict[str, Any] | Settings | None) -> Settings | None:
    """None for ``scheduler=none`` (an empty group): the learning rate stays the optimizer's."""
    if not values:
        return None
    return torch_settings("scheduler", values, LRScheduler)


def preset(group: str, option: str) -> dict[str, Any]:
    """A preset's values, as mlplab's default where Python code gives none (``MLPModule()``)."""
    values = yaml.safe_load((Path(config_dir()) / group / f"{option}.yaml").read_text()) or {}
    return {k: v for k, v in values.items() if k != "defaults"}


