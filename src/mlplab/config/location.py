"""Where mlplab's Hydra configs are: ``mlplab/conf`` inside an installed wheel, else the
repository's top-level ``conf/``."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def config_dir() -> str:
    for candidate in (PACKAGE_DIR / "conf", PACKAGE_DIR.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no Hydra configs next to {PACKAGE_DIR}; reinstall mlplab")
