"""What both entry points do around their work: show the config, turn user errors into one
clear line and a non-zero exit (``HYDRA_FULL_ERROR=1`` keeps the traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from omegaconf import DictConfig
from rich.console import Console

from mlplab.config import config_tree
from mlplab.errors import user_error_in

T = TypeVar("T")


def run_entry(work: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    Console().print(config_tree(cfg))
    try:
        return work(cfg)
    except Exception as err:
        user_error = user_error_in(err)
        if user_error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {user_error}", file=sys.stderr)
        raise SystemExit(2) from None
