"""The one error path of every entry point (the wording and the exit codes: ``mlplab.outcomes``).

Hydra reports its own errors (a value of the wrong type, an unknown key, a group option that does
not exist) in several lines and exits 1. ``one_line_errors`` lets them reach us instead, through
Hydra's documented switch (``HYDRA_FULL_ERROR``), and words them like every other mistake.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from mlplab.errors import describe_os_error
from mlplab.outcomes import (
    FAILED_EXIT,
    FULL_ERROR,
    FULL_ERROR_IS_OURS,
    INTERRUPTED_EXIT,
    USER_EXIT,
    report,
    user_message,
    wants_traceback,
)
from mlplab.runtime.job_log import keep
from mlplab.runtime.preflight import in_multirun
from mlplab.runtime.resume import resume_command
from mlplab.runtime.sweep_jobs import RESUME_LINE

__all__ = ["FAILED_EXIT", "INTERRUPTED_EXIT", "USER_EXIT", "one_line_errors", "run_guarded", "show_config"]

T = TypeVar("T")
log = logging.getLogger(__name__)


def one_line_thread_faults(args: threading.ExceptHookArgs) -> None:
    """A background writer stopped by the machine (TensorBoard's, on a full disk) prints one line;
    its error reaches the main thread too, where ``report`` words it. Anything else: Python's own."""
    line = describe_os_error(args.exc_value) if isinstance(args.exc_value, OSError) else None
    if line is None or wants_traceback():
        threading.__excepthook__(args)
    else:
        print(f"warning: a background writer stopped: {line}", file=sys.stderr)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Run a ``@hydra.main`` function so that its composition errors reach ``report``."""
    # A log file on a full disk must not print a traceback per log line (logging's default);
    # the failure that matters reaches ``report`` with its one line.
    logging.raiseExceptions = False
    threading.excepthook = one_line_thread_faults
    if wants_traceback():
        yield
        return
    os.environ[FULL_ERROR] = os.environ[FULL_ERROR_IS_OURS] = "1"
    try:
        yield
    except KeyboardInterrupt:  # Ctrl-C outside an epoch (inside one, GracefulStop ends the run)
        print(f"error: {interrupted()}", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None
    except Exception as err:
        report(err)
    finally:
        os.environ.pop(RESUME_LINE, None)
        os.environ.pop(FULL_ERROR, None)
        os.environ.pop(FULL_ERROR_IS_OURS, None)


def interrupted() -> str:
    """What a Ctrl-C outside an epoch (loading data, between a sweep's jobs) stopped, and the
    command that goes on: a sweep's own (finished jobs are skipped, a stopped one resumes)."""
    if RESUME_LINE in os.environ or in_multirun():
        line = os.environ.get(RESUME_LINE) or resume_command()
        return f"stopped by Ctrl-C between or before the sweep's runs; resume with: {line}"
    return "stopped by Ctrl-C (outside an epoch, where a run stops at the epoch's end); run the command again"


def run_guarded(work: Callable[[DictConfig], T], cfg: DictConfig,
                on_failure: Callable[[str], T] | None = None) -> T:
    """``work(cfg)``: a user error becomes one line and exit status 2, a bug keeps its traceback.
    With ``on_failure`` (a sweep job) any error is logged and ``on_failure(message)`` returned, so
    the other jobs go on."""
    try:
        return work(cfg)
    except Exception as err:
        message = user_message(err)
        if on_failure is None:
            if message is not None:  # the terminal gets it from report, the job's log file here
                keep(f"error: {message}", error=True)
            report(err)
        if message is None:  # a bug: its traceback (the job's `error:` line names it only)
            log.exception("the job failed")
        return on_failure(message or f"{type(err).__name__}: {err}")


def show_config(cfg: DictConfig) -> None:
    """Print the composed config; the entry points call it once the run's settings are checked, so
    a refused command prints its one line alone."""
    Console().print(config_tree(cfg))


def config_tree(cfg: DictConfig) -> Tree:
    """The resolved config as a rich tree, one branch per top-level group."""
    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        tree.add(f"[bold]{key}[/bold]").add(Syntax(text.rstrip(), "yaml", background_color="default"))
    return tree
