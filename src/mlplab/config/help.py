"""``mlplab-train --help``: the groups and their options, then every setting as it is declared,
in the order of the schema (``TrainConfig``, or ``EvalConfig`` for mlplab-eval)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from mlplab.config.schema import NET_PRESETS, EvalConfig, TrainConfig, net_class_settings, options
from mlplab.config.settings import Settings, Spec, show, specs, type_name

USAGE = {
    "train": ("mlplab-train: the MLPs of d2l chapter 4 on Fashion-MNIST, with Lightning and Hydra.\n\n"
              "  mlplab-train [group=option ...] [key=value ...]   one run, into logs/runs/<time>/\n"
              "  mlplab-train -m key=a,b key=c,d ...               a sweep, into logs/multiruns/<time>/\n"
              "  mlplab-train --cfg job                            the composed config, then exit\n"),
    "eval": ("mlplab-eval: score a checkpoint written by mlplab-train on the test set.\n\n"
             "  mlplab-eval ckpt_path=logs/runs/<run>/checkpoints/best.ckpt [data=…] [trainer=…]\n"),
}


def group_options(conf_dir: Path) -> dict[str, list[str]]:
    """``{group: [option, …]}`` of the YAML presets under ``conf_dir`` (hydra/ is Hydra's own)."""
    return {folder.name: sorted(p.stem for p in folder.glob("*.yaml"))
            for folder in sorted(p for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra")}


def row(key: str, spec: Spec) -> str:
    allowed = spec.within.describe() if spec.within else "|".join(spec.choices) if spec.choices else ""
    default = show(spec.default) if spec.default != "???" else "(required)"
    kind = type_name(spec.type)
    kind = kind if len(kind) <= 30 else kind[:29] + "…"
    where = " [where]" if spec.where else ""
    return f"  {key:<36} {kind:<30} {default[:16]:<16} {allowed:<14} {spec.help}{where}"


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


def help_text(app: str, conf_dir: str) -> str:
    """The whole ``--help`` page of ``app`` (train or eval); ``$`` is doubled for Hydra's template."""
    schema = TrainConfig if app == "train" else EvalConfig
    names = {f.name for f in dataclasses.fields(schema)}
    lines = [USAGE[app], "Groups (group=option):"]
    options = group_options(Path(conf_dir))
    lines += [f"  {group:<14} {', '.join(choices)}" for group, choices in options.items()
              if app == "train" or group in names]
    lines += ["", "Settings (key=value): type, default, allowed values, what it does. [where]: says where "
              "files are, not what is computed (left out of run names and HParams)."]
    for title, kind in sections(schema):
        prefix = f"{kind.group}." if kind.group else ""
        own = [spec for spec in specs(kind) if kind is not schema or spec.name in names]
        lines += ["", f" {title}", *(row(prefix + spec.name, spec) for spec in own)]
    return "\n".join(lines).replace("$", "$$") + "\n"
