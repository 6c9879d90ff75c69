"""Hydra's view of the schema: the conf/ folder, the ConfigStore entries and the resolvers.

    _train_schema, _eval_schema          what conf/train.yaml and conf/eval.yaml compose against
    data/_<name>, optimizer/_<name>,     the schema of each option of a group whose options differ
    scheduler/_<name>                    (a torch class's arguments); a preset names it first
    ${mlplab.run_name:…}                 the overrides that change what a run computes, as a name
    ${mlplab.help:train|eval}            the --help page
    ${mlplab.direction:max|min}          an Optuna direction from the monitor's mode
"""

from __future__ import annotations

import hashlib
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from mlplab.config import schema
from mlplab.config.help import help_text
from mlplab.config.location import config_dir
from mlplab.config.monitor import STUDY_DIRECTIONS
from mlplab.config.settings import Settings, specs

MAX_NAME_BYTES = 120  # file systems refuse names over 255 bytes; TensorBoard shows ~60 characters
LOCATION_PREFIXES = ("paths.", "hydra.")  # overrides that only say where things go


def where_keys() -> set[str]:
    """Keys of the settings declared ``where=True`` (``data.data_dir``, ``ckpt_path``, …)."""
    return {f"{kind.group}.{spec.name}" if kind.group else spec.name
            for kind in Settings.kinds() for spec in specs(kind) if spec.where}


def computing_overrides(overrides: list[str]) -> list[str]:
    """The command-line overrides that change what a run computes, sorted: without the ones that
    say where files are (``where`` settings, ``paths.*``, ``hydra.*``)."""
    where = where_keys()
    kept = []
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key not in where and not key.startswith(LOCATION_PREFIXES):
            kept.append(override)
    return sorted(kept)


def as_written(overrides: Any) -> list[str]:
    """Hydra's record of command-line overrides (``hydra.overrides.task``) as typed: reading them
    through OmegaConf would resolve a value's ``${…}`` (``hydra.sweep.subdir=job${hydra.job.num}``),
    which only means something where Hydra applies the override."""
    if OmegaConf.is_config(overrides):
        overrides = OmegaConf.to_container(overrides, resolve=False)
    return [str(o) for o in overrides or []]


def short_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` if it fits in ``limit`` bytes, else its start plus ``-`` and 10 hex digits of its
    hash: a run named by a long list of overrides still gets a folder, a distinct one."""
    encoded = name.encode()
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:10]
    return encoded[: limit - 11].decode(errors="ignore") + "-" + digest


def last_parts(overrides: list[str]) -> list[str]:
    """Each override with its key cut to the key's last part (``regularizer.dropout=0.5`` →
    ``dropout=0.5``) where no other override's key ends the same way; a deletion (``~key``, no
    value) as it is."""
    keys = [o.partition("=")[0] for o in overrides]
    last = [k.lstrip("+~").rpartition(".")[2] for k in keys]
    return [f"{short}={o.partition('=')[2]}" if last.count(short) == 1 and "=" in o else o
            for o, short in zip(overrides, last, strict=True)]


def run_name(overrides: list[str]) -> str:
    """The TensorBoard folder of a run: its computing overrides joined by commas, as Hydra's
    ``override_dirname`` joins them (``regularizer.dropout=0.5,regularizer.weight_decay=0.001``);
    a ``/`` (``monitor.name=val/loss``) as ``%2F``, so the name stays one folder. A name over
    ``MAX_NAME_BYTES`` names its keys by their last parts (``dropout=0.5,weight_decay=0.001``)
    before it is cut: cut first, a long command lost the swept values at its end, and TensorBoard
    listed a sweep's runs as one start and different hashes."""
    kept = computing_overrides([str(o) for o in overrides])
    joined = ",".join(kept)
    if len(joined.encode()) > MAX_NAME_BYTES:
        joined = ",".join(last_parts(kept))
    return short_name(joined.replace("/", "%2F"))


def direction(mode: str) -> str:
    """An Optuna study's direction for a monitor's mode: max → maximize, min → minimize."""
    return STUDY_DIRECTIONS.get(str(mode), str(mode))


def register() -> None:
    """Put the schema into Hydra's ConfigStore and register the resolvers (idempotent)."""
    store = ConfigStore.instance()
    store.store(name="_train_schema", node=schema.TrainConfig)
    store.store(name="_eval_schema", node=schema.EvalConfig)
    for group, option_classes in schema.options().items():
        for name, kind in option_classes.items():
            store.store(group=group, name=f"_{name}", node=kind)
    OmegaConf.register_new_resolver("mlplab.run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("mlplab.help", lambda app, _root_: help_text(app, config_dir(), _root_),
                                    replace=True)
    OmegaConf.register_new_resolver("mlplab.direction", direction, replace=True)


register()
