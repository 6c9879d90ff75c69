"""Where the Hydra configs live, how a resolved config is shown, and the ``mlplab.short`` resolver."""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.syntax import Syntax
from rich.tree import Tree

PACKAGE_DIR = Path(__file__).resolve().parent
MAX_NAME_BYTES = 120  # file systems refuse names over 255 bytes; TensorBoard shows ~60 characters


def short_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` if it fits in ``limit`` bytes, else its start plus ``-`` and 10 hex digits of its
    hash: a run named by a long list of overrides still gets a folder, a distinct one."""
    encoded = name.encode()
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:10]
    return encoded[: limit - 11].decode(errors="ignore") + "-" + digest


# paths.run_name (the TensorBoard folder) is ${mlplab.short:${hydra:job.override_dirname}}
OmegaConf.register_new_resolver("mlplab.short", short_name, replace=True)


def config_dir() -> str:
    """``mlplab/conf`` inside an installed wheel, else the repository's top-level ``conf/``."""
    for candidate in (PACKAGE_DIR / "conf", PACKAGE_DIR.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no Hydra configs next to {PACKAGE_DIR}; reinstall mlplab")


def config_tree(cfg: DictConfig) -> Tree:
    """The resolved config as a rich tree, one branch per top-level group."""
    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        tree.add(f"[bold]{key}[/bold]").add(Syntax(text.rstrip(), "yaml", background_color="default"))
    return tree
