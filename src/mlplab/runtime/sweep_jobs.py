"""Resuming a stopped multirun: the same command with ``hydra.sweep.dir=<that sweep>``.

    <sweep>/sweep.json   the command's overrides and, for a grid, every job's overrides (written
                         atomically when the sweep first starts; checked when it is resumed)
    <sweep>/<job>/metrics.json   each job's status: what a resumed sweep does with it

    finished              not run again: its recorded result feeds the summary and the sweeper
    interrupted           resumed from its checkpoints/last.ckpt, into the same folder (bit-exact);
                          also a job killed before it could say so (a requeue after a time limit);
                          a last.ckpt that cannot be read: the job runs from the start
    failed, diverged,     run again only with retry_failed=true
    pruned
    (no metrics.json)     run
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mlplab.config.store import as_written, computing_overrides
from mlplab.errors import ConfigError, UserError
from mlplab.files import write_json
from mlplab.outcomes import report
from mlplab.records import RunStatus
from mlplab.runtime.checkpoints import load_checkpoint
from mlplab.runtime.preflight import job_overrides

log = logging.getLogger(__name__)
RECORD = "sweep.json"
# Hydra's overrides that a resume line does not repeat: the mode (``-m`` says it), the folders (the
# line names its own) and the run name Hydra derives
NOT_REPEATED = ("hydra.mode=", "hydra.sweep.dir=", "hydra.run.dir=")
# words a shell passes on as typed: shlex's safe characters, and the brackets of Hydra's lists
# (``model.net.hidden=[64]``, unquoted as the README writes it)
AS_TYPED = re.compile(r"[\w@%+=:,./\[\]-]+", re.ASCII)


def shell_line(words: list[str]) -> str:
    """``words`` as a line to paste into a shell: a word the shell would change is quoted
    (``'experiment=glob(*)'``, ``'hydra.run.dir="/data/a b"'``)."""
    return " ".join(w if AS_TYPED.fullmatch(w) else shlex.quote(w) for w in words)


def given_to_hydra(hydra_cfg: Any) -> list[str]:
    """The command line's overrides of Hydra's own settings (``hydra/launcher=batched``,
    ``hydra.sweeper.n_trials=20``), those a resume repeats."""
    return [o for o in as_written(hydra_cfg.overrides.hydra) if not o.startswith(NOT_REPEATED)]


def config_dirs(hydra_cfg: Any) -> list[str]:
    """``--config-dir <dir>`` as the command line gave it (user presets, their local/default.yaml)."""
    return [word for source in hydra_cfg.runtime.get("config_sources") or []
            if source.provider == "command-line" for word in ("--config-dir", str(source.path))]


def python_path() -> list[str]:
    """``PYTHONPATH=<folders>`` when this process imported code from folders $PYTHONPATH named
    (one's own network or callback, ``PYTHONPATH=. mlplab-train model.net._target_=mynets.Net``):
    a line that resumes the run must name them too (absolute: ``.`` means the folder it was typed in)."""
    entries = [os.path.abspath(e) for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if not entries:
        return []
    # abspath, not resolve: thousands of modules are loaded, and resolving each is a second here
    files = [os.path.abspath(file) for module in list(sys.modules.values())
             if isinstance(file := getattr(module, "__file__", None), str)]
    used = [entry for entry in dict.fromkeys(entries)
            if any(f.startswith(entry.rstrip(os.sep) + os.sep) for f in files)]
    return [f"PYTHONPATH={os.pathsep.join(used)}"] if used else []


def command(config: DictConfig) -> str:
    """The shell line that resumes the sweep: the ``PYTHONPATH`` its classes came from, ``mlplab-train
    -m``, its ``--config-dir``, its overrides in the order typed, its overrides of Hydra's settings,
    and its folder."""
    words = [*python_path(), "mlplab-train", "-m", *config_dirs(config.hydra),
             *as_written(config.hydra.overrides.task), *given_to_hydra(config.hydra),
             f"hydra.sweep.dir={config.hydra.sweep.dir}"]
    return shell_line(words)


def sweep_record(config: DictConfig, jobs: list[list[str]] | None) -> dict[str, Any]:
    overrides = as_written(config.hydra.overrides.task)
    return {"command": command(config), "overrides": overrides,
            "sweeper": str(config.hydra.sweeper.get("_target_", "")), "jobs": jobs}


def record_or_check(config: DictConfig, jobs: list[list[str]] | None) -> None:
    """Write ``sweep.json`` for a new sweep; for a resumed one, insist on the same sweep and keep
    the command that resumed it (a longer search's ``n_trials``, ``retry_failed=true``) as the one
    its stopped jobs and a refusal print."""
    path = Path(config.hydra.sweep.dir) / RECORD
    record = sweep_record(config, jobs)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
        return
    try:
        saved = json.loads(path.read_text())
        # what is computed: retry_failed=true and folders change nothing (computing_overrides)
        same = computing_overrides(saved["overrides"]) == computing_overrides(record["overrides"]) and \
            [computing_overrides(j) for j in saved.get("jobs") or []] == \
            [computing_overrides(j) for j in record["jobs"] or []]
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is damaged ({err}); resume cannot tell which sweep this was: give a "
                          f"new hydra.sweep.dir (the jobs' folders and metrics.json files are untouched)"
                          ) from None
    if not same:
        raise ConfigError(f"hydra.sweep.dir={config.hydra.sweep.dir} holds another sweep: resume it with "
                          f"`{saved['command']}`, or give a new hydra.sweep.dir")
    if saved["command"] != record["command"]:  # its newest command resumes it (hydra.sweeper.n_trials=40)
        write_json(path, {**saved, "command": record["command"]})
    log.info("resuming the sweep in %s", config.hydra.sweep.dir)


def earlier_result(output_dir: str | Path) -> dict[str, Any] | None:
    """The job's ``metrics.json`` from an earlier run of its sweep, if any (unreadable: None,
    and the job runs again)."""
    path = Path(output_dir) / "metrics.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        log.warning("%s is unreadable: the job runs again", path)
        return None


def finished_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds a finished run's record (its ``metrics.json`` says so)."""
    return (earlier_result(folder) or {}).get("status") == RunStatus.FINISHED


def plan(earlier: dict[str, Any] | None, output_dir: str | Path,
         retry_failed: bool) -> tuple[str, Path | None]:
    """``("skip", None)``, ``("resume", last.ckpt)`` or ``("run", None)`` for a sweep job."""
    status = RunStatus((earlier or {}).get("status", RunStatus.INTERRUPTED))  # none: killed before it wrote
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if status is RunStatus.FINISHED or (status.to_retry and not retry_failed):
        return "skip", None
    if status is RunStatus.INTERRUPTED and last.is_file():
        try:
            load_checkpoint(last)
        except UserError as err:  # truncated or edited by hand: the job starts over
            log.warning("%s; the job runs from the start", err)
            return "run", None
        return "resume", last
    return "run", None


# The running sweep's resume line, for a Ctrl-C between its jobs (mlplab.cli.errors), where Hydra
# has no config set: in the environment of this process (and of the jobs it starts), for its life
RESUME_LINE = "MLPLAB_SWEEP_RESUME"


class SweepRecord(Callback):
    """Hydra callback, after the pre-flight check: write or check the sweep's ``sweep.json``, and
    keep its resume line where a Ctrl-C between jobs finds it (``RESUME_LINE``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            record_or_check(config, job_overrides(config))
        except ConfigError as err:
            report(err, then="no job was started")
        os.environ[RESUME_LINE] = command(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(RESUME_LINE, None)  # every job has run: a Ctrl-C now stops nothing to resume
