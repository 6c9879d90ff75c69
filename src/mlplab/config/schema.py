"""The run's own settings and the schemas Hydra composes against: ``conf/train.yaml`` against
``TrainConfig``, ``conf/eval.yaml`` against ``EvalConfig`` (``mlplab.config.store``).

Every setting of mlplab is declared once, in the module of its group: ``config.network`` (model,
activation), ``config.module_settings`` (regularizer, and the module's groups checked together),
``config.optimization`` (optimizer, scheduler: a torch class's own arguments), ``config.datasets``
(data, by ``_target_``), ``config.monitor``, and here (paths, the top-level keys). The trainer's
settings are Lightning's (``config.trainer``). The YAML files under ``conf/`` are presets over
them and name only what they change; Hydra refuses a value of the wrong type while it merges the
command line, and building a settings object (``Settings.parse``) checks the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from mlplab.config.datasets import DATA
from mlplab.config.module_settings import RegularizerSettings
from mlplab.config.monitor import MonitorSettings
from mlplab.config.network import ActivationSettings, ModelSettings
from mlplab.config.optimization import TORCH_PRESETS, preset_class
from mlplab.config.settings import SEEDS, Range, Settings, setting, specs
from mlplab.config.trainer import TrainerSettings


@dataclass
class PathsSettings(Settings):
    """Where a run reads and writes: the ``paths`` group of lightning-hydra-template
    (``conf/paths/default.yaml``). Relative paths are relative to the folder mlplab-train runs in
    (``hydra.job.chdir=false``); ``root_dir`` moves ``data_dir`` and ``log_dir`` together."""

    group: ClassVar[str] = "paths"
    root_dir: str = setting(".", "data_dir and log_dir go under here unless given themselves", where=True,
                            example="/scratch/me/mlplab")
    data_dir: str = setting("${oc.env:MLPLAB_DATA_DIR,${paths.root_dir}/data}", "the data sets' folder, "
                            "data.data_dir's default ($MLPLAB_DATA_DIR, else <root_dir>/data)", where=True,
                            example="/data")
    log_dir: str = setting("${paths.root_dir}/logs", "runs/, multiruns/ and evals/ go under here", where=True,
                           example="/scratch/me/logs")
    # None only where Hydra runs no job (--cfg job --resolve prints it so)
    output_dir: str | None = setting("${hydra:runtime.output_dir}", "this run's folder", where=True)
    run_name: str = setting("${mlplab.run_name:${hydra:overrides.task}}",
                            "the TensorBoard folder: the run's overrides (long lists cut and hashed)",
                            where=True)


def ignore_warnings_setting() -> Any:
    """``ignore_warnings``, a top-level key of mlplab-train and of mlplab-eval alike."""
    return setting(True, "hide the third-party noise every run prints (torch's LeafSpec deprecation, "
                   "Lightning's litlogger tip and model-summary note); false shows it", where=True)


@dataclass
class RunSettings(Settings):
    """The top-level keys: what holds for the whole run."""

    seed: int = setting(42, "seeds the split, the init, the batch order and dropout", example=42,
                        within=SEEDS, per_member=True)
    ckpt_path: str | None = setting(None, "resume from a run's checkpoints/last.ckpt, or `last` (the "
                                    "newest run of the same command)", where=True, example="last")
    test_ckpt: str = setting("best", "the weights that score the test set once fit ends",
                             choices=("best", "last"))
    max_loss: float = setting(1e6, "a training loss above this, NaN or inf stops the run as diverged",
                              within=Range(0, math.inf, low_open=True, high_open=True), example=1e6)
    retry_failed: bool = setting(False, "resuming a sweep (hydra.sweep.dir=<it>): run its failed, diverged "
                                 "and pruned jobs again", where=True)
    ignore_warnings: bool = ignore_warnings_setting()


@dataclass
class TrainConfig(RunSettings):
    """The schema ``conf/train.yaml`` composes against (``mlplab.config.store``)."""

    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    data: Any = MISSING  # one of DATA, by _target_
    model: ModelSettings = field(default_factory=ModelSettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)
    regularizer: RegularizerSettings = field(default_factory=RegularizerSettings)
    optimizer: Any = MISSING  # a torch.optim class and its arguments (torch_settings)
    scheduler: Any = field(default_factory=dict)  # an lr_scheduler class and its arguments; {}: none
    trainer: TrainerSettings = MISSING  # conf/trainer presets; its defaults are Lightning's
    logger: Any = None  # Lightning loggers by _target_ (conf/logger)
    callbacks: Any = field(default_factory=dict)  # Lightning callbacks by _target_ (conf/callbacks)
    paths: PathsSettings = field(default_factory=PathsSettings)


@dataclass
class EvalConfig(Settings):
    """The schema of ``conf/eval.yaml`` (``mlplab-eval``)."""

    ckpt_path: str = setting(MISSING, "the .ckpt written by mlplab-train to score", where=True,
                             example="logs/runs/<run>/checkpoints/best.ckpt")
    seed: int = setting(42, "for data settings the checkpoint does not carry", example=42, within=SEEDS)
    ignore_warnings: bool = ignore_warnings_setting()
    # set by the regression data presets for mlplab-train; mlplab-eval has no use for them
    test_ckpt: Any = None
    monitor: Any = None
    data: Any = MISSING
    trainer: TrainerSettings = MISSING  # conf/trainer presets; its defaults are Lightning's
    paths: PathsSettings = field(default_factory=PathsSettings)


def options() -> dict[str, dict[str, type[Settings]]]:
    """The groups whose options have settings of their own: each option's settings class."""
    return {"data": DATA, **{group: {option: preset_class(group, option) for option in presets}
                             for group, presets in TORCH_PRESETS.items()}}


# What a member of a batched group may have of its own besides the settings declared
# ``per_member=True``: the optimizer's step size and momentum (MemberSGD keeps them per member).
PER_MEMBER_ARGUMENTS = {"optimizer": ("lr", "momentum")}


def per_member_keys() -> tuple[str, ...]:
    """Every key the members of one batched group may differ in (``setting(per_member=True)``)."""
    declared = {f"{kind.group}.{spec.name}" if kind.group else spec.name
                for kind in Settings.kinds() for spec in specs(kind) if spec.per_member}
    return tuple(sorted(declared | {f"{group}.{name}" for group, names in PER_MEMBER_ARGUMENTS.items()
                                    for name in names}))

