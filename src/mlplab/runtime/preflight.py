"""Checks that run before any data is loaded or any job starts.

``check_run(cfg)`` checks every setting against its declaration (``mlplab.config``; the
trainer's against Lightning's own signature) and the rules between groups, building nothing.
``PreflightCheck``, a Hydra callback, runs it for every job of a multirun before the first job
starts, so a typo in the fifth value of a sweep costs nothing; one bad job stops the sweep with one
line naming the job.

The multi-process guard: Lightning's ``strategy=ddp`` re-runs the command line in each child
process; inside ``mlplab-train -m`` that restarts the whole sweep once per device. Sweeps therefore
take one device per job; DDP is for single runs.

A setting that runs but runs slowly here gets one ``warning: …`` line on stderr, not an error: bf16
on a CPU without bf16 instructions (``mlplab.runtime.precision``), once for a run and once for a
whole sweep, after its checks pass.
"""

from __future__ import annotations

import itertools
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlplab.config.datasets import data_settings_class
from mlplab.config.module_settings import MODULE_GROUPS, ModuleSettings
from mlplab.config.monitor import STUDY_DIRECTIONS, MonitorSettings, check_logged, check_mode
from mlplab.config.schema import RunSettings, TrainConfig
from mlplab.config.settings import Settings, describe_unknown_key
from mlplab.config.store import as_written, direction
from mlplab.config.targets import check_targets
from mlplab.config.trainer import TrainerSettings
from mlplab.errors import ConfigError
from mlplab.outcomes import FAILED_EXIT, report
from mlplab.runtime.lightning_trainer import try_trainer
from mlplab.runtime.precision import bf16_warning
from mlplab.runtime.quiet import submitit_lines_once
from mlplab.training.objective import Objective

MULTI_PROCESS = ("ddp", "fsdp", "deepspeed")  # strategy names that start one process per device
SWEEP_FIX = ("in a sweep give each job one device (trainer=default or trainer=gpu, "
             "trainer.devices=1) and run jobs side by side with a launcher (hydra/launcher=joblib, "
             "or hydra/launcher=slurm_gpu for one GPU per job); for data-parallel training start "
             "one run without -m, e.g. `mlplab-train trainer=ddp` (on CPUs: trainer=ddp_cpu)")


def in_multirun() -> bool:
    """Whether this process is a job of ``mlplab-train -m`` (a Hydra multirun)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def device_count(devices: Any) -> int | None:
    """How many devices ``trainer.devices`` asks for; None when Lightning decides (auto, -1)."""
    if isinstance(devices, str):
        devices = devices.strip()
        if devices in ("auto", "-1"):
            return None
        return len([d for d in devices.split(",") if d.strip()]) if "," in devices else int(devices)
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    return None if devices == -1 else int(devices)


def starts_processes(trainer: DictConfig) -> bool:
    """Whether this trainer would start several processes (DDP and friends) for one run."""
    strategy = str(trainer.get("strategy", "auto")).lower()  # as Lightning reads it
    count = device_count(trainer.get("devices", "auto"))
    nodes = int(trainer.get("num_nodes", 1))
    if strategy.startswith(MULTI_PROCESS):
        return count != 1 or nodes > 1
    return strategy == "auto" and (count is None or count > 1 or nodes > 1)


def check_trainer(trainer: DictConfig, multirun: bool) -> None:
    """Every trainer flag against Lightning's own types (``TrainerSettings``), and no multi-process
    trainer inside a multirun."""
    TrainerSettings.parse(resolved_values(trainer))
    if multirun and starts_processes(trainer):
        raise ConfigError(
            f"trainer.strategy={trainer.get('strategy', 'auto')} with "
            f"trainer.devices={trainer.get('devices', 'auto')} starts several processes per job, "
            f"but a sweep takes one device per job (Lightning's ddp re-runs the command line, "
            f"which would restart the whole sweep in every process); {SWEEP_FIX}")


def check_accelerator(trainer: DictConfig) -> None:
    """The device the trainer asks for must be on this machine (the one that trains: a sweep's
    jobs check it on their own node, not where the sweep was launched)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    missing = {"cuda": not cuda, "gpu": not (cuda or mps), "mps": not mps}.get(accelerator, False)
    if missing:
        wanted = {"cuda": "CUDA", "mps": "Apple MPS"}.get(accelerator, "CUDA or Apple MPS")
        raise ConfigError(f"trainer.accelerator={accelerator}: no {wanted} device is visible on this "
                          f"machine (torch {torch.__version__}); run where there is one, or on the CPU: "
                          f"trainer=default")


def resolved_values(node: Any) -> dict[str, Any]:
    """A config node as a plain dict, its interpolations resolved where they can be: before a
    sweep starts, values that point at a job's own folder (``${hydra:runtime.output_dir}``) have
    no value yet and stay as written (they are where files go, not what is computed)."""
    if not OmegaConf.is_config(node):
        return dict(node or {})
    written = OmegaConf.to_container(node, resolve=False)
    values = {}
    for key in written:
        try:
            value = node[key]
        except OmegaConfBaseException:
            values[key] = written[key]
            continue
        if value is None and ("${hydra:" in str(written[key]) or "paths.output_dir" in str(written[key])):
            # a job's folder: null before the job starts
            values[key] = written[key]
            continue
        values[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return values


@dataclass(frozen=True)
class CheckedRun:
    """A run's settings, parsed and checked once (``check_run``) and handed to what builds the run:
    the DataModule takes ``data``, ``MLPModule`` takes ``module``."""

    data: Settings
    module: ModuleSettings


def check_run(cfg: DictConfig, multirun: bool = False) -> CheckedRun:
    """Every check that needs no data, in the order a reader meets the settings: the run's own
    keys, the data, the module's groups, the trainer; then the rules between them."""
    hydra = cfg.hydra if "hydra" in cfg else HydraConfig.get() if HydraConfig.initialized() else None
    if hydra is not None and hydra.job.get("chdir"):  # a sweep's check sees its jobs' hydra node
        raise ConfigError("hydra.job.chdir=true would move every relative path mlplab reads or writes "
                          "(paths.*, data.data_dir, ckpt_path) into the run's folder; each run writes "
                          "into its own folder already (paths.output_dir): drop hydra.job.chdir=true")
    check_local(hydra)
    for key in cfg:  # a key added with +, which no schema refuses (+max_epochs=1 would be ignored)
        if key not in TrainConfig.__dataclass_fields__ and key != "hydra":  # a sweep's config has hydra
            raise ConfigError(describe_unknown_key(TrainConfig, str(key)))
    top = {f: cfg.get(f) for f in RunSettings.__dataclass_fields__}
    RunSettings.parse(top)
    monitor = MonitorSettings.parse(resolved_values(cfg.monitor))
    data = resolved_values(cfg.data)
    data_settings = data_settings_class(data.pop("_target_", "")).parse(data)
    task = type(data_settings).task
    check_logged(monitor, "name", task)
    check_mode(monitor, "name", "mode")
    module_settings = ModuleSettings.parse(*(resolved_values(cfg[group]) for group in MODULE_GROUPS))
    Objective.of(module_settings, task, module_settings.model.net_class)  # its losses are the data's task's
    scheduler = module_settings.scheduler
    if scheduler is not None and scheduler.monitor:  # ReduceLROnPlateau's
        check_logged(scheduler, "monitor", task)
        if isinstance(getattr(scheduler, "mode", None), str):
            check_mode(scheduler, "monitor", "mode")
    check_trainer(cfg.trainer, multirun)
    if str(cfg.trainer.get("accelerator", "auto")) in ("auto", "cpu"):  # a GPU job is checked on its node
        try_trainer(cfg.trainer)
    for group in ("callbacks", "logger"):  # the classes these name, against their own signatures
        nodes = cfg.get(group) or {}
        check_targets(group, {name: resolved_values(nodes[name]) if nodes[name] else None
                              for name in nodes}, task)
    check_needs_a_logger(cfg)
    if cfg.test_ckpt == "best" and data_settings.validates_on_test:
        split = "val_size" in type(data_settings).__dataclass_fields__  # the synthetic sets have none
        raise ConfigError(f"test_ckpt=best would pick the checkpoint on the test set, since this data "
                          f"validates on it{' (data.val_size=0)' if split else ''}; use test_ckpt=last as "
                          f"the d2l experiments do"
                          + (", or keep a validation split (data.val_size=5000)" if split else ""))
    if not multirun:  # a sweep's jobs: PreflightCheck warns once for all of them
        warn_slow([resolved_values(cfg.trainer)])
    return CheckedRun(data_settings, module_settings)


def check_local(hydra: Any) -> None:
    """``local=<name>`` must name a preset: the group is optional (a machine may have no
    ``local/default.yaml``), so Hydra skips an option it cannot find without a word."""
    chosen = hydra.runtime.choices.get("local") if hydra is not None else None
    if chosen in (None, "default") or not GlobalHydra.instance().is_initialized():
        return
    options = GlobalHydra.instance().config_loader().get_group_options("local")
    if chosen not in options:
        listed = ", ".join(options) or "none here (conf/local/ or --config-dir's local/ holds them)"
        raise ConfigError(f"local={chosen} is not an option of the local group; choose one of {listed}")


# Lightning's callbacks that write only to a logger: without one Lightning refuses them as the fit starts
LOGGER_ONLY = ("lightning.pytorch.callbacks.LearningRateMonitor",
               "lightning.pytorch.callbacks.DeviceStatsMonitor")


def check_needs_a_logger(cfg: DictConfig) -> None:
    """A callback that writes only to a logger (``callbacks=[default,lr_monitor]``) with ``logger=none``."""
    if any(node for node in (cfg.get("logger") or {}).values()):
        return
    for name, node in (cfg.get("callbacks") or {}).items():
        if node and str(node.get("_target_")) in LOGGER_ONLY:
            raise ConfigError(f"callbacks.{name} ({node._target_}) writes only to a logger, and this run has "
                              f"none; add one (logger=tensorboard), or drop the callback")


def warn_slow(trainers: Iterable[dict[str, Any]]) -> None:
    """One ``warning: …`` line on stderr for the first of these trainer settings that would run
    slowly on this machine (``mlplab.runtime.precision.bf16_warning``); nothing when none would."""
    for trainer in trainers:
        if (warning := bf16_warning(trainer)) is not None:
            print(f"warning: {warning}", file=sys.stderr)
            return


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The overrides of every job Hydra's basic sweeper will launch, in job order (its cartesian
    product of the sweep values, later values of a key replacing earlier ones); None for other
    sweepers (Optuna draws its jobs as it goes: each is checked when it starts). The parser gets
    Hydra's config loader, so ``glob(…)`` sweeps over group options expand too."""
    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = config.hydra.sweeper.get("params") or {}
    params = OmegaConf.to_container(params, resolve=False) if OmegaConf.is_config(params) else params
    arguments = [*(f"{k}={v}" for k, v in params.items()), *as_written(config.hydra.overrides.task)]
    loader = GlobalHydra.instance().config_loader()
    choices: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader=loader).parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


def check_direction(config: DictConfig) -> None:
    """A search must optimise the monitor the way the checkpoints rank it."""
    wanted = direction(config.monitor.mode)
    given = config.hydra.sweeper.get("direction")
    if given is not None and str(given) not in STUDY_DIRECTIONS.values():  # maximise: a typo
        raise ConfigError(f"hydra.sweeper.direction={given} is not one of "
                          f"{', '.join(STUDY_DIRECTIONS.values())}; e.g. hydra.sweeper.direction={wanted}, "
                          f"or leave it out: it follows monitor.mode")
    if given is not None and str(given) != wanted:
        raise ConfigError(f"hydra.sweeper.direction={given} but monitor.mode={config.monitor.mode} "
                          f"({config.monitor.name}): the search would seek the worst runs; leave the "
                          f"direction to follow the monitor, or set monitor.mode")


def check_sweep(config: DictConfig) -> None:
    """Compose and check every job of a multirun (or, for a search, its base config)."""
    jobs = job_overrides(config)
    if jobs is None:
        try:
            check_run(config, multirun=True)
            check_direction(config)
        except Exception as err:
            raise JobError(None, [], err) from err
        warn_slow([resolved_values(config.trainer)])
        return
    loader = GlobalHydra.instance().config_loader()
    trainers = []
    for number, overrides in enumerate(jobs):
        try:
            job = loader.load_sweep_config(config, overrides)
            check_run(job, multirun=True)
        except Exception as err:
            raise JobError(number, overrides, err) from err
        trainers.append(resolved_values(job.trainer))
    warn_slow(trainers)


class JobError(Exception):
    """A job of a sweep that would fail: which one, and why."""

    def __init__(self, number: int | None, overrides: list[str], err: Exception) -> None:
        super().__init__("the search" if number is None
                         else f"job {number} ({' '.join(overrides) or 'no overrides'})")
        self.cause = err


class PreflightCheck(Callback):
    """Hydra callback: check every job before a multirun starts its first one. Hydra turns an
    exception of a callback into a warning and goes on, so every outcome but success ends the
    process here: a bad job with its one line (exit 2), a failure of the check itself with its
    traceback (exit 1) — a sweep never starts unchecked."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if "submitit" in str(config.hydra.launcher.get("_target_")):  # hydra/launcher=slurm, local
            submitit_lines_once()
        try:
            check_sweep(config)
        except JobError as err:
            try:
                report(err.cause, note=f"{err}: ", then="no job was started")
            except Exception:  # not a mistake of the user's: the check itself failed
                traceback.print_exc()
                raise SystemExit(FAILED_EXIT) from None
        except Exception:
            traceback.print_exc()
            raise SystemExit(FAILED_EXIT) from None
