"""Each worker its own random stream. A worker's sampler is built when it asks its first trial,
number k, and seeded by

    worker_seed(seed, k) = seed                             for k = 0 (the worker that starts the study)
                           NumPy SeedSequence([seed, k])    otherwise

The storage hands every trial number to one worker, so no two workers share a seed. One sampler
seeded by ``seed`` in every worker (Optuna's usual way, and mlplab's before) replayed one sequence
in each: two workers on one study drew the same random start-up trials, and a resumed search drew
its first trials again. What holds with ``hydra.sweeper.sampler.seed`` fixed (``${seed}``):

- one worker that starts a study draws exactly what ``TPESampler(seed=seed)`` draws, start-up and
  TPE trials alike (the trials finished before each being the same when the training is
  deterministic): the same trials every time, and the same as searches run before workers had
  seeds of their own (``experiment=best_mlp_search``'s documented trials);
- a search resumed at trial k draws from ``worker_seed(seed, k)``: the same trials at every resume
  from k (not those an uninterrupted search draws after k), instead of trial 0's draws again;
- several workers: which worker gets which numbers depends on their timing, so the trials are no
  longer reproducible; no two draw from one stream. TPE's ``constant_liar`` (the preset sets it)
  counts the trials other workers are running as poor, so they do not propose one region at once.

A sampler that must have one seed in every worker (``QMCSampler`` scrambles its sequence by it) is
used as built with ``hydra.sweeper.sampler._partial_=false``; ``seed: null`` gives every worker
Optuna's own random seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def worker_seed(seed: int, first: int) -> int:
    """The seed of the worker whose first trial is number ``first``. SeedSequence mixes (seed,
    first), so that neighbouring seeds and numbers give unrelated streams (seed + first would give
    seed 42's second worker the stream of seed 43's first)."""
    return seed if first == 0 else int(np.random.SeedSequence([seed, first]).generate_state(1)[0])


class SeedPerWorker(BaseSampler):
    """``build(seed=worker_seed(seed, k))``, built at this worker's first trial k, answers every
    call about the trials it asks."""

    def __init__(self, build: Callable[..., BaseSampler], seed: int) -> None:
        self.build, self.seed = build, seed
        self.sampler: BaseSampler | None = None

    def asking(self) -> BaseSampler:
        if self.sampler is None:  # Optuna calls before_trial first for every trial it asks
            raise RuntimeError("a sampler was asked to sample before any trial was asked")
        return self.sampler

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self.sampler is None:
            self.sampler = self.build(seed=worker_seed(self.seed, trial.number))
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.asking().infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.asking().sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.asking().sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: list[float] | None) -> None:
        # A resumed search tells its interrupted trials before it asks one: their bookkeeping
        # (constraints) goes to a sampler of the same kind, whose random stream is never drawn from.
        (self.sampler or self.build()).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self.sampler is not None:
            self.sampler.reseed_rng()
