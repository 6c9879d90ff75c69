"""The job's side of an Optuna search: find this job's trial in the study, report the monitored
value after every validation so the pruner can stop a poor trial early, and tell the study when
it did (the job's ``metrics.json`` then says ``status: pruned``).

A job that the Optuna search launched (``mlplab.sweeps.optuna_sweeper``, which asks and tells the
study) is trial number ``hydra.job.num`` of the study its sweeper config names; outside such a
sweep there is no trial.

A search experiment inside a grid is one plain job. ``mlplab-train -m 'experiment=glob(*)'`` runs
every experiment once under Hydra's basic sweeper (lightning-hydra-template's test of its
experiments); ``experiment=best_mlp_search`` is one of them, and its own config selects
``hparams_search=optuna``, so the job's config names the Optuna sweeper although no search launched
it. It trains once on the experiment's base config (the values its YAML sets; the search's space is
not drawn from, nothing is pruned) and its metrics.json records that run. That is what the grid
asks for, each experiment run once, and what lightning-hydra-template's users expect of glob(*); a
refusal would make glob(*) fail whenever the folder holds a search. The search itself is the same
experiment on its own: ``mlplab-train -m experiment=best_mlp_search``. Hydra tells a job nothing of
the sweeper that launched it, so the sign is the study's: the Optuna sweeper creates the study and
asks the trial before the job starts; a job whose study or running trial is not in storage is no
trial.
"""

from __future__ import annotations

# Optuna and SQLAlchemy come with the ``sweep`` extra (import optuna: 0.2 s): they are imported
# inside the functions that only a search's jobs (or a named storage) reach, so a plain run needs
# neither.
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

SWEEPER = "hydra_plugins.mlplab_sweeper.OptunaSweeper"
DATABASE = "optuna.db"  # the study's file in the sweep folder when no storage is named
# Optuna and SQLAlchemy are imported where they are used: an ordinary run (no search) never loads them.

# Drivers to try, in order, for a URL that names none (postgresql://…) when SQLAlchemy's default for
# its database is not installed: SQLAlchemy 2.1 made psycopg (3) the default for postgresql://, 2.0
# had psycopg2, and mlplab's sweep extra installs psycopg2. A URL that names its driver is kept.
DRIVERS = {"postgresql": ("psycopg", "psycopg2")}


def default_storage(sweep_dir: str | Path) -> str:
    """The study's home when no storage is named: an SQLite file in the sweep folder."""
    return f"sqlite:///{Path(sweep_dir).resolve() / DATABASE}"


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    """The study's SQLAlchemy URL, the same for the sweeper and its jobs: ``storage`` as written,
    with a driver that is installed (``with_driver``), or the default SQLite file."""
    return with_driver(str(storage)) if storage else default_storage(sweep_dir)


def with_driver(url: str) -> str:
    """``url`` itself when it names a driver, when SQLAlchemy's default driver for its database
    imports, or when it is no URL SQLAlchemy reads (opening it says why); else the URL with the
    first driver of ``DRIVERS`` that imports (``postgresql+psycopg2://…``), if any."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        if "+" in parsed.drivername or imports_driver(parsed):
            return url
    except (ArgumentError, NoSuchModuleError):
        return url
    backend = parsed.get_backend_name()
    for driver in DRIVERS.get(backend, ()):
        named = parsed.set(drivername=f"{backend}+{driver}")
        if imports_driver(named):
            return named.render_as_string(hide_password=False)
    return url


def imports_driver(url: Any) -> bool:
    """Whether the DB-API module SQLAlchemy uses for ``url`` (an ``sqlalchemy.URL``) imports."""
    try:
        url.get_dialect().import_dbapi()
    except ImportError:
        return False
    return True


def current_trial() -> Any | None:
    """This job's ``optuna.Trial``: the running trial numbered ``hydra.job.num`` in the study its
    sweeper config names; None outside an Optuna search, and for a job whose config names the
    Optuna sweeper but which no search launched (a search experiment in a grid: module docstring)."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if str(sweeper.get("_target_", "")) != SWEEPER:
        return None
    if not sweeper.storage and not (Path(hydra_cfg.sweep.dir) / DATABASE).is_file():
        return None  # no search made its study here (opening the file would create one)
    import optuna

    storage = optuna.storages.get_storage(storage_url(sweeper.storage, hydra_cfg.sweep.dir))
    try:
        study_id = storage.get_study_id_from_name(sweeper.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(hydra_cfg.job.num))
    except KeyError:  # Optuna's word for a study or a trial not in storage: no search asked it
        return None
    if storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
        return None  # another study's trial, finished: not this job's
    study = optuna.load_study(study_name=sweeper.study_name, storage=storage,
                              pruner=instantiate(sweeper.pruner) if sweeper.get("pruner") else None)
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
