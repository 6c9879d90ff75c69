"""One run of ``mlplab-train``: check the config, build from it, fit, score the test set once,
write the run's outputs (the entry point, ``mlplab.cli.train``, only wraps this).

    check_run → resume_from → build → fit_run → trainer.test → run_record → write_outputs
    logs/runs/<time>/  .hydra/  tensorboard/  checkpoints/  metrics.json  curves.png

``runtime.build`` makes the parts, ``runtime.resume`` finds what to continue from, and
``runtime.record`` writes what the run leaves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from mlplab.errors import Diverged, UserError, describe_os_error
from mlplab.records import RunRecord, RunStatus
from mlplab.reporting.dashboard import TensorBoardDashboard
from mlplab.runtime.build import build
from mlplab.runtime.checkpoints import check_fits
from mlplab.runtime.folder_lock import FolderInUse, hold
from mlplab.runtime.interrupt import (
    GracefulStop,
    Interrupted,
    ctrl_c_as_interrupt,
    reached_the_end,
    stopped_at_epoch_end,
    stopped_mid_epoch,
)
from mlplab.runtime.job_log import move_job_log
from mlplab.runtime.preflight import CheckedRun, check_accelerator, check_run, in_multirun
from mlplab.runtime.record import checkpoint_path, monitor_summary, run_record, trained_on, write_outputs
from mlplab.runtime.resume import earlier_job, resume_from
from mlplab.runtime.spawned import adopt_spawned_fit, fresh_rendezvous
from mlplab.runtime.trial import OptunaPruning, current_trial

log = logging.getLogger(__name__)


def fit_run(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
        resume: Path | None) -> tuple[RunStatus, str | None]:
    """``trainer.fit`` → (status, error): finished, diverged (the loss blew up) or interrupted
    (SIGINT/SIGTERM: at an epoch's end, or at once on a second signal)."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, GracefulStop)), None)
    try:
        with ctrl_c_as_interrupt():
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except Diverged as err:
        return RunStatus.DIVERGED, str(err)
    except OSError as err:  # TensorBoard's event writer names no file: name its folder
        if err.filename is None and describe_os_error(err) and not isinstance(err, UserError):
            err.filename = next((f"{lg.log_dir} (TensorBoard's event file)" for lg in trainer.loggers
                                 if isinstance(lg, TensorBoardLogger)), None)
        raise
    except Interrupted as err:
        return RunStatus.INTERRUPTED, stopped_mid_epoch(err, trainer)
    if stopper and stopper.requested and not reached_the_end(trainer):
        return RunStatus.INTERRUPTED, stopped_at_epoch_end(stopper, trainer)
    return RunStatus.FINISHED, None


def train(cfg: DictConfig, announce: Callable[[DictConfig], None] | None = None) -> RunRecord:
    """Fit and test as ``cfg`` says; returns what it writes to ``metrics.json``. ``announce(cfg)``
    once the settings and the checkpoint to resume from are checked (mlplab-train prints the config).

    A run whose loss blows up ends early as diverged, one stopped by a signal as interrupted
    (``mlplab.records.RunStatus``); neither scores the test set."""
    checked = check_run(cfg, multirun=in_multirun())
    if in_multirun() and (earlier := earlier_job(cfg)) is not None:
        return earlier
    check_accelerator(cfg.trainer)
    resume = resume_from(cfg)
    if announce is not None:
        announce(cfg)
    continues = resume is not None and Path(cfg.paths.output_dir) == resume.resolve().parent.parent
    return held_job(cfg, lambda: fit_and_test(cfg, resume, checked), resuming=continues)


def held_job(cfg: DictConfig, work: Callable[[], RunRecord], resuming: bool = False) -> RunRecord:
    """``work()`` with the run's folder held (one process per run folder: ``folder_lock``); a
    sweep's job whose folder another live process holds (two resumes of one sweep at once) is
    left to it: ``busy``, not a failure of ours. ``resuming``: the run continues in its own folder
    (the refusal then says to wait, not to pick another folder). The batched launcher's members go
    through here too."""
    try:
        with hold(cfg.paths.output_dir, in_sweep=in_multirun(), resuming=resuming):
            return work()
    except FolderInUse as err:
        if not in_multirun() or err.folder != Path(cfg.paths.output_dir):
            raise
        return RunRecord(status=RunStatus.BUSY, error=str(err), hparams={})


def fit_and_test(cfg: DictConfig, resume: Path | None, checked: CheckedRun) -> RunRecord:
    """The body of ``train`` once the run's folder is this process's."""
    out = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, trainer = build(cfg, checked)
    if resume is not None:
        check_fits(resume, module)
        move_job_log(out)  # the run's folder is this process's and its weights fit: its train.log goes on
    pruning = None
    if (trial := current_trial()) is not None:  # a job of an Optuna search: report, maybe prune
        pruning = OptunaPruning(trial, cfg.monitor.name)
        trainer.callbacks.append(pruning)
    start = time.perf_counter()
    status, error = fit_run(trainer, module, datamodule, resume)
    if status is RunStatus.FINISHED and pruning is not None and pruning.pruned_at is not None:
        status, error = RunStatus.PRUNED, pruning.tell_pruned()
    fit_seconds = time.perf_counter() - start
    # a run resumed after its last epoch (killed while testing) fits nothing: its numbers are those of
    # the epoch it ended with, as its history holds them (a sweep's summary ranks it by them)
    ended_with = {k: v for k, v in (module.history[-1] if module.history else {}).items() if k != "epoch"}
    fit_metrics = {**ended_with, **{k: float(v) for k, v in trainer.callback_metrics.items()}}
    adopt_spawned_fit(trainer, module)
    # testing a checkpoint loads that epoch's (shorter) history: keep the fit's
    history = list(module.history)
    ckpt_path, test_metrics = None, {}
    if status is RunStatus.FINISHED:
        ckpt_path = checkpoint_path(trainer, cfg.test_ckpt)
        fresh_rendezvous(trainer, module)
        with ctrl_c_as_interrupt():
            test_metrics = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path,
                                        verbose=False, weights_only=True)[0]
    for callback in trainer.callbacks:  # a run not tested writes its HParams row now (a tested one
        if isinstance(callback, TensorBoardDashboard) and status is not RunStatus.FINISHED:  # did, maybe
            callback.write_hparams(trainer, module, status)  # in a ddp_spawn child)
    result = run_record(cfg, status, error, history, seconds=time.perf_counter() - start,
                        fit_seconds=fit_seconds, device=trained_on(trainer), resume=resume,
                        test_checkpoint=ckpt_path, monitor=monitor_summary(trainer),
                        metrics={**fit_metrics, **{k: float(v) for k, v in test_metrics.items()}})
    if trainer.is_global_zero:
        write_outputs(out, result)
    return result


