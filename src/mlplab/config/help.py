"""``mlplab-train --help``: the groups and their options, then every setting as it is declared,
in the order of the schema (``TrainConfig``, or ``EvalConfig`` for mlplab-eval), with the default a
plain run composes (the preset's value where the YAML gives one, else the declared default); last,
the arguments of every other class the command composes by ``_target_`` (a network, optimizer or
schedule of one's own, each callback and logger), with the values it gives them:
``mlplab-train optimizer=any optimizer._target_=torch.optim.RMSprop --help``."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from mlplab.config.network import NET_PRESETS, net_class_settings
from mlplab.config.optimization import TORCH_PRESETS, torch_class_settings
from mlplab.config.schema import EvalConfig, TrainConfig, options
from mlplab.config.settings import Settings, Spec, show, specs, type_name
from mlplab.config.targets import target_settings

USAGE = {
    "train": ("mlplab-train: the MLPs of d2l chapter 4 on Fashion-MNIST, with Lightning and Hydra.\n\n"
              "  mlplab-train [group=option ...] [key=value ...]   one run, into logs/runs/<time>/\n"
              "  mlplab-train -m key=a,b key=c,d ...               a sweep, into logs/multiruns/<time>/\n"
              "  mlplab-train --cfg job                            the composed config, then exit\n"),
    "eval": ("mlplab-eval: score a checkpoint written by mlplab-train on the test set.\n\n"
             "  mlplab-eval ckpt_path=logs/runs/<run>/checkpoints/best.ckpt [data=…] [trainer=…]\n"),
}


def group_options(conf_dir: Path) -> dict[str, list[str]]:
    """``{group: [option, …]}`` of the YAML presets under ``conf_dir``, then Hydra's launcher and
    sweeper groups. Inside Hydra's app (``--help``) every group's options are those of its search
    path: a ``--config-dir`` or ``hydra.searchpath`` folder's presets too, the plugins' launchers."""
    folders = sorted(p for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra")
    groups = [folder.name for folder in folders] + ["hydra/launcher", "hydra/sweeper"]
    if not GlobalHydra.instance().is_initialized():
        return {group: sorted(p.stem for p in (conf_dir / group).glob("*.yaml")) for group in groups}
    loader = GlobalHydra.instance().config_loader()
    return {group: sorted(o for o in loader.get_group_options(group) if not o.startswith("_"))
            for group in groups}


def composed_values(conf_dir: Path, top: dict[str, Any], title: str) -> dict[str, Any]:
    """What a run composes for a section (a run's default is the preset's value, not the class's):
    the top level of the app's YAML (``top``); ``group=option``'s YAML; a group's default option's."""
    if title == "top level":
        return top
    group, _, option = title.partition("=")
    chosen = {k: v for entry in top.get("defaults", []) if isinstance(entry, dict) for k, v in entry.items()}
    path = conf_dir / group / f"{option or chosen.get(group)}.yaml"
    if not path.is_file():
        return {}
    text = path.read_text()
    values = yaml.safe_load(text) or {}
    # a preset "@package _global_" writes its group's values under the group's key (data=polynomial)
    return values.get(group, {}) if text.startswith("# @package _global_") else values


def run_default(values: dict[str, Any], key: str, spec: Spec) -> Any:
    """The value at ``key``'s path under its group in ``values`` (``net.hidden`` of model=scratch),
    else the declared default."""
    node: Any = values
    for part in key.split(".")[1:] or key.split("."):
        if not isinstance(node, dict) or part not in node:
            return spec.default
        node = node[part]
    return node


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row(key: str, spec: Spec, default: Any) -> str:
    allowed = spec.within.describe() if spec.within else "|".join(spec.choices) if spec.choices else ""
    if isinstance(default, dict):  # a class and its arguments (model.net): the class names it
        default = default.get("_target_", default)
    shown = show(default) if default != "???" else "(required)"
    where = " [where]" if spec.where else ""
    kind = cut(type_name(spec.type), 30)
    return f"  {key:<36} {kind:<30} {cut(shown, 18):<18} {allowed:<14} {spec.help}{where}"


def sections(schema: type) -> list[tuple[str, type[Settings]]]:
    """(title, settings class) in the order of ``schema``'s fields: the top-level keys first, a
    group whose options differ once per option (``optimizer=sgd``, ``optimizer=adamw``)."""
    hints = typing.get_type_hints(schema)
    nets = {"model": {option: net_class_settings(target) for option, target in NET_PRESETS.items()}}
    found = [("top level", schema)]
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        if isinstance(kind, type) and issubclass(kind, Settings):
            found.append((f.name, kind))
        for option, option_kind in {**options(), **nets}.get(f.name, {}).items():
            found.append((f"{f.name}={option}", option_kind))
    return found


def composed_classes(root: DictConfig) -> list[tuple[str, str, Any]]:
    """(config key, class name, the node) of each class the composed ``root`` names by
    ``_target_`` that the preset sections do not list."""
    found = []
    net = OmegaConf.select(root, "model.net")
    if isinstance(net, DictConfig) and net.get("_target_") not in (None, *NET_PRESETS.values()):
        found.append(("model.net", net.get("_target_"), net))
    for group, presets in TORCH_PRESETS.items():
        node = root.get(group)
        if isinstance(node, DictConfig) and node.get("_target_") not in (None, *presets.values()):
            found.append((group, node.get("_target_"), node))
    for group in ("callbacks", "logger"):
        nodes = root.get(group)
        for name, node in (nodes.items() if isinstance(nodes, DictConfig) else []):
            if isinstance(node, DictConfig) and node.get("_target_"):
                found.append((f"{group}.{name}", node.get("_target_"), node))
    return found


def class_section(key: str, target: Any, node: DictConfig) -> list[str]:
    """The rows of one composed class: each argument, with the value this command gives it."""
    title = f" {key}: {target}"
    try:
        kind = (net_class_settings(target) if key == "model.net" else torch_class_settings(key, target)
                if key in TORCH_PRESETS else target_settings(target, key))
    except Exception as err:  # a name that does not import: the run itself says so in one line
        return [title, f"  (its arguments cannot be read: {type(err).__name__}: {err})"]
    given = OmegaConf.to_container(node, resolve=False)
    return [title, *(row(f"{key}.{spec.name}", spec, given.get(spec.name, spec.default))
                     for spec in specs(kind) if spec.name not in ("_target_", "_partial_"))]


def help_text(app: str, conf_dir: str, root: DictConfig | None = None) -> str:
    """The whole ``--help`` page of ``app`` (train or eval), for the composed config ``root``;
    ``$`` is doubled for Hydra's template."""
    schema = TrainConfig if app == "train" else EvalConfig
    names = {f.name for f in dataclasses.fields(schema)}
    lines = [USAGE[app], "Groups (group=option):"]
    options = group_options(Path(conf_dir))
    lines += [f"  {group:<14} {', '.join(choices)}" for group, choices in options.items()
              if app == "train" or group in names]
    lines += ["", "Settings (key=value): type, default (what a plain run composes), allowed values, what "
              "it does. [where]: says where files are, not what is computed (left out of run names and "
              "HParams)."]
    top = yaml.safe_load((Path(conf_dir) / f"{app}.yaml").read_text()) or {}  # read once for every section
    for title, kind in sections(schema):
        prefix = f"{kind.group}." if kind.group else ""
        own = [spec for spec in specs(kind) if kind is not schema or spec.name in names]
        values = composed_values(Path(conf_dir), top, title)
        lines += ["", f" {title}"]
        lines += [row(key, spec, run_default(values, key, spec))
                  for spec in own for key in [prefix + spec.name]]
    composed = composed_classes(root) if app == "train" and root is not None else []
    if composed:
        lines += ["", "Classes this command composes by _target_ (their arguments, with the values it gives "
                  "them; a new one needs +, e.g. +callbacks.early_stopping.min_delta=0.01):"]
    for key, target, node in composed:
        lines += ["", *class_section(key, target, node)]
    return "\n".join(lines).replace("$", "$$") + "\n"
