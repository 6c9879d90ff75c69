"""Score a checkpoint written by mlplab-train on the test set (``mlplab-eval``).

The model and the data settings (split, normalisation) are rebuilt from the checkpoint itself,
so the number matches the run's own ``test/acc``. The command picks the data set (``data=…``,
Fashion-MNIST by default), where its files are (the data settings declared ``where``) and the
trainer.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from mlplab.config.datasets import DATA, data_settings_class
from mlplab.config.schema import EvalConfig
from mlplab.config.settings import describe_unknown_key, specs
from mlplab.config.signature import locate
from mlplab.config.store import as_written
from mlplab.errors import ConfigError, UserError
from mlplab.files import write_json
from mlplab.runtime.checkpoints import load_checkpoint, shape_differences
from mlplab.runtime.lightning_trainer import build_trainer
from mlplab.runtime.preflight import check_accelerator
from mlplab.training.module import MLPModule


def check_data_matches(target: str, data_hparams: dict[str, Any], ckpt_path: str) -> None:
    """The checkpoint's data settings must belong to the chosen data set (``data=…``)."""
    accepted = {spec.name for spec in specs(data_settings_class(target))}
    unknown = sorted(set(data_hparams) - accepted)
    if unknown:
        fitting = [name for name, kind in DATA.items() if set(data_hparams) <= {s.name for s in specs(kind)}]
        choice = f"data={fitting[0]}" if fitting else f"data={' or data='.join(DATA)}"
        raise UserError(f"ckpt_path={ckpt_path} was trained on other data (settings {', '.join(unknown)} "
                        f"are not {target.rsplit('.', 1)[-1]}'s); pick its data set: {choice}")


def check_only_where_data_is_given(where: list[str]) -> None:
    """The command may say where the data's files are (the data settings ``where`` names), not how
    the data is split or prepared: those settings come from the checkpoint (``data.batch_size=1024``
    was taken and silently replaced)."""
    if not HydraConfig.initialized():  # called from code, not from the command line
        return
    for override in as_written(HydraConfig.get().overrides.task):
        key = override.lstrip("+~").partition("=")[0]
        if key.startswith("data.") and key.removeprefix("data.") not in where:
            given = (f"only where the files are: {', '.join(f'data.{name}' for name in where)}" if where
                     else "none of them")
            raise ConfigError(f"{override}: mlplab-eval takes the data settings from the checkpoint (the "
                              f"run's split and preparation, so its number is the run's test/acc); the "
                              f"command gives {given}")


def check_net_importable(hyper_parameters: dict[str, Any], ckpt_path: str) -> None:
    """The network class the checkpoint names must import here: a class from outside mlplab needs
    its folder on PYTHONPATH, as the run that wrote the checkpoint had it."""
    target = str(((hyper_parameters.get("model") or {}).get("net") or {}).get("_target_", ""))
    if not target:
        return
    try:
        locate(target)
    except (ImportError, AttributeError, ValueError) as err:
        said = (f"ckpt_path={ckpt_path} holds a {target} network, which cannot be imported here "
                f"({type(err).__name__}: {err})")
        missing = err.name if isinstance(err, ModuleNotFoundError) else None
        if missing is not None and target.startswith(f"{missing}."):  # its own module is not on the path
            raise UserError(f"{said}; put the folder of its module on PYTHONPATH, as for the run that wrote "
                            f"it: PYTHONPATH=<that folder> mlplab-eval "
                            f"ckpt_path={shlex.quote(str(ckpt_path))}") from None
        raise UserError(f"{said}: the code here is not the code of the run that wrote it (the class moved, "
                        f"or its module needs a package not installed here); run mlplab-eval where that "
                        f"code and its packages are") from None


def unnamed_classes_left_out(hyper_parameters: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints written before the optimizer's and the schedule's class was kept (``_target_``)
    hold only their arguments, which would be read as SGD's; the test set needs neither, so such a
    group is left to its default."""
    return {group: None if group in ("optimizer", "scheduler") and values and "_target_" not in values
            else values for group, values in hyper_parameters.items()}


def evaluate(cfg: DictConfig, announce: Callable[[DictConfig], None] | None = None) -> dict[str, float]:
    """The checkpoint's test metrics; ``announce(cfg)`` once the checkpoint is known to fit here."""
    for key in cfg:  # a key added with "+", which no schema refuses (+sed=1 would be ignored)
        if key not in EvalConfig.__dataclass_fields__ and key != "hydra":
            raise ConfigError(describe_unknown_key(EvalConfig, str(key)))
    where = [spec.name for spec in specs(data_settings_class(cfg.data._target_)) if spec.where]
    check_only_where_data_is_given(where)
    checkpoint = load_checkpoint(cfg.ckpt_path)
    check_net_importable(checkpoint["hyper_parameters"], cfg.ckpt_path)
    data_hparams = {k: v for k, v in checkpoint.get("datamodule_hyper_parameters", {}).items()
                    if k not in where}  # where the files are: this machine's say
    check_data_matches(cfg.data._target_, data_hparams, cfg.ckpt_path)
    check_accelerator(cfg.trainer)
    if announce is not None:
        announce(cfg)
    datamodule = instantiate(cfg.data, **data_hparams)
    module = MLPModule(**unnamed_classes_left_out(checkpoint["hyper_parameters"]))
    if differ := shape_differences(checkpoint, module):  # its own settings built it: the class changed
        raise UserError(f"ckpt_path={cfg.ckpt_path}: its weights do not fit the network its settings build "
                        f"here ({differ}); the class's code changed since the run that wrote it: evaluate it "
                        f"where that code is")
    module.load_state_dict(checkpoint["state_dict"])
    trainer = build_trainer(cfg.trainer, logger=False, enable_checkpointing=False)
    metrics = {k: float(v) for k, v in trainer.test(module, datamodule=datamodule)[0].items()}
    write_json(Path(cfg.paths.output_dir) / "metrics.json",
               {"ckpt_path": str(cfg.ckpt_path), "metrics": metrics})
    return metrics
