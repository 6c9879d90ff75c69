"""Checks that run before any data is loaded or any job starts.

``check_job(cfg)`` builds what is cheap to build (the DataModule's and the LightningModule's
constructors validate their own arguments) and checks the trainer settings. ``PreflightCheck``, a
Hydra callback, runs it for every job of a multirun before the first job starts, so a typo in the
fifth value of a sweep costs nothing; one bad job stops the sweep with one line naming the job.

The multi-process guard: Lightning's ``strategy=ddp`` re-runs the command line in each child
process; inside ``mlplab-train -m`` that restarts the whole sweep once per device. Sweeps therefore
take one device per job; DDP is for single runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mlplab.errors import ConfigError

MULTI_PROCESS = ("ddp", "fsdp", "deepspeed")  # strategy names that start one process per device
SWEEP_FIX = ("in a sweep give each job one device (trainer=default or trainer=gpu, "
             "trainer.devices=1) and run jobs side by side with a launcher (hydra/launcher=joblib, "
             "or hydra/launcher=slurm_gpu for one GPU per job); for data-parallel training start "
             "one run without -m, e.g. `mlplab-train trainer=ddp`")


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
    strategy = str(trainer.get("strategy", "auto"))
    count = device_count(trainer.get("devices", "auto"))
    nodes = int(trainer.get("num_nodes", 1))
    if strategy.startswith(MULTI_PROCESS):
        return count != 1 or nodes > 1
    return strategy == "auto" and (count is None or count > 1 or nodes > 1)


def check_trainer(trainer: DictConfig, multirun: bool) -> None:
    """``max_epochs`` ≥ 1, and no multi-process trainer inside a multirun."""
    epochs = trainer.get("max_epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ConfigError(f"trainer.max_epochs={epochs!r}; set it to a whole number of epochs ≥ 1")
    if multirun and starts_processes(trainer):
        raise ConfigError(
            f"trainer.strategy={trainer.get('strategy', 'auto')} with "
            f"trainer.devices={trainer.get('devices', 'auto')} starts several processes per job, "
            f"but a sweep takes one device per job (Lightning's ddp re-runs the command line, "
            f"which would restart the whole sweep in every process); {SWEEP_FIX}")


def check_test_checkpoint(which: str, datamodule: Any) -> None:
    """Before fit: ``test_ckpt`` is best or last, and never best when validation is the test set
    (that would choose the checkpoint on the test set)."""
    if which not in ("best", "last"):
        raise ConfigError(f"test_ckpt={which!r}; choose test_ckpt=best or test_ckpt=last")
    if which == "best" and getattr(datamodule, "validates_on_test", False):
        raise ConfigError("test_ckpt=best would pick the checkpoint on the test set, since this data "
                          "validates on it (e.g. data.val_size=0); use test_ckpt=last as the d2l "
                          "experiments do, or keep a validation split (data.val_size=5000)")


def check_job(cfg: DictConfig, multirun: bool = False) -> None:
    """Every check that needs no data: trainer settings, then the data and module constructors."""
    check_trainer(cfg.trainer, multirun)
    datamodule = instantiate(cfg.data, _convert_="all")
    instantiate(cfg.module, _convert_="all", **datamodule.shape)
    check_test_checkpoint(cfg.test_ckpt, datamodule)


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The overrides of every job Hydra's basic sweeper will launch, in job order; None for other
    sweepers (Optuna draws its jobs as it goes: each is checked when it starts)."""
    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = config.hydra.sweeper.get("params") or {}
    arguments = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
    parsed = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


def check_sweep(config: DictConfig) -> None:
    """Compose and check every job of a multirun (or, for a search, its base config)."""
    jobs = job_overrides(config)
    if jobs is None:
        check_job(config, multirun=True)
        return
    loader = GlobalHydra.instance().config_loader()
    for number, overrides in enumerate(jobs):
        job_cfg = loader.load_sweep_config(config, overrides)
        try:
            check_job(job_cfg, multirun=True)
        except Exception as err:
            err.add_note(f"job {number} ({' '.join(overrides) or 'no overrides'})")
            raise


class PreflightCheck(Callback):
    """Hydra callback: check every job before a multirun starts its first one."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlplab.entry import user_message

        try:
            check_sweep(config)
        except Exception as err:
            message = user_message(err)
            if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            notes = "; ".join(getattr(err, "__notes__", []))
            print(f"error: {notes + ': ' if notes else ''}{message}\nno job was started",
                  file=sys.stderr)
            raise SystemExit(2) from None
