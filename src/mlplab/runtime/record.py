"""A run's record and outputs: the checkpoint its test set is scored with, the monitor's best
value, where it trained, ``metrics.json`` (``mlplab.records.RunRecord``) and ``curves.png``; a
sweep job that raised records ``failed`` and why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, StochasticWeightAveraging
from omegaconf import DictConfig, OmegaConf

from mlplab.errors import describe_os_error
from mlplab.files import write_json
from mlplab.records import RunRecord, RunStatus
from mlplab.reporting.curves import plot_curves
from mlplab.runtime.folder_lock import holder
from mlplab.runtime.resume import resume_command

log = logging.getLogger(__name__)


def checkpoint_path(trainer: L.Trainer, which: str) -> str | None:
    """The file a ModelCheckpoint wrote: ``best`` (the one with a monitor) or ``last`` (without);
    None (the weights in memory) under stochastic weight averaging, whose averaged weights are
    what the fit produced and are in no checkpoint."""
    if any(isinstance(c, StochasticWeightAveraging) for c in trainer.callbacks):
        log.info("stochastic weight averaging: scoring the test set with the averaged weights")
        return None
    if trainer.fast_dev_run:  # Lightning's docs: it turns checkpointing off
        log.info("fast_dev_run writes no checkpoints: scoring the test set with the final weights")
        return None
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and (callback.monitor is None) == (which == "last"):
            if not callback.best_model_path:  # e.g. trainer.limit_val_batches=0: no epoch was validated
                log.warning("no %s checkpoint was written (%s was never logged): scoring the test set "
                            "with the final weights", which, callback.monitor or "no epoch ended")
            return callback.best_model_path or None
    log.warning("no %s checkpoint is configured: scoring the test set with the final weights", which)
    return None


def monitor_summary(trainer: L.Trainer) -> dict[str, Any] | None:
    """The validation metric that chose the best checkpoint, its mode and its best value."""
    for callback in trainer.checkpoint_callbacks:
        score = getattr(callback, "best_model_score", None)
        if isinstance(callback, ModelCheckpoint) and callback.monitor and score is not None:
            return {"name": callback.monitor, "mode": callback.mode,
                    "best": float(score)}
    return None


def trained_on(trainer: L.Trainer) -> str:
    """Where the fit ran: the strategy's root device, to which Lightning moved the model and the
    DataModule its data (``cpu``, ``cuda:0``; under ``ddp_spawn`` rank 0's, also in the parent)."""
    return str(trainer.strategy.root_device)


def run_record(cfg: DictConfig, status: RunStatus, error: str | None, history: list[dict[str, float]], *,
               seconds: float, fit_seconds: float, device: str, resume: Path | None,
               test_checkpoint: str | None, monitor: dict[str, Any] | None,
               metrics: dict[str, float], batched: dict[str, Any] | None = None) -> RunRecord:
    """A run's record (a run alone, or a member of a batched group: ``batched`` says how many
    members, which engine and the group's own seconds); ``device``: ``trained_on``."""
    interrupted = status is RunStatus.INTERRUPTED and history
    return RunRecord(status=status, error=error or None, resume=resume_command() if interrupted else None,
                     history=history, seconds=round(seconds, 2), fit_seconds=round(fit_seconds, 2),
                     threads=torch.get_num_threads(), device=device, batched=batched,
                     resumed_from=str(resume) if resume else None, test_checkpoint=test_checkpoint,
                     monitor=monitor, metrics=metrics, hparams=OmegaConf.to_container(cfg, resolve=True))


def write_outputs(out: Path, record: RunRecord) -> None:
    """``metrics.json`` and, when an epoch finished, ``curves.png`` (a run that diverged in its
    first epoch has no curve to draw)."""
    write_json(out / "metrics.json", record.as_json())
    if record.history:
        plot_curves(record.history, out / "curves.png")


def record_failure(cfg: DictConfig, error: str) -> RunRecord:
    """A sweep job that raised: ``metrics.json`` says ``failed`` and why, so the sweep goes on and
    its summary lists the job."""
    try:
        hparams = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # the failure may be an unresolvable value
        hparams = OmegaConf.to_container(cfg, resolve=False)
    result = RunRecord(status=RunStatus.FAILED, error=error, hparams=hparams)
    out = Path(cfg.paths.output_dir)
    if holder(out) is not None:  # the folder is another process's: its metrics.json is not ours
        return result
    try:
        write_json(out / "metrics.json", result.as_json())
    except OSError as err:  # the disk that failed the job may fail this too; the job stays failed
        log.error("cannot record the failure: %s", describe_os_error(err) or err)
    return result

