"""``hydra/launcher=batched``: the jobs of a sweep that can share a forward pass, trained as one
(which jobs: ``mlplab.batched.plan``).

Each job still runs through Hydra's ``run_job`` (its folder, ``.hydra/``, log, return value), with
the task function Hydra gave the launcher. A member of a group gets it with ``run=`` its group's
``JobGroup.run`` in place of ``mlplab.runtime.run.train``: the first member to run fits the whole
group (``mlplab.batched.fit``) and the others pick up their results, which are already in their
folders. Nothing is handed over through module state: the launcher gives each job what it needs.
Every other job runs as the basic launcher runs it, in this process.

``mode``: ``auto``, ``stacked``, ``looped`` (``mlplab.batched.plan``), or ``separate`` (no groups:
each job alone, as the basic launcher runs it). A search's jobs always run alone: each reports to
its own trial.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from mlplab.batched.plan import plan_groups
from mlplab.errors import ConfigError

log = logging.getLogger(__name__)
MODES = ("auto", "stacked", "looped", "separate")


def resolved_job(config: DictConfig) -> DictConfig:
    """A job's config as its task will see it (``paths.output_dir`` and the run name resolved),
    made the way Hydra's ``run_job`` makes it."""
    config = copy.deepcopy(config)
    previous = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(config)
        folder = os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(folder)
        HydraConfig.instance().set_config(config)
        task = copy.deepcopy(config)
        with read_write(task), open_dict(task):
            del task["hydra"]
        return OmegaConf.create(OmegaConf.to_container(task, resolve=True))
    finally:
        HydraConfig.instance().cfg = previous


class BatchedLauncher(Launcher):
    """Runs every job in this process, as Hydra's basic launcher does, with the jobs that can
    share a pass fitted together (module docstring)."""

    def __init__(self, mode: str = "auto", max_members: int = 100) -> None:
        if mode not in MODES:
            raise ConfigError(f"hydra.launcher.mode={mode} is not one of {', '.join(MODES)}; e.g. "
                              f"hydra.launcher.mode=stacked")
        if isinstance(max_members, str) and max_members.isdecimal():  # quoted in YAML, or from ${oc.env:…}
            max_members = int(max_members)
        if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 2:
            raise ConfigError(f"hydra.launcher.max_members={max_members}: a group's largest size, a whole "
                              f"number ≥ 2; e.g. hydra.launcher.max_members=100")
        self.mode, self.max_members = mode, int(max_members)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = idx
            configs.append(config)
        sweeper = str(self.config.hydra.sweeper.get("_target_", ""))
        # a search's jobs report to their own trials (mlplab.runtime.trial): they run alone
        mode = self.mode if sweeper.endswith("BasicSweeper") else "separate"
        jobs = [resolved_job(c) for c in configs]
        groups = plan_groups(jobs, mode, self.max_members)
        log.info(f"Launching {len(configs)} jobs in this process, {len(set(map(id, groups.values())))} "
                 f"batched group(s) of {len(groups)} jobs")
        runs = []
        for config, job, overrides in zip(configs, jobs, job_overrides):
            log.info(f"\t#{config.hydra.job.num} : {' '.join(filter_overrides(overrides))}")
            group = groups.get(str(job.paths.output_dir))
            # a member's task: mlplab-train's, its run handed over by its group (module docstring)
            task = self.task_function if group is None else functools.partial(self.task_function,
                                                                              run=group.run)
            runs.append(run_job(hydra_context=self.hydra_context, task_function=task, config=config,
                                job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs
