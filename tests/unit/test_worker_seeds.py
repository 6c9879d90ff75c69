"""Each worker its own seed (mlplab.sweeps.worker_seeds), on real Optuna studies in memory: workers
that share a study draw different trials; one worker draws what TPESampler(seed) always drew; a
resumed search does not draw its first trials again."""

from __future__ import annotations

import functools
import math

import optuna
from helpers import REPO
from hydra.utils import instantiate
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.storages import InMemoryStorage

from mlplab.sweeps.optuna_sweeper import sampler_of
from mlplab.sweeps.worker_seeds import SeedPerWorker, worker_seed

SPACE = {"regularizer.weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
         "regularizer.dropout": FloatDistribution(0.0, 0.6)}
TPE = functools.partial(optuna.samplers.TPESampler, n_startup_trials=3, constant_liar=True)


def worker(storage, sampler) -> optuna.Study:
    """One worker's view of the shared study (a process of its own would build the same)."""
    return optuna.create_study(study_name="search", storage=storage, load_if_exists=True, sampler=sampler,
                               direction="maximize")


def score(params: dict) -> float:
    """A deterministic objective, best at λ = 1e-4 and p = 0.2."""
    return -abs(math.log10(params["regularizer.weight_decay"]) + 4) - abs(params["regularizer.dropout"] - 0.2)


def ask_and_tell(study: optuna.Study, n: int) -> None:
    for _ in range(n):
        trial = study.ask(SPACE)
        study.tell(trial, score(trial.params))


def drawn(study: optuna.Study) -> list[tuple]:
    return [tuple(t.params[k] for k in SPACE) for t in study.trials]


def two_workers(sampler) -> list[tuple]:
    """Two workers that each ask a trial before either tells, four times over: what two processes
    started together do."""
    storage = InMemoryStorage()
    first, second = worker(storage, sampler()), worker(storage, sampler())
    for _ in range(4):
        asked = [first.ask(SPACE), second.ask(SPACE)]
        for study, trial in zip((first, second), asked):
            study.tell(trial, score(trial.params))
    return drawn(first)


def test_two_workers_draw_eight_different_trials():
    params = two_workers(lambda: SeedPerWorker(TPE, seed=42))
    assert len(params) == 8 == len(set(params))


def test_one_seeded_sampler_per_worker_repeats_the_other_workers_trials():
    """The preset's sampler before: every worker replays the same stream (why the test above can fail)."""
    params = two_workers(lambda: TPE(seed=42))
    assert params[0] == params[1] and params[2] == params[3]


def test_one_worker_draws_what_tpe_with_that_seed_draws_tpe_trials_included():
    runs = []
    for sampler in (SeedPerWorker(TPE, seed=7), SeedPerWorker(TPE, seed=7), TPE(seed=7),
                    SeedPerWorker(TPE, seed=8)):
        study = worker(InMemoryStorage(), sampler)
        ask_and_tell(study, 8)  # 3 random start-up trials, then 5 of TPE's
        runs.append(drawn(study))
    assert runs[0] == runs[1] == runs[2] and len(set(runs[0])) == 8
    assert not set(runs[0]) & set(runs[3])  # another seed, other trials


def test_a_resumed_search_draws_new_trials_and_the_same_at_every_resume():
    resumed = []
    for _ in range(2):
        storage = InMemoryStorage()
        ask_and_tell(worker(storage, SeedPerWorker(TPE, seed=7)), 2)  # stopped after 2 trials
        study = worker(storage, SeedPerWorker(TPE, seed=7))  # a new process, a new sampler
        ask_and_tell(study, 3)
        resumed.append(drawn(study))
    assert resumed[0] == resumed[1] and len(set(resumed[0])) == 5
    storage = InMemoryStorage()  # as before: one stream per process replays trial 0's draw at trial 2
    ask_and_tell(worker(storage, TPE(seed=7)), 2)
    replayed = worker(storage, TPE(seed=7))
    ask_and_tell(replayed, 1)
    assert drawn(replayed)[2] == drawn(replayed)[0]


def test_worker_seeds_keep_the_seed_for_trial_0_and_differ_for_neighbours():
    assert worker_seed(42, 0) == 42
    seeds = {worker_seed(seed, first) for seed in range(40) for first in range(1, 41)}
    assert len(seeds) == 1600 and all(0 <= s < 2**32 for s in seeds)


def test_the_presets_sampler_is_seeded_per_worker_and_a_liar():
    preset = OmegaConf.load(REPO / "conf" / "hydra" / "sweeper" / "optuna.yaml")
    config = OmegaConf.create({"seed": 5, "sampler": preset.sampler})
    sampler = sampler_of(instantiate(config.sampler))
    assert isinstance(sampler, SeedPerWorker) and sampler.seed == 5
    assert sampler.build.keywords["constant_liar"] is True
    config.sampler.seed = None  # seed: null: one sampler, Optuna's random seed
    assert isinstance(sampler_of(instantiate(config.sampler)), optuna.samplers.TPESampler)
    built = optuna.samplers.RandomSampler(seed=1)  # _partial_: false: used as it is
    assert sampler_of(built) is built
