"""What both entry points do around their work: show the config, turn user errors into one
clear line and a non-zero exit (``HYDRA_FULL_ERROR=1`` keeps the traceback)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue
from rich.console import Console

from mlplab.config import config_tree
from mlplab.errors import UserError, causes

T = TypeVar("T")
log = logging.getLogger(__name__)


def user_message(err: BaseException) -> str | None:
    """The one line to show for a mistake the user can fix; None for a bug (keep the traceback)."""
    for cause in causes(err):
        if isinstance(cause, MissingMandatoryValue):
            return f"{cause.full_key} is required: add {cause.full_key}=<value> to the command"
        if isinstance(cause, (UserError, MisconfigurationException)):  # ours, or Lightning's word
            return str(cause)                                        # on a bad trainer setting
    return None


def run_entry(work: Callable[[DictConfig], T], cfg: DictConfig,
              on_failure: Callable[[str], T] | None = None) -> T:
    """``work(cfg)``; a user error becomes one line and exit code 2, a bug keeps its traceback.
    With ``on_failure`` (a sweep job) any error is logged and ``on_failure(message)`` returned."""
    try:
        Console().print(config_tree(cfg))
        return work(cfg)
    except Exception as err:
        message = user_message(err)
        if on_failure is not None:
            if message is None:
                log.exception("the job failed")
            else:
                log.error("%s", message)
            return on_failure(message or f"{type(err).__name__}: {err}")
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
