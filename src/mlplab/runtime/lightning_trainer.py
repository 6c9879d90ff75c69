"""Lightning's Trainer from the ``trainer`` group, and its refusals as one line.

``build_trainer`` builds the run's Trainer; ``try_trainer`` builds one and drops it, before any
data loads, so that a flag Lightning checks only as it builds a Trainer (``limit_train_batches=-1``,
``profiler=simpel``, ``gradient_clip_algorithm=nrom``) stops a sweep before its first job, not at
its turn after the others trained.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from mlplab.errors import ConfigError, causes
from mlplab.runtime.quiet import LIGHTNING_INFO  # whose "GPU available: …" lines each Trainer says


def build_trainer(trainer: DictConfig, **given: Any) -> L.Trainer:
    """The ``trainer`` group's Trainer with ``given`` (callbacks, logger, plugins…) added; a flag
    Lightning refuses as it builds the Trainer is raised as ``trainer_refusal`` says."""
    try:
        # _convert_: a dict the Trainer takes (max_time={minutes: 5}) as a dict, not a DictConfig
        return instantiate(trainer, **given, _convert_="all")
    except InstantiationException as err:
        refusal = trainer_refusal(err)
        if refusal is err:
            raise
        raise refusal from err


def trainer_refusal(err: InstantiationException) -> Exception:
    """Lightning's ``ValueError``/``TypeError`` on a combination of trainer flags (``devices=abc``
    with the CPU), or its ``ImportError`` for a plugin's missing package (``precision=transformer-engine``),
    as the user's mistake, in Lightning's words on one line; anything else as it was (its
    ``MisconfigurationException``, which may be of the callbacks too, is said as it is)."""
    cause = err.__cause__
    frames = traceback.extract_tb(cause.__traceback__) if cause is not None else []
    lightnings = bool(frames) and any(f"/{package}/" in frames[-1].filename
                                      for package in ("lightning", "lightning_fabric", "lightning_utilities"))
    if isinstance(cause, (ValueError, TypeError, ImportError)) and lightnings:
        return ConfigError(f"trainer: {' '.join(str(cause).split())} (Lightning's Trainer)")
    return err


def try_trainer(trainer: DictConfig) -> None:
    """Build the Trainer of ``trainer`` (without the run's logger and callbacks, which are checked
    against their own classes) and drop it; Lightning's refusal is raised as ``build_trainer``'s.
    Quietly, and leaving torch's global flags as they were: the run's own Trainer sets them."""
    with quiet_and_restored():
        try:
            # no folder: default_root_dir reads the job's (paths.output_dir), which a sweep's check of
            # its jobs, before Hydra runs them, cannot resolve; the Trainer writes nothing as it is built
            build_trainer(trainer, logger=False, callbacks=[], default_root_dir=None)
        except ConfigError:
            raise
        except Exception as err:
            said = next((c for c in causes(err) if isinstance(c, MisconfigurationException)), None)
            if said is None:
                raise
            # the Trainer's flags alone were given: its words are about one of them
            raise ConfigError(f"trainer: {' '.join(str(said).split())} (Lightning's Trainer)") from err


@contextlib.contextmanager
def quiet_and_restored() -> Iterator[None]:
    """Lightning's device lines and warnings unsaid; the flags a Trainer sets as it is built
    (``deterministic``, ``benchmark``) and ``CUBLAS_WORKSPACE_CONFIG`` back as they were."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_INFO]
    levels = [lg.level for lg in loggers]
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[2], flags[3]
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace
