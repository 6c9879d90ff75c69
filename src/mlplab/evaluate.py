"""``mlplab-eval ckpt_path=…``: score a checkpoint written by mlplab-train on the test set.

The model and the data settings (split, normalisation) are rebuilt from the checkpoint itself,
so the number matches the run's own ``test/acc``. The command picks the data set (``data=…``,
Fashion-MNIST by default), where its files are (``data.data_dir``, …) and the trainer.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from mlplab.checkpoints import load_checkpoint
from mlplab.config import config_dir
from mlplab.entry import run_entry
from mlplab.errors import UserError
from mlplab.module import MLPModule
from mlplab.reporting import write_json


def check_data_matches(data_cfg: DictConfig, data_hparams: dict[str, Any], ckpt_path: str) -> None:
    """The checkpoint's data settings must belong to the chosen data set (``data=…``)."""
    accepted = inspect.signature(get_class(data_cfg._target_)).parameters
    unknown = sorted(set(data_hparams) - set(accepted))
    if unknown:
        raise UserError(f"ckpt_path={ckpt_path} was trained on other data (settings {', '.join(unknown)} "
                        f"are not {data_cfg._target_.rsplit('.', 1)[-1]}'s); pick its data set, e.g. "
                        f"data=polynomial or data=highdim_linear")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    checkpoint = load_checkpoint(cfg.ckpt_path)
    data_hparams = dict(checkpoint.get("datamodule_hyper_parameters", {}))
    for where in ("data_dir", "debian_dir", "download"):  # where the files are: this machine's say
        data_hparams.pop(where, None)
    check_data_matches(cfg.data, data_hparams, cfg.ckpt_path)
    datamodule = instantiate(cfg.data, **data_hparams)
    module = MLPModule(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    metrics = {k: float(v) for k, v in trainer.test(module, datamodule=datamodule)[0].items()}
    write_json(Path(cfg.paths.output_dir) / "metrics.json",
               {"ckpt_path": str(cfg.ckpt_path), "metrics": metrics})
    return metrics


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
def main(cfg: DictConfig) -> None:
    metrics = run_entry(evaluate, cfg)
    shown = [f"{k}={metrics[k]:.4f}" for k in ("test/acc", "test/loss") if k in metrics]
    print(f"{'  '.join(shown)}  from {cfg.ckpt_path}")

if __name__ == "__main__":
    main()
