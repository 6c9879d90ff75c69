"""(c) mlplab: the fit ``mlplab-train experiment=d2l_mlp_scratch`` runs, in this process: Hydra
composes the config, ``mlplab.runtime.build.build`` makes the DataModule, the module and the
trainer with every callback and logger (TensorBoard, checkpoints, dashboard, progress bar), then
``trainer.fit``. An ``EpochTimer`` callback stamps each epoch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from benchmarks.common import clock, init_checksum
from mlplab.config.store import config_dir
from mlplab.runtime.build import build


class EpochTimer(L.Callback):
    """Stamps each training epoch: ``seconds`` (train + validation) and ``full_seconds`` (all of it).

    In Lightning 2.x the validation loop runs at the end of the training epoch, *before*
    ``on_train_epoch_end``, so on_train_epoch_start → on_train_epoch_end covers train + val.
    It does not cover what runs after a plain callback's ``on_train_epoch_end``: the module's own
    ``on_train_epoch_end`` (epoch metrics, weight norm), the ModelCheckpoint saves (monitoring
    callbacks go last) and the logger's epoch write. ``full_seconds`` includes those: it runs from
    one epoch's start to the next one's (the last epoch: to ``on_train_end``).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.train_end = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.starts.append(clock(self.device))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.ends.append(clock(self.device))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_end = clock(self.device)

    def seconds(self) -> list[float]:
        return [end - start for start, end in zip(self.starts, self.ends, strict=True)]

    def full_seconds(self) -> list[float]:
        return [end - start for start, end in zip(self.starts, [*self.starts[1:], self.train_end],
                                                  strict=True)]


def compose_mlplab(data_dir: Path, out_dir: Path, epochs: int, device: torch.device, seed: int,
                   extra: tuple[str, ...] = ()) -> DictConfig:
    """The config ``mlplab-train experiment=d2l_mlp_scratch`` runs, with our paths and epochs."""
    overrides = ["experiment=d2l_mlp_scratch", f"paths.output_dir={out_dir}", "paths.run_name=bench",
                 f"trainer.max_epochs={epochs}", f"data.data_dir={data_dir}",
                 f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", f"seed={seed}", *extra]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    # As under @hydra.main: ${hydra:…} keys read the global HydraConfig, and the task's own
    # config carries no `hydra` node.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def run_mlplab(data_dir: Path, device: torch.device, epochs: int, seed: int,
               extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """(c): ``build(cfg)`` + ``trainer.fit`` with mlplab's callbacks, TensorBoard and checkpoints;
    ``extra`` overrides, e.g. ``model.compile=true`` for (c')."""
    with tempfile.TemporaryDirectory(prefix="mlplab-bench-") as tmp:
        cfg = compose_mlplab(data_dir, Path(tmp), epochs, device, seed, extra)
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # as mlplab.runtime.run.train does
        datamodule, module, trainer = build(cfg)
        timer = EpochTimer(device)
        trainer.callbacks.append(timer)
        checksum = init_checksum(module.net)
        trainer.fit(module, datamodule=datamodule)
        return {"epoch_seconds": timer.seconds(), "full_epoch_seconds": timer.full_seconds(),
                "test_acc": float(trainer.callback_metrics["val/acc"]), "init_checksum": checksum}
