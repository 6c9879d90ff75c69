"""``hparams_search=optuna``: a Hydra sweeper on Optuna's ask-and-tell API (Optuna ≥ 4).

    ask  a trial (its parameters drawn by the sampler) → launch it as a job with those overrides
    tell its result: the monitored value (the job's return), or failed; the job itself tells
         "pruned" when the pruner stops it (mlplab.runtime.trial)

The study lives in storage: by default ``<sweep>/optuna.db`` (SQLite, nothing to start), or any
SQLAlchemy URL (``hydra.sweeper.storage=postgresql://…``) that several workers share; a URL that
names no driver gets an installed one (``mlplab.runtime.trial.with_driver``), and one that cannot
be opened stops the search before its first trial (``mlplab.sweeps.storage``). Each worker's
sampler has its own seed, fixed by its first trial's number, so workers sharing a study draw
different trials and one worker the same ones every time (``mlplab.sweeps.worker_seeds``). Rerunning the
same command with ``hydra.sweep.dir=<that sweep>`` (or the same storage) continues the study:
``n_trials`` counts its finished trials (complete, pruned or failed), whoever ran them; a trial that was
interrupted resumes from its last.ckpt. A trial still running elsewhere keeps its place (a worker
killed mid-trial holds it until its own sweep is resumed). A job's folder is
named by its trial number, so workers sharing a study and a sweep folder never collide. Keys as
in Hydra's Optuna sweeper: ``sampler``, ``direction``, ``storage``, ``study_name``, ``n_trials``,
``n_jobs``, ``max_failure_rate``, ``params``; plus ``pruner``.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mlplab.config.store import computing_overrides
from mlplab.errors import ConfigError
from mlplab.files import write_text
from mlplab.records import RunStatus
from mlplab.runtime.sweep_jobs import RECORD, earlier_result
from mlplab.runtime.trial import storage_url

log = logging.getLogger(__name__)
# Optuna and SQLAlchemy (and the modules of this package that import them) are imported where they
# are used: Hydra imports this module at every start (plugin discovery).


def distribution(override: Override) -> Any:
    """The Optuna distribution of a sweep override (``choice``, ``range``, ``interval``, with
    ``tag(log, …)``); None for a fixed value."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return None
    if override.is_choice_sweep() or (override.is_range_sweep() and override.value().shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    value = override.value()
    if override.is_range_sweep():  # the values Hydra's basic sweeper would run: its stop is excluded
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"{override.input_line} holds no value (Hydra's range excludes its stop); "
                              f"e.g. {override.get_key_element()}=range(0,0.6,0.2)")
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return stepped_floats(values, abs(value.step))
        return IntDistribution(min(values), max(values), step=abs(int(value.step)))
    log_scale = "log" in value.tags
    if isinstance(value.start, int) and isinstance(value.end, int):
        return IntDistribution(value.start, value.end, log=log_scale)
    return FloatDistribution(float(value.start), float(value.end), log=log_scale)


def stepped_floats(values: list[float], step: float) -> Any:
    """Hydra's float range as Optuna's stepped FloatDistribution, its values rounded to 12 decimals
    (Hydra adds the step up: 0.8999999999999999, 5.6e-17 for 0), since Optuna lowers an end the step
    does not reach exactly (0.9 would never be drawn). Where it would still lower it: the values as
    categories."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    rounded = sorted(round(v, 12) for v in values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "not divisible by step": handled below
        stepped = FloatDistribution(rounded[0], rounded[-1], step=step)
    return stepped if math.isclose(stepped.high, rounded[-1]) else CategoricalDistribution(rounded)


def search_space(arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(distributions by key, the fixed overrides) of ``key=value`` arguments (``params`` first, then
    the command line's). A later argument of a key replaces an earlier one, as in Hydra's Optuna
    sweeper: ``regularizer.dropout=0.3`` on the command line fixes a key the preset searches."""
    distributions, fixed = {}, {}
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        found = distribution(override)
        if found is None:
            fixed[key] = override.input_line
        else:
            distributions[key] = found
    return distributions, list(fixed.values())


SEARCH = "mlplab_search"  # the study's user attribute that says which search it holds


def search_identity(distributions: dict[str, Any], fixed: list[str]) -> dict[str, Any]:
    """What makes two commands one search: the overrides that change what a job computes (not
    where it writes: ``mlplab.config.store.computing_overrides``) and the space drawn from."""
    space = {key: repr(drawn) for key, drawn in sorted(distributions.items())}
    return {"fixed": computing_overrides(fixed), "space": space}


def check_same_search(study: Any, identity: dict[str, Any], where: str,
                      distributions: dict[str, Any]) -> None:
    """A study holds one search: a stored study of another (other fixed overrides or space) is
    refused, not continued, since its trials and best value are not this search's. A new study takes
    this search's identity; so does one made before mlplab recorded it, unless its trials drew from
    another space (the fixed overrides it ran with are not known)."""
    held = study.user_attrs.get(SEARCH)
    if held is None:
        if any(trial.distributions and trial.distributions != distributions for trial in study.trials):
            raise ConfigError(f"hydra.sweeper.study_name={study.study_name} in {where} holds another search "
                              f"(its trials drew from another space than this one's: "
                              f"{', '.join(sorted(distributions))}); give this one its own name, e.g. "
                              f"hydra.sweeper.study_name={study.study_name}-2")
        study.set_user_attr(SEARCH, identity)
        return
    if held == identity:
        return
    there = sorted(set(held["fixed"]) - set(identity["fixed"])) + \
        [f"{k}~{v}" for k, v in held["space"].items() if identity["space"].get(k) != v]
    here = sorted(set(identity["fixed"]) - set(held["fixed"])) + \
        [f"{k}~{v}" for k, v in identity["space"].items() if held["space"].get(k) != v]
    raise ConfigError(f"hydra.sweeper.study_name={study.study_name} in {where} holds another search "
                      f"(it has {' '.join(there) or 'nothing more'}; this one has "
                      f"{' '.join(here) or 'nothing more'}); "
                      f"give this one its own name, e.g. hydra.sweeper.study_name={study.study_name}-2, or "
                      f"continue that one with its own command")


def built(spec: Any) -> Any:
    """A sampler or pruner: Hydra hands the sweeper its nested configs already instantiated."""
    return instantiate(spec) if isinstance(spec, DictConfig) else spec


def sampler_of(spec: Any) -> Any:
    """The study's sampler. The preset's is a partial (``_partial_: true``) with a ``seed``: built
    at this worker's first trial with the worker's own seed (``SeedPerWorker``). Without a seed
    (``seed: null``) it is built now, with Optuna's random seed; a sampler built already is used as
    it is."""
    from mlplab.sweeps.worker_seeds import SeedPerWorker

    sampler = built(spec)
    if not isinstance(sampler, functools.partial):
        return sampler
    seed = sampler.keywords.get("seed")
    return sampler() if seed is None else SeedPerWorker(sampler, seed)


class OptunaSweeper(Sweeper):
    def __init__(self, sampler: Any = None, pruner: Any = None, direction: str = "maximize",
                 storage: str | None = None, study_name: str = "mlplab", n_trials: int = 20, n_jobs: int = 1,
                 max_failure_rate: float = 1.0, params: DictConfig | None = None) -> None:
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"hydra.sweeper.direction={direction} is not maximize or minimize")
        if isinstance(n_trials, str) and n_trials.isdecimal():  # quoted in YAML, or from ${oc.env:…}
            n_trials = int(n_trials)
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"hydra.sweeper.n_trials={n_trials} must be ≥ 1 (the trials the study ends "
                              f"with); e.g. hydra.sweeper.n_trials=20")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={max_failure_rate} must be in [0, 1]")
        self.sampler, self.pruner, self.direction = sampler, pruner, direction
        self.storage, self.study_name, self.n_trials, self.n_jobs = storage, study_name, n_trials, n_jobs
        self.max_failure_rate, self.params = max_failure_rate, params

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.config_loader = config, hydra_context.config_loader
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def check_draws(self, distributions: dict[str, Any], fixed: list[str]) -> None:
        """Each searched key at the ends of its range (each choice of a category), with the fixed
        overrides, composed and checked as a trial's job would be: a value the search may draw that
        every trial would be refused for (dropout on a model without hidden layers) is one line now,
        not a failed trial each. Pre-flight checked the base config only."""
        from mlplab.runtime.preflight import check_run

        for key, drawn in distributions.items():
            ends = drawn.choices if hasattr(drawn, "choices") else (drawn.low, drawn.high)
            for value in ends:
                job = self.config_loader.load_sweep_config(self.config, [*fixed, f"{key}={value}"])
                try:
                    check_run(job, multirun=True)
                except ConfigError as err:
                    raise ConfigError(f"{key}={value}, a value the search draws from: {err}; no trial was "
                                      f"started") from None

    def study(self) -> Any:
        """The study, created or loaded. A named storage that cannot be opened stops here, before
        the sweep folder is made. Workers started together race to create its tables in a new
        database; the loser finds them made and loads the study on its next try."""
        import optuna
        import sqlalchemy.exc

        from mlplab.sweeps.storage import check_storage

        storage = storage_url(self.storage, self.sweep_dir)
        if self.storage:
            check_storage(storage, str(self.storage))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            try:
                return optuna.create_study(study_name=self.study_name, direction=self.direction,
                                           load_if_exists=True, storage=storage,
                                           sampler=sampler_of(self.sampler), pruner=built(self.pruner))
            except sqlalchemy.exc.SQLAlchemyError as err:
                if attempt == 4:
                    raise
                log.info("the study's storage is busy (%s): trying again", type(err).__name__)
                time.sleep(0.5 + random.random())
        raise AssertionError("unreachable")

    def sweep(self, arguments: list[str]) -> None:
        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        distributions, fixed = search_space([*params, *arguments])
        try:
            study = self.study()
            self.check_draws(distributions, fixed)
            identity = search_identity(distributions, fixed)
            check_same_search(study, identity, self.shown_storage(), distributions)
        except ConfigError:  # refused before any trial: a new sweep folder is left as it was before
            self.remove_unused_sweep_folder()
            raise
        log.info("study %s in %s: %d of %d trials finished", study.study_name, self.shown_storage(),
                 finished(study), self.n_trials)
        failures = 0
        if stopped := self.stopped_here(study):  # a resumed search: its interrupted trials first
            log.info("resuming trial(s) %s from their last.ckpt", ", ".join(str(t.number) for t in stopped))
            failures += self.run(study, stopped, fixed)
        while (to_ask := self.n_trials - finished(study) - running(study)) > 0:
            trials = [study.ask(distributions) for _ in range(min(self.n_jobs, to_ask))]
            failures += self.run(study, trials, fixed)
            if failures / max(1, len(study.trials)) > self.max_failure_rate:
                raise ConfigError(f"{failures} trials failed: more than hydra.sweeper.max_failure_rate="
                                  f"{self.max_failure_rate}; see each job's metrics.json")
        self.write_results(study)

    def remove_unused_sweep_folder(self) -> None:
        """The sweep's folder when it holds only the ``sweep.json`` this start wrote (a study kept in
        another storage): a refused search leaves no folder that looks like a search."""
        entries = {p.name for p in self.sweep_dir.iterdir()} if self.sweep_dir.is_dir() else {"…"}
        if entries <= {RECORD}:
            shutil.rmtree(self.sweep_dir, ignore_errors=True)

    def stopped_here(self, study: Any) -> list[Any]:
        """Trials still running in the study whose job, in this sweep's folder, was interrupted
        (Ctrl-C, a requeue): run again, they resume from their last.ckpt (mlplab.runtime.sweep_jobs)."""
        from optuna.trial import TrialState

        def interrupted(number: int) -> bool:
            folder = self.sweep_dir / str(number)
            status = (earlier_result(folder) or {}).get("status", RunStatus.INTERRUPTED)  # none yet: killed
            return folder.is_dir() and status == RunStatus.INTERRUPTED

        return [t for t in study.trials if t.state == TrialState.RUNNING and interrupted(t.number)]

    def run(self, study: Any, trials: list[Any], fixed: list[str]) -> int:
        """Launch ``trials`` as jobs named by their trial numbers; tell their results. Returns how
        many failed. A stop in the middle (Ctrl-C) leaves the unfinished ones running in the study:
        resuming the sweep resumes them (``stopped_here``)."""
        from optuna.trial import TrialState

        overrides = [tuple([*fixed, *(f"{k}={v}" for k, v in trial.params.items())]) for trial in trials]
        numbers = [trial.number for trial in trials]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            returns = self.launcher.launch(overrides, initial_job_idx=numbers[0])
        else:  # another worker took numbers in between: one job at a time keeps folder = number
            returns = [r for o, n in zip(overrides, numbers) for r in self.launcher.launch([o], n)]
        failed = 0
        told = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        for trial, ret in zip(trials, returns):
            if trial.number in told:  # its job told it pruned: telling it again is Optuna's warning
                continue
            value = ret.return_value if ret.status.name == "COMPLETED" else None
            if value is None:
                failed += study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True).state \
                    == TrialState.FAIL
            else:
                study.tell(trial.number, float(value), skip_if_finished=True)
        return failed

    def shown_storage(self) -> str:
        """The study's URL for logs and files: its password hidden."""
        from mlplab.sweeps.storage import shown

        return shown(storage_url(self.storage, self.sweep_dir))

    def write_results(self, study: Any) -> None:
        """``<sweep>/optimization_results.yaml``: the best parameters and value (as Hydra's sweeper)."""
        from optuna.trial import TrialState

        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name,
                                   "storage": self.shown_storage(),
                                   "n_finished": finished(study)}
        if complete:
            best = study.best_trial
            results.update(best_params=best.params, best_value=best.value, best_trial=best.number)
            log.info("best trial %d: %s = %s", best.number, best.params, best.value)
        else:
            log.error("no trial completed: see each job's metrics.json")
        write_text(self.sweep_dir / "optimization_results.yaml", OmegaConf.to_yaml(OmegaConf.create(results)))


def finished(study: Any) -> int:
    """Trials that ran to their end: complete, pruned, or failed (diverged); not one that is
    running or was interrupted (it resumes), as Optuna's own ``optimize(n_trials=…)`` counts."""
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in study.trials)


def running(study: Any) -> int:
    from optuna.trial import TrialState

    return sum(t.state == TrialState.RUNNING for t in study.trials)
