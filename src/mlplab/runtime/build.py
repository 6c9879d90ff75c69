"""What a run is made of, built from its config: the DataModule, the LightningModule (shaped by
the data), and the Trainer with the run's callbacks and loggers.

    Trainer = instantiate(cfg.trainer, callbacks=…, logger=…, plugins=[AtomicCheckpointIO()])

A flag combination Lightning refuses as the Trainer is built is the user's mistake, said in one
line (``runtime.lightning_trainer.build_trainer``, where a batched group and ``mlplab-eval`` build
theirs too; the pre-flight check builds one first and drops it).
"""

from __future__ import annotations

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlplab.config.signature import locate
from mlplab.errors import ConfigError
from mlplab.runtime.checkpoints import AtomicCheckpointIO
from mlplab.runtime.interrupt import GracefulStop
from mlplab.runtime.lightning_trainer import build_trainer
from mlplab.runtime.preflight import CheckedRun, check_accelerator, check_run
from mlplab.runtime.spawned import EndSpawnedProcessGroup
from mlplab.training.module import MLPModule


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
    trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                            plugins=[AtomicCheckpointIO()])
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
