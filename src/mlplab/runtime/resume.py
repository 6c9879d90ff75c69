"""Continuing a run: the checkpoint ``ckpt_path`` names (a file, or ``last``) and the folder its
outputs go on in, the line that resumes a stopped run, and a resumed sweep's jobs that ran before
(skipped when they ended, continued from ``last.ckpt`` when they were interrupted).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from mlplab.config.store import as_written
from mlplab.records import RunRecord
from mlplab.runtime.checkpoints import check_left_to_train, resume_checkpoint
from mlplab.runtime.preflight import in_multirun
from mlplab.runtime.sweep_jobs import (
    RECORD,
    config_dirs,
    earlier_result,
    finished_run,
    given_to_hydra,
    plan,
    python_path,
    shell_line,
)

log = logging.getLogger(__name__)
TENSORBOARD, CSV = "tensorboard", "csv"  # conf/logger's folders in a run's (their ``name``)
LOGGER_FOLDERS = (TENSORBOARD, CSV)


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
        board = run / TENSORBOARD
        # its TensorBoard curves go on (a longer max_epochs would name another folder): in the one
        # folder named by its overrides, or in tensorboard/ itself for a run that had none
        versions = [""] if any(board.glob("events.out.tfevents.*")) else [p.name for p in board.glob("*")
                                                                           if p.is_dir()]
        if len(versions) == 1:
            cfg.paths.run_name = versions[0]
        log.info("resuming from %s; outputs continue in %s", path, cfg.paths.output_dir)
    else:
        log.info("resuming from %s, which is not in a run's checkpoints/ folder; outputs go to %s", path,
                 cfg.paths.output_dir)
    return path


def resume_command() -> str:
    """What to type to continue this run, as a shell line: the same command (its overrides, Hydra's
    own and ``--config-dir`` included, after the ``PYTHONPATH`` its classes came from) with
    ``ckpt_path=last``; for a job of a sweep, the sweep's own command with its folder, as its
    ``sweep.json`` records it (``sweep_jobs.command``)."""
    if not HydraConfig.initialized():
        return "mlplab-train ckpt_path=last"
    hydra_cfg = HydraConfig.get()
    if in_multirun():
        try:
            return json.loads((Path(hydra_cfg.sweep.dir) / RECORD).read_text())["command"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no record: the job's own overrides below, which resume the job alone
    kept = [o for o in as_written(hydra_cfg.overrides.task) if not o.startswith("ckpt_path=")]
    return shell_line([*python_path(), "mlplab-train", *config_dirs(hydra_cfg), *kept,
                       *given_to_hydra(hydra_cfg), "ckpt_path=last"])


def earlier_job(cfg: DictConfig) -> RunRecord | None:
    """A sweep job run again (its sweep resumed): its recorded result when it is not to run again;
    when it was interrupted, ``ckpt_path`` points at its ``last.ckpt`` and None is returned; when it
    runs from the start (``retry_failed=true``), its earlier try's logs are removed first."""
    earlier = earlier_result(cfg.paths.output_dir)
    action, last = plan(earlier, cfg.paths.output_dir, cfg.retry_failed)
    if action == "skip":
        log.info("job ran before (%s): not run again", earlier["status"])
        return RunRecord.from_json(earlier, skipped=True)
    if action == "resume":
        cfg.ckpt_path = str(last)
    else:  # from the start: an earlier try's curves (failed, or killed unresumable) are not this run's
        for logs in LOGGER_FOLDERS:
            shutil.rmtree(Path(cfg.paths.output_dir) / logs, ignore_errors=True)
    return None


def drop_unused_run_folder(cfg: DictConfig) -> None:
    """A run resumed in its own folder leaves the folder Hydra made for this command holding only
    Hydra's ``.hydra/`` record (its log went on in the run's own): removed, so that each resume
    does not add a run folder with no run in it. A sweep's jobs resume in their own folders."""
    if not HydraConfig.initialized() or in_multirun():
        return
    made = Path(HydraConfig.get().runtime.output_dir)
    try:  # the job's end: a value that does not resolve has said so already, in its own line
        used = Path(cfg.paths.output_dir)
    except OmegaConfBaseException:
        return
    if made.resolve() == used.resolve() or not made.is_dir():
        return
    if {entry.name for entry in made.iterdir()} <= {".hydra"}:
        shutil.rmtree(made, ignore_errors=True)
