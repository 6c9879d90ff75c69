"""The job's side of an Optuna search: find this job's trial in the study, report the monitored
value after every validation so the pruner can stop a poor trial early, and tell the study when
it did (the job's ``metrics.json`` then says ``status: pruned``).

A job of ``hparams_search=optuna`` is trial number ``hydra.job.num`` of the study the sweeper
config names (``mlplab.sweeps.optuna_sweeper``, which asks and tells the study); outside such a
sweep there is no trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

SWEEPER = "hydra_plugins.mlplab_sweeper.OptunaSweeper"
# Optuna is imported where it is used: an ordinary run (no search) never loads it.


def default_storage(sweep_dir: str | Path) -> str:
    """The study's home when no storage is named: an SQLite file in the sweep folder."""
    return f"sqlite:///{Path(sweep_dir).resolve() / 'optuna.db'}"


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    return str(storage) if storage else default_storage(sweep_dir)


def current_trial() -> Any | None:
    """This job's ``optuna.Trial``, or None outside an Optuna search."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if str(sweeper.get("_target_", "")) != SWEEPER:
        return None
    import optuna

    storage = optuna.storages.get_storage(storage_url(sweeper.storage, hydra_cfg.sweep.dir))
    study = optuna.load_study(study_name=sweeper.study_name, storage=storage,
                              pruner=instantiate(sweeper.pruner) if sweeper.get("pruner") else None)
    number = int(hydra_cfg.job.num)
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


class OptunaPruning(L.Callback):
    """After every validation: report the monitored value to the trial (at the step count), and
    stop the fit at the epoch's end when the pruner says the trial is poor."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_at: int | None = None  # the step at which the pruner stopped the trial

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None or not trainer.is_global_zero:
            return
        self.trial.report(float(value), step=trainer.global_step)
        if self.pruned_at is None and self.trial.should_prune():
            self.pruned_at = trainer.global_step
            trainer.should_stop = True

    def tell_pruned(self) -> str:
        """Mark the trial pruned in the study; the reason for metrics.json."""
        import optuna

        self.trial.study.tell(self.trial.number, state=optuna.trial.TrialState.PRUNED, skip_if_finished=True)
        return (f"pruned by the study's pruner after update {self.pruned_at}: {self.monitor} trails the "
                f"other trials")
