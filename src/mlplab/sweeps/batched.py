"""``hydra/launcher=batched``: the jobs of a sweep that can share a forward pass, trained as one.

Jobs share a group when they differ only in what a member of a stack can have of its own
(the settings declared ``per_member`` in ``mlplab.config.schema``: λ, dropout p, the seed where the
data do not follow it; and SGD's lr and momentum) and nothing in them needs a model of its own:
one of the chapter's two networks, SGD without a schedule, no ``torch.compile``, a single
device, callbacks that act at epoch ends (checkpoints, the dashboard, the progress bar), trainer
flags the group is known to honour per member (``STACK_HONOURS``), no earlier result to skip or
resume (a resumed sweep's unfinished jobs run as usual), the basic sweeper.
Every other job runs as the basic launcher runs it, in this process.

Each job still runs through Hydra's ``run_job`` (its folder, ``.hydra/``, log, return value);
the first member of a group to run fits the whole group (``mlplab.runtime.group_fit``) and the
others pick up their results (``batched_group``), which are already in their folders.

``mode``: how a group's steps run (``mlplab.training.stacked``): ``stacked`` (one stacked model),
``looped`` (the members' own networks one after another in each step: still one process, one
data load, one Lightning fit), ``auto`` (stacked where a stacked step of the group's shape is
faster on this device than the members' steps one after another, ``mlplab.sweeps.calibrate``;
else looped); ``separate`` groups nothing (each job alone, as the basic launcher runs it).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from mlplab.config.schema import NET_PRESETS, per_member_keys
from mlplab.config.settings import show, specs
from mlplab.config.trainer import TrainerSettings
from mlplab.errors import ConfigError

log = logging.getLogger(__name__)
MODES = ("auto", "stacked", "looped", "separate")
# settings that name a job's own folder, or the parts of it each member builds for itself
PER_FOLDER = ("paths", "callbacks", "logger", "trainer.default_root_dir")
GROUPS: dict[str, Group] = {}  # a member's run folder → its group, while the launcher runs
STACKABLE_NETS = tuple(NET_PRESETS.values())  # the networks nets.stacked.StackedMLP can hold
# Trainer flags a batched group honours for each member as its own run would (mlplab.runtime.members
# hands every member its epochs, validations, checkpoints and logs); a job that sets any other flag
# away from Lightning's default runs alone, the reason logged.
STACK_HONOURS = ("_target_", "accelerator", "devices", "strategy", "num_nodes", "precision", "max_epochs",
                 "min_epochs", "log_every_n_steps", "num_sanity_val_steps", "deterministic", "benchmark",
                 "default_root_dir", "enable_checkpointing", "enable_progress_bar", "enable_model_summary",
                 "check_val_every_n_epoch", "limit_val_batches", "limit_test_batches", "inference_mode",
                 "use_distributed_sampler")
# callbacks that act at epoch ends only, which a member's run can have (mlplab.runtime.members)
MEMBER_CALLBACKS = ("mlplab.reporting.dashboard.TensorBoardDashboard",
                    *(f"lightning.pytorch.callbacks.{name}" for name in (
                        "ModelCheckpoint", "RichProgressBar", "TQDMProgressBar", "RichModelSummary",
                        "ModelSummary")))


class Group:
    """Jobs fitted together; the first to run fits all, each gets its own result (or the error)."""

    def __init__(self, cfgs: list[DictConfig], engine: str = "stacked") -> None:
        self.cfgs, self.engine = cfgs, engine
        self.folders = [str(cfg.paths.output_dir) for cfg in cfgs]
        self.results: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None

    def result(self, folder: str) -> dict[str, Any]:
        from mlplab.runtime.group_fit import fit_group

        if self.results is None and self.error is None:
            try:
                self.results = fit_group(self.cfgs, [f for f in self.folders if f != folder], self.engine)
            except Exception as err:  # every member's job records it (mlplab.runtime.run.record_failure)
                self.error = err
        if self.error is not None:
            raise self.error
        return self.results[self.folders.index(folder)]


def batched_group(cfg: DictConfig) -> Group | None:
    """The batched group this job is a member of, if any (``Group.result`` gives its result)."""
    return GROUPS.get(str(cfg.paths.output_dir))


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


def without(values: dict[str, Any], dotted: Sequence[str]) -> dict[str, Any]:
    values = copy.deepcopy(values)
    for key in dotted:
        *parents, last = key.split(".")
        node = values
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return values


def group_key(cfg: DictConfig) -> str | None:
    """What members of one group share (everything but their own settings and folders), or None
    with the reason logged when this job must run alone."""
    from mlplab.runtime.sweep_jobs import earlier_result

    reason = alone_because(cfg)
    if reason is None and earlier_result(cfg.paths.output_dir) is not None:
        reason = "it ran before (a resumed sweep)"
    if reason:
        log.info("runs alone: %s (%s)", cfg.paths.output_dir, reason)
        return None
    values = OmegaConf.to_container(cfg, resolve=True)
    return json.dumps(without(values, [*per_member_keys(), *PER_FOLDER]), sort_keys=True, default=str)


def alone_because(cfg: DictConfig) -> str | None:
    """Why this job cannot be a member of a stack; None when it can."""
    optimizer = cfg.get("optimizer") or {}
    if optimizer.get("_target_") != "torch.optim.SGD":
        return f"optimizer {optimizer.get('_target_')}: a stack trains with SGD only"
    if optimizer.get("dampening", 0) or optimizer.get("maximize", False):
        return "SGD with dampening or maximize"
    if cfg.get("scheduler"):
        return "a learning-rate schedule"
    net = cfg.model.net.get("_target_")
    if net not in STACKABLE_NETS:
        return f"model.net._target_={net}: a stack holds {' or '.join(STACKABLE_NETS)} only"
    if cfg.model.get("compile"):
        return "model.compile=true"
    if cfg.get("ckpt_path"):
        return "ckpt_path is set"
    trainer = cfg.trainer
    if trainer.get("devices", 1) not in (1, "1") or str(trainer.get("strategy", "auto")) not in ("auto",):
        return "more than one device"
    for name, callback in (cfg.get("callbacks") or {}).items():
        if callback and callback.get("_target_") not in MEMBER_CALLBACKS:
            return f"callback {name} ({callback.get('_target_')})"
    flags = unhonoured_flags(cfg)
    return f"{', '.join(flags)}: not known to act per member in a stack" if flags else None


def unhonoured_flags(cfg: DictConfig) -> list[str]:
    """The trainer flags of this job that a batched group is not known to honour for each member as
    its own run would (``key=value``): every flag set away from Lightning's default that is not in
    ``STACK_HONOURS``."""
    defaults = {spec.name: spec.default for spec in specs(TrainerSettings)}
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    return [f"trainer.{key}={show(value)}" for key, value in trainer.items()
            if key not in STACK_HONOURS and key in defaults and value != defaults[key]]


def plan_groups(jobs: list[DictConfig], mode: str, max_members: int) -> dict[str, Group]:
    """The groups of ``jobs`` (resolved configs), by run folder; jobs not in a group are absent."""
    if mode == "separate":
        return {}
    by_key: dict[str, list[DictConfig]] = defaultdict(list)
    for cfg in jobs:
        if (key := group_key(cfg)) is not None:
            by_key[key].append(cfg)
    groups: dict[str, Group] = {}
    for members in by_key.values():
        for start in range(0, len(members), max_members):
            chunk = members[start : start + max_members]
            if len(chunk) < 2:
                continue
            engine = "stacked" if mode == "stacked" else "looped"
            if mode == "auto":
                from mlplab.sweeps.calibrate import stacking_pays

                engine = "stacked" if stacking_pays(chunk[0], len(chunk)) else "looped"
            group = Group(chunk, engine)
            groups.update(dict.fromkeys(group.folders, group))
    return groups


class BatchedLauncher(Launcher):
    """Runs every job in this process, as Hydra's basic launcher does, with the jobs that can
    share a pass fitted together (module docstring)."""

    def __init__(self, mode: str = "auto", max_members: int = 100) -> None:
        if mode not in MODES:
            raise ConfigError(f"hydra.launcher.mode={mode} is not one of {', '.join(MODES)}; e.g. "
                              f"hydra.launcher.mode=stacked")
        if int(max_members) < 2:
            raise ConfigError(f"hydra.launcher.max_members={max_members}: a group needs at least 2; "
                              f"e.g. hydra.launcher.max_members=100")
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
        from mlplab.runtime.preflight import COMPOSED  # the jobs the pre-flight check composed

        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            config = COMPOSED.pop(tuple(overrides), None) or \
                self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = idx
            configs.append(config)
        sweeper = str(self.config.hydra.sweeper.get("_target_", ""))
        # a search's jobs report to their own trials (mlplab.sweeps.trial): they run alone
        mode = self.mode if sweeper.endswith("BasicSweeper") else "separate"
        groups = plan_groups([resolved_job(c) for c in configs], mode, self.max_members)
        log.info(f"Launching {len(configs)} jobs in this process, {len(set(map(id, groups.values())))} "
                 f"batched group(s) of {len(groups)} jobs")
        GROUPS.update(groups)
        runs = []
        try:
            for config, overrides in zip(configs, job_overrides):
                log.info(f"\t#{config.hydra.job.num} : {' '.join(filter_overrides(overrides))}")
                runs.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                    config=config, job_dir_key="hydra.sweep.dir",
                                    job_subdir_key="hydra.sweep.subdir"))
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        finally:
            for folder in groups:
                GROUPS.pop(folder, None)
        return runs
