"""The one error path of every entry point: a mistake the user can fix (a value, a file, a path, a
full disk) becomes one line on stderr (``error: …``) and exit status 2; anything else keeps its
traceback.
``HYDRA_FULL_ERROR=1`` shows the traceback of user errors too.

Hydra reports its own errors (a value of the wrong type, an unknown key, a group option that does
not exist) in several lines and exits 1. ``one_line_errors`` lets them reach us instead, through
Hydra's documented switch, and words them like every other mistake, from the declaration of the
setting (``mlplab.config.settings``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, ValidationError
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from mlplab.config.settings import Settings, describe_type_error, describe_unknown_key
from mlplab.errors import UserError, causes, describe_os_error

T = TypeVar("T")
log = logging.getLogger(__name__)
FULL_ERROR = "HYDRA_FULL_ERROR"
USER_EXIT, FAILED_EXIT, INTERRUPTED_EXIT = 2, 1, 130


def wants_traceback() -> bool:
    return os.environ.get(FULL_ERROR) == "1" and not os.environ.get("_MLPLAB_FULL_ERROR_IS_OURS")


def override_of(err: BaseException) -> str | None:
    """The override Hydra was merging (``Error merging override optimizer.lr=fast``)."""
    for cause in causes(err):
        match = re.search(r"merging override (\S+)", str(cause))
        if match:
            return match.group(1)
    return None


def user_message(err: BaseException) -> str | None:
    """The one line to show for a mistake the user can fix; None for a bug (keep the traceback)."""
    for cause in causes(err):
        if isinstance(cause, UserError):
            return str(cause)
        if isinstance(cause, MisconfigurationException):  # Lightning's word on a trainer setting
            return " ".join(str(cause).split())
        if isinstance(cause, MissingMandatoryValue):
            return f"{cause.full_key} is required: add {cause.full_key}=<value> to the command"
        if isinstance(cause, MissingConfigException) and cause.options is not None:
            group, _, option = (cause.missing_cfg_file or "").rpartition("/")
            return (f"{group}={option} is not an option of the {group} group; choose one of "
                    f"{', '.join(o for o in cause.options if not o.startswith('_'))}")
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(cause.object_type, type) \
                and issubclass(cause.object_type, Settings):
            return describe_unknown_key(cause.object_type, str(cause.key))
        if isinstance(cause, ValidationError):
            return describe_type_error(cause, override_of(err))
        if isinstance(cause, OverrideParseException):
            return " ".join(str(cause).split())
        if isinstance(cause, OSError) and describe_os_error(cause):  # the disk, a path
            faults = [c for c in causes(err) if isinstance(c, OSError) and describe_os_error(c)]
            named = [c for c in faults if c.filename]  # rather a file than "a file being written",
            return describe_os_error((named or faults)[-1])  # and the first write that failed
    hydra = [cause for cause in causes(err) if isinstance(cause, ConfigCompositionException)]
    return " ".join(str(hydra[0]).split()) if hydra else None  # Hydra's own words, on one line


def fail(message: str, code: int = USER_EXIT, then: str | None = None) -> NoReturn:
    """``error: <message>`` (and the line ``then``) on stderr, then exit with ``code``."""
    print(f"error: {message}" + (f"\n{then}" if then else ""), file=sys.stderr)
    raise SystemExit(code)


def report(err: BaseException, note: str = "", then: str | None = None) -> NoReturn:
    """Exit with the one line for ``err`` (``note`` before it), or re-raise a bug."""
    message = user_message(err)
    if message is None or wants_traceback():
        raise err
    fail(f"{note}{message}", then=then)


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
    os.environ[FULL_ERROR] = os.environ["_MLPLAB_FULL_ERROR_IS_OURS"] = "1"
    try:
        yield
    except Exception as err:
        report(err)
    finally:
        os.environ.pop(FULL_ERROR, None)
        os.environ.pop("_MLPLAB_FULL_ERROR_IS_OURS", None)


def run_guarded(work: Callable[[DictConfig], T], cfg: DictConfig,
                on_failure: Callable[[str], T] | None = None) -> T:
    """``work(cfg)`` after showing the composed config; a user error becomes one line and exit
    status 2, a bug keeps its traceback. With ``on_failure`` (a sweep job) any error is logged and
    ``on_failure(message)`` returned, so the other jobs go on."""
    try:
        Console().print(config_tree(cfg))
        return work(cfg)
    except Exception as err:
        if on_failure is None:
            report(err)
        message = user_message(err)
        if message is None:
            log.exception("the job failed")
        else:
            log.error("%s", message)
        return on_failure(message or f"{type(err).__name__}: {err}")


def config_tree(cfg: DictConfig) -> Tree:
    """The resolved config as a rich tree, one branch per top-level group."""
    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        tree.add(f"[bold]{key}[/bold]").add(Syntax(text.rstrip(), "yaml", background_color="default"))
    return tree
