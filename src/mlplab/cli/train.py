"""``mlplab-train``: compose the config, then one run (``mlplab.runtime.run``).

Exit status: 0 finished; 1 diverged or failed (a sweep: some job did); 2 a mistake in the command
or the files (found before training) or a fault of the machine (a full disk, a forbidden path); 130
stopped by a signal (the resume command is printed).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import hydra
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from mlplab.cli.errors import FAILED_EXIT, INTERRUPTED_EXIT, one_line_errors, run_guarded, show_config
from mlplab.config.store import config_dir
from mlplab.records import RunRecord, RunStatus
from mlplab.runtime.job_log import close_job_log, keep, say
from mlplab.runtime.preflight import in_multirun
from mlplab.runtime.quiet import quiet_third_party
from mlplab.runtime.record import record_failure
from mlplab.runtime.resume import drop_unused_run_folder
from mlplab.runtime.run import train
from mlplab.runtime.threads import set_job_threads


def shown_first(run: Callable[[DictConfig], RunRecord]) -> Callable[[DictConfig], RunRecord]:
    """``run`` after printing the config: for a launcher's job, whose settings its plan checked."""
    def work(cfg: DictConfig) -> RunRecord:
        show_config(cfg)
        return run(cfg)
    return work


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train_job(cfg: DictConfig, run: Callable[[DictConfig], RunRecord] | None = None) -> float | None:
    """Returns what a sweeper optimises: the monitor's best value (``val/acc`` by default), or
    None for a run that did not finish, which Optuna counts as a failed trial. ``run`` makes the
    run's record: by default ``mlplab.runtime.run.train`` (the config is printed once its settings
    pass), or what a launcher hands a job (the batched launcher: the job's share of its group's fit)."""
    try:
        return job(cfg, run)
    finally:
        close_job_log()
        drop_unused_run_folder(cfg)


def job(cfg: DictConfig, run: Callable[[DictConfig], RunRecord] | None) -> float | None:
    """``train_job``'s work, its lines in the job's log file."""
    set_job_threads()
    quiet_third_party(cfg.ignore_warnings)
    # Lightning starts DDP's other processes by running this command again (trainer.devices=2 on
    # CPUs, trainer=ddp): those print no config, and keep their result line to their own log file
    beside_rank_zero = rank_zero_only.rank != 0
    announce = (lambda cfg: None) if beside_rank_zero else show_config
    work = partial(train, announce=announce) if run is None else shown_first(run)
    # In a sweep a failing job is recorded and the others go on; alone, it stops with its error.
    result = run_guarded(work, cfg, on_failure=partial(record_failure, cfg) if in_multirun() else None)
    if result.skipped:  # a resumed sweep: this job ran before
        say(f"{result.status} before, not run again: {cfg.paths.output_dir}/metrics.json")
        return monitored_value(result, cfg) if result.status is RunStatus.FINISHED else None
    if result.status is RunStatus.BUSY:  # another process runs this job; the sweep's end says so
        say(f"busy: {result.error}", error=True)
        return None
    if result.status is RunStatus.PRUNED:  # a search's pruner stopped it: an outcome, not an error
        say(f"{result.error}  outputs in {as_typed(cfg.paths.output_dir)}")
        return None
    if result.status is not RunStatus.FINISHED:
        say(f"error: {result.error}", error=True)
        if result.resume:
            say(f"resume with: {result.resume}", error=True)
        if result.status is RunStatus.INTERRUPTED:  # the user asked to stop: a sweep stops too
            raise SystemExit(INTERRUPTED_EXIT)
        if not in_multirun():  # in a sweep the other jobs go on; the sweep exits non-zero at its end
            raise SystemExit(FAILED_EXIT)
        return None
    shown = [f"{k}={result.metrics[k]:.4f}" for k in ("test/acc", "test/loss", "val/acc", "val/loss")
             if k in result.metrics]
    (keep if beside_rank_zero else say)(f"{'  '.join(shown)}  outputs in {as_typed(cfg.paths.output_dir)}")
    return monitored_value(result, cfg)


def as_typed(folder: str) -> str:
    """A folder under the working directory as a relative path (``logs/runs/<time>``, as one types
    it after ``cd``); any other as it is."""
    path = Path(folder)
    try:
        return str(path.relative_to(Path.cwd())) if path.is_absolute() else folder
    except ValueError:
        return folder


def monitored_value(result: RunRecord, cfg: DictConfig) -> float | None:
    """The monitor's best value; without a checkpoint callback (callbacks=none, fast_dev_run) its
    last one."""
    return (result.monitor or {}).get("best", result.metrics.get(cfg.monitor.name))


def main() -> None:
    with one_line_errors():
        train_job()


if __name__ == "__main__":
    main()
