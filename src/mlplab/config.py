"""Where the Hydra configs live, and how a resolved config is shown."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.syntax import Syntax
from rich.tree import Tree

PACKAGE_DIR = Path(__file__).resolve().parent


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
