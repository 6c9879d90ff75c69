"""``mlplab-train``: compose the config, fit, score the test set once, write the run's outputs.

    logs/runs/<time>/  .hydra/  tensorboard/  checkpoints/  metrics.json  curves.png
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from mlplab.config import config_dir
from mlplab.entry import run_entry
from mlplab.errors import ConfigError
from mlplab.reporting import plot_curves, write_json

log = logging.getLogger(__name__)


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Instantiate the data, the module (shaped by the data) and the trainer from ``cfg``."""
    datamodule = instantiate(cfg.data, _convert_="all")
    module = instantiate(cfg.module, _convert_="all", **datamodule.shape)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    return datamodule, module, trainer


def check_test_checkpoint(which: str, datamodule: L.LightningDataModule) -> None:
    """Before fit: ``test_ckpt`` is best or last, and never best when validation is the test set
    (that would choose the checkpoint on the test set)."""
    if which not in ("best", "last"):
        raise ConfigError(f"test_ckpt={which!r}; choose test_ckpt=best or test_ckpt=last")
    if which == "best" and getattr(datamodule, "validates_on_test", False):
        raise ConfigError("test_ckpt=best would pick the checkpoint on the test set, since this data "
                          "validates on it (e.g. data.val_size=0); use test_ckpt=last as the d2l "
                          "experiments do, or keep a validation split (data.val_size=5000)")


def checkpoint_path(trainer: L.Trainer, which: str) -> str | None:
    """The file a ModelCheckpoint wrote: ``best`` (the one with a monitor) or ``last`` (without)."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and (callback.monitor is None) == (which == "last"):
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


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test as ``cfg`` says; returns what it writes to ``metrics.json``."""
    out = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, trainer = build(cfg)
    check_test_checkpoint(cfg.test_ckpt, datamodule)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    history = list(module.history)  # testing a checkpoint loads that epoch's (shorter) history
    ckpt_path = checkpoint_path(trainer, cfg.test_ckpt)
    test_metrics = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path,
                                verbose=False)[0]
    result = {
        "status": "finished",
        "epochs": trainer.current_epoch,
        "seconds": round(time.perf_counter() - start, 2),
        "fit_seconds": round(fit_seconds, 2),
        "test_checkpoint": ckpt_path,
        "monitor": monitor_summary(trainer),
        "metrics": {**fit_metrics, **{k: float(v) for k, v in test_metrics.items()}},
        "history": history,
        "hparams": OmegaConf.to_container(cfg, resolve=True),
    }
    if trainer.is_global_zero:
        write_json(out / "metrics.json", result)
        plot_curves(history, out / "curves.png")
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    result = run_entry(train, cfg)
    metrics = result["metrics"]
    shown = [f"{k}={metrics[k]:.4f}" for k in ("test/acc", "test/loss", "val/acc", "val/loss")
             if k in metrics]
    print(f"{'  '.join(shown)}  outputs in {cfg.paths.output_dir}")
    monitor = result["monitor"] or {}
    return monitor.get("best")  # what a sweeper (e.g. Optuna) optimises


if __name__ == "__main__":
    main()
