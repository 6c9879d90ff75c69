"""One run of ``mlplab-train``: build from the config, fit, score the test set once, write the
run's outputs (the entry point, ``mlplab.cli.train``, only wraps this).

    logs/runs/<time>/  .hydra/  tensorboard/  checkpoints/  metrics.json  curves.png
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar, StochasticWeightAveraging
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlplab.config.signature import locate
from mlplab.config.store import as_written
from mlplab.errors import ConfigError, Diverged, UserError, describe_os_error
from mlplab.files import write_json
from mlplab.records import RunRecord, RunStatus
from mlplab.reporting.curves import plot_curves
from mlplab.reporting.dashboard import TensorBoardDashboard
from mlplab.runtime.checkpoints import AtomicCheckpointIO, check_fits, check_left_to_train, resume_checkpoint
from mlplab.runtime.folder_lock import FolderInUse, hold, holder
from mlplab.runtime.interrupt import GracefulStop, Interrupted
from mlplab.runtime.preflight import CheckedRun, check_accelerator, check_run, in_multirun
from mlplab.runtime.spawned import EndSpawnedProcessGroup, fresh_rendezvous
from mlplab.runtime.sweep_jobs import (
    RECORD,
    config_dirs,
    earlier_result,
    finished_run,
    given_to_hydra,
    plan,
    shell_line,
)
from mlplab.runtime.trial import OptunaPruning, current_trial
from mlplab.training.module import MLPModule

log = logging.getLogger(__name__)


def build(cfg: DictConfig,
          checked: CheckedRun | None = None) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The data, the module (shaped by the data) and the trainer of ``cfg``, built from its settings
    as ``check_run`` parsed them (``checked``; parsed here when not given, as from the compose API,
    with the accelerator checked here too)."""
    if checked is None:
        needs_no_hydra_job(cfg)
        checked = check_run(cfg)
        check_accelerator(cfg.trainer)
    datamodule = locate(checked.data._target_)(settings=checked.data)
    module = MLPModule(settings=checked.module, max_loss=cfg.max_loss, **datamodule.shape)
    callbacks = [c for c in (instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c)
                 if not switched_off(c, cfg.trainer)]
    callbacks.append(GracefulStop())  # SIGINT/SIGTERM stop at an epoch's end (mlplab.runtime.interrupt)
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]  # logger=[tensorboard,csv]
    try:
        # _convert_: a dict the Trainer takes (max_time={minutes: 5}) as a dict, not a DictConfig
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                              plugins=[AtomicCheckpointIO()], _convert_="all")
    except InstantiationException as err:
        refusal = trainer_refusal(err)
        if refusal is err:
            raise
        raise refusal from err
    if trainer.world_size > 1:  # a ddp_spawn worker ends cleanly (mlplab.runtime.spawned); a callback
        trainer.callbacks.append(EndSpawnedProcessGroup())  # of one process only costs its hook calls
    return datamodule, module, trainer


def needs_no_hydra_job(cfg: DictConfig) -> None:
    """Outside a Hydra job (the compose API) nothing sets ``${hydra:…}``: the two ``paths`` keys
    that read it must be given, as the README's compose example gives them."""
    written = OmegaConf.to_container(cfg.paths, resolve=False)
    for name in ("output_dir", "run_name"):
        try:
            value = cfg.paths[name]
        except OmegaConfBaseException:
            value = None
        if "${hydra:" in str(written.get(name)) and not value:
            example = 'compose("train", overrides=["paths.output_dir=<folder>", "paths.run_name=<name>", …])'
            raise ConfigError(f"paths.{name} reads Hydra's job (${{hydra:…}}), which the compose API does "
                              f"not start; give it: {example}")


def switched_off(callback: L.Callback, trainer: DictConfig) -> bool:
    """Whether a Trainer flag turns this callback of the ``callbacks`` group off: Lightning's
    ``enable_progress_bar=false``, ``enable_model_summary=false`` and ``enable_checkpointing=false``
    say "no bar", "no summary", "no checkpoints", which the default group's RichProgressBar,
    RichModelSummary and ModelCheckpoints would otherwise still show or write (the last: Lightning
    refuses the pair). Without checkpoints the test set is scored with the final weights."""
    return ((isinstance(callback, ProgressBar) and trainer.get("enable_progress_bar") is False)
            or (isinstance(callback, ModelSummary) and trainer.get("enable_model_summary") is False)
            or (isinstance(callback, ModelCheckpoint) and trainer.get("enable_checkpointing") is False))


def trainer_refusal(err: InstantiationException) -> Exception:
    """Lightning's ``ValueError``/``TypeError`` on a combination of trainer flags (``devices=abc``
    with the CPU), or its ``ImportError`` for a plugin's missing package (``precision=transformer-engine``),
    as the user's mistake, in Lightning's words on one line; anything else as it was."""
    cause = err.__cause__
    frames = traceback.extract_tb(cause.__traceback__) if cause is not None else []
    lightnings = bool(frames) and any(f"/{package}/" in frames[-1].filename
                                      for package in ("lightning", "lightning_fabric", "lightning_utilities"))
    if isinstance(cause, (ValueError, TypeError, ImportError)) and lightnings:
        return ConfigError(f"trainer: {' '.join(str(cause).split())} (Lightning's Trainer)")
    return err


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


def adopt_spawned_fit(trainer: L.Trainer, module: L.LightningModule) -> None:
    """After a ``ddp_spawn`` fit, which ran in child processes: give this process's module its
    epoch history and the checkpoint callbacks their best scores back, from the last checkpoint
    the children wrote (Lightning returns only the weights and the final metrics). The fit ran
    elsewhere when this process's module never saw ``on_train_start``."""
    if getattr(module, "fit_process", None) is not None:
        return
    callbacks = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath]
    last = [Path(c.dirpath) / f"{c.filename}{c.FILE_EXTENSION}" for c in callbacks if c.monitor is None]
    if not last or not last[0].is_file():
        return
    checkpoint = torch.load(last[0], map_location="cpu", weights_only=True)
    module.on_load_checkpoint(checkpoint)
    for callback in callbacks:
        state = checkpoint.get("callbacks", {}).get(callback.state_key)
        if state:
            callback.load_state_dict(state)


def resume_from(cfg: DictConfig) -> Path | None:
    """The checkpoint named by ``ckpt_path`` (a file, or ``last``), checked before any training.
    A run's own checkpoint (``<run>/checkpoints/*.ckpt``, ``<run>`` holding the ``.lock`` every run
    leaves, or Hydra's ``.hydra/``) continues in that run folder (``paths.output_dir`` points there);
    a checkpoint kept anywhere else (``~/models/a.ckpt``) continues its training in this run's new
    folder, so nothing is written beside it."""
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    overrides = as_written(hydra_cfg.overrides.task) if hydra_cfg else None
    path = resume_checkpoint(cfg.get("ckpt_path"), Path(cfg.paths.log_dir) / "runs", overrides)
    if path is None:
        return None
    if finished_run(path.resolve().parent.parent):  # its run's result is written: nothing to finish
        check_left_to_train(path, cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps"))
    run = path.resolve().parent.parent  # conf/callbacks: ${paths.output_dir}/checkpoints
    in_a_run = (run / ".lock").is_file() or (run / ".hydra").is_dir()
    if path.resolve().parent.name == "checkpoints" and in_a_run:
        cfg.paths.output_dir = str(run)
        versions = [p.name for p in (run / "tensorboard").glob("*") if p.is_dir()]
        if len(versions) == 1:  # its TensorBoard curves go on (a longer max_epochs would name another)
            cfg.paths.run_name = versions[0]
        log.info("resuming from %s; outputs continue in %s", path, cfg.paths.output_dir)
    else:
        log.info("resuming from %s, which is not in a run's checkpoints/ folder; outputs go to %s", path,
                 cfg.paths.output_dir)
    return path


def fit_run(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
        resume: Path | None) -> tuple[RunStatus, str | None]:
    """``trainer.fit`` → (status, error): finished, diverged (the loss blew up) or interrupted
    (SIGINT/SIGTERM: at an epoch's end, or at once on a second signal)."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, GracefulStop)), None)
    try:
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


def stopped_mid_epoch(err: Interrupted, trainer: L.Trainer) -> str:
    """Why a fit stopped at once (a second signal), and what its checkpoint holds."""
    done = trainer.current_epoch
    return (f"{err} during epoch {done + 1}{of_epochs(trainer)}; its updates are dropped, "
            f"last.ckpt holds the {done} complete epoch(s)")


def stopped_at_epoch_end(stopper: GracefulStop, trainer: L.Trainer) -> str:
    """Why a fit stopped at an epoch's end (a first signal)."""
    return f"stopped by {stopper.signal_name} after {trainer.current_epoch}{of_epochs(trainer)} epochs"


def of_epochs(trainer: L.Trainer) -> str:
    """`` of 10`` for a fit of 10 epochs; nothing for one bounded by max_steps only."""
    return f" of {trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""


def reached_the_end(trainer: L.Trainer) -> bool:
    """Whether the fit ran as long as it was asked to (max_epochs, or max_steps)."""
    epochs, steps = trainer.max_epochs or -1, trainer.max_steps
    return 0 < epochs <= trainer.current_epoch or 0 < steps <= trainer.global_step


def resume_command() -> str:
    """What to type to continue this run, as a shell line: the same command (its overrides, Hydra's
    own and ``--config-dir`` included) with ``ckpt_path=last``; for a job of a sweep, the sweep's
    own command with its folder, as its ``sweep.json`` records it (``sweep_jobs.command``)."""
    if not HydraConfig.initialized():
        return "mlplab-train ckpt_path=last"
    hydra_cfg = HydraConfig.get()
    if in_multirun():
        try:
            return json.loads((Path(hydra_cfg.sweep.dir) / RECORD).read_text())["command"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no record: the job's own overrides below, which resume the job alone
    kept = [o for o in as_written(hydra_cfg.overrides.task) if not o.startswith("ckpt_path=")]
    return shell_line(["mlplab-train", *config_dirs(hydra_cfg), *kept, *given_to_hydra(hydra_cfg),
                       "ckpt_path=last"])


def earlier_job(cfg: DictConfig) -> RunRecord | None:
    """A sweep job run again (its sweep resumed): its recorded result when it is not to run again;
    when it was interrupted, ``ckpt_path`` points at its ``last.ckpt`` and None is returned."""
    earlier = earlier_result(cfg.paths.output_dir)
    action, last = plan(earlier, cfg.paths.output_dir, cfg.retry_failed)
    if action == "skip":
        log.info("job ran before (%s): not run again", earlier["status"])
        return RunRecord.from_json(earlier, skipped=True)
    if action == "resume":
        cfg.ckpt_path = str(last)
    return None


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
    return held_job(cfg, lambda: fit_and_test(cfg, resume, checked))


def held_job(cfg: DictConfig, work: Callable[[], RunRecord]) -> RunRecord:
    """``work()`` with the run's folder held (one process per run folder: ``folder_lock``); a
    sweep's job whose folder another live process holds (two resumes of one sweep at once) is
    left to it: ``busy``, not a failure of ours. The batched launcher's members go through here too."""
    try:
        with hold(cfg.paths.output_dir, in_sweep=in_multirun()):
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
    pruning = None
    if (trial := current_trial()) is not None:  # a job of an Optuna search: report, maybe prune
        pruning = OptunaPruning(trial, cfg.monitor.name)
        trainer.callbacks.append(pruning)
    start = time.perf_counter()
    status, error = fit_run(trainer, module, datamodule, resume)
    if status is RunStatus.FINISHED and pruning is not None and pruning.pruned_at is not None:
        status, error = RunStatus.PRUNED, pruning.tell_pruned()
    fit_seconds = time.perf_counter() - start
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    adopt_spawned_fit(trainer, module)
    # testing a checkpoint loads that epoch's (shorter) history: keep the fit's
    history = list(module.history)
    ckpt_path, test_metrics = None, {}
    if status is RunStatus.FINISHED:
        ckpt_path = checkpoint_path(trainer, cfg.test_ckpt)
        fresh_rendezvous(trainer, module)
        test_metrics = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path,
                                    verbose=False, weights_only=True)[0]
    for callback in trainer.callbacks:  # a run not tested writes its HParams row now
        if isinstance(callback, TensorBoardDashboard):
            callback.write_hparams(trainer, module)
    result = run_record(cfg, status, error, history, seconds=time.perf_counter() - start,
                        fit_seconds=fit_seconds, device=trained_on(trainer), resume=resume,
                        test_checkpoint=ckpt_path, monitor=monitor_summary(trainer),
                        metrics={**fit_metrics, **{k: float(v) for k, v in test_metrics.items()}})
    if trainer.is_global_zero:
        write_outputs(out, result)
    return result


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
