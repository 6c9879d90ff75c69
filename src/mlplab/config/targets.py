"""The objects the ``callbacks`` and ``logger`` groups name by ``_target_`` (Lightning's callbacks and
loggers, or any class), checked against their class's own signature before the run builds them.

Lightning checks a callback's arguments only when the callback first acts: a misspelt argument
(``+callbacks.early_stopping.patiance=3``) is a traceback when the run is built, a wrong type
(``patience=three``) or a metric the fit never logs (``monitor=val/los``) a traceback after the first
epoch. Here each is one line before any data loads (for a sweep, before its first job):

    every argument given  ∈  the class's parameters (all of them where it takes ``**kwargs``)
    every value           :  the parameter's annotation (``mlplab.config.settings.check``)
    ``monitor``, ``mode``  :  a metric the fit logs, ranked the way it improves (``check_mode``)
    a few numbers         ∈  the range Lightning reads them in (``CALLBACK_RANGES``: patience ≥ 0)
    the object itself     :  built once and dropped, so its constructor's own checks speak
                             (``ModelCheckpoint(save_top_k=-2)``); a constructor must not write
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping

from mlplab.config.monitor import check_logged, check_mode
from mlplab.config.settings import Range, Settings, check_ranges
from mlplab.config.signature import locate, signature_settings
from mlplab.errors import ConfigError

HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")  # instantiate's own
# Lightning's arguments with a range its class does not check: (the range, an example). Early
# stopping with patience=-1 stops like patience=0, at the first epoch without a gain.
CALLBACK_RANGES = {EarlyStopping: {"patience": (Range(0), 3)}}


@functools.cache
def target_settings(target: str, key: str) -> type[Settings]:
    """The settings of the class ``target`` as the config node ``key`` (``callbacks.early_stopping``)."""
    kind = locate(target)
    return signature_settings(kind, kind.__name__, key, declared=False)


def takes_any_keyword(kind: type) -> bool:
    """Whether the class passes keywords it does not name on (TensorBoardLogger to its SummaryWriter)."""
    parameters = inspect.signature(kind.__init__).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def built(value: Any) -> Any:
    """An argument as Hydra would pass it: a nested ``_target_`` node built, the rest as it is (a
    job's folder, ``${paths.output_dir}``, has no value before the job starts: its words stand in)."""
    if isinstance(value, Mapping) and "_target_" in value:
        return instantiate(dict(value))
    return value


def check_target(key: str, values: Mapping[str, Any], task: str) -> Settings:
    """One node's arguments against its class (``values``: the node, interpolations resolved)."""
    target = values.get("_target_")
    if not target:
        raise ConfigError(f"{key} names no class: give it one, e.g. "
                          f"+{key}._target_=lightning.pytorch.callbacks.EarlyStopping")
    try:
        kind = locate(str(target))
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"{key}._target_={target} cannot be imported ({err}); give a class by its "
                          f"full dotted name, e.g. lightning.pytorch.callbacks.EarlyStopping") from None
    settings_class = target_settings(str(target), key)
    arguments = {name: value for name, value in values.items() if name not in HYDRA_KEYS}
    if takes_any_keyword(kind):  # the names it passes on are the receiver's to check
        named = set(settings_class.__dataclass_fields__)
        arguments = {name: value for name, value in arguments.items() if name in named}
    settings = settings_class.parse(arguments)
    kinds = [c for c in CALLBACK_RANGES if isinstance(kind, type) and issubclass(kind, c)]  # or a function
    check_ranges(settings, CALLBACK_RANGES[kinds[0]] if kinds else {})
    if getattr(settings, "monitor", None) is not None:  # ModelCheckpoint, EarlyStopping and their kin
        check_logged(settings, "monitor", task)
        if isinstance(getattr(settings, "mode", None), str):
            check_mode(settings, "monitor", "mode")
    try:
        kind(**{name: built(value) for name, value in arguments.items()})
    except (ValueError, TypeError, MisconfigurationException) as err:
        raise ConfigError(f"{key}: {' '.join(str(err).split())} ({target})") from None
    return settings


def check_targets(group: str, nodes: Mapping[str, Mapping[str, Any] | None], task: str) -> None:
    """Every node of ``group`` (``callbacks``, ``logger``); an empty one (``callbacks.swa=null``) is off."""
    for name, values in nodes.items():
        if values:
            check_target(f"{group}.{name}", values, task)
