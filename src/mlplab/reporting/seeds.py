"""Repeated runs: a sweep that varies ``seed`` is summarized per configuration, over its seeds.

A *configuration* is a job's overrides without ``seed=…``; its jobs are the sweep's jobs that
share them (``regularizer.dropout=0,0.5 seed=1,2,3``: two configurations of three jobs each).
For each number a job row holds (its validation value, every ``test/*`` metric, the weight norm,
epochs, seconds) a configuration gets

    mean = (1/n) Σᵢ xᵢ,   std = √( Σᵢ (xᵢ − mean)² / (n − 1) )

over its n *finished* jobs: the sample standard deviation (ddof=1), since the seeds are a sample
of the seeds one could have drawn; it is None for n = 1 (no spread can be estimated from one run).
A job that did not finish (diverged, failed, interrupted, pruned, busy in another process) adds
nothing to the mean; n says how many did. Such an *incomplete* configuration is shown, but it
never wins: the survivors of a configuration that diverged on one seed over-state it, so the best
configuration is the argmax (mode max) or argmin (mode min) of the mean validation value over the
configurations whose every job finished, among those monitoring the first finished one's metric;
ties go to the configuration met first in the sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlplab.records import RunStatus

SEED_KEY = "seed"  # the top-level setting that seeds the split, the init, the batch order, dropout


def is_seed(override: str) -> bool:
    """``seed=3`` (or ``+seed=3``, ``++seed=3``, as Hydra records an appended key)."""
    return override.partition("=")[0].lstrip("+") == SEED_KEY


def seed_of(row: dict[str, Any]) -> str | None:
    """The seed a job's overrides give, as written; None where it kept the default."""
    return next((o.partition("=")[2] for o in row["overrides"] if is_seed(o)), None)


def configuration_of(row: dict[str, Any]) -> tuple[str, ...]:
    """The job's overrides without its seed: what its repeats share."""
    return tuple(o for o in row["overrides"] if not is_seed(o))


def seeds_vary(rows: list[dict[str, Any]]) -> bool:
    """Does the sweep give its jobs more than one seed?"""
    return len({seed_of(r) for r in rows}) > 1


def job_numbers(row: dict[str, Any]) -> dict[str, float]:
    """Every number of a job row (``reporting.sweep_rows.job_row``) a mean is taken of, missing
    ones left out."""
    numbers = {row["monitor"]: row["val"]} if row["monitor"] else {}
    numbers |= row["test"]
    numbers |= {k: row[k] for k in ("weights/l2_norm", "epochs", "seconds")}
    return {k: float(v) for k, v in numbers.items() if v is not None}


@dataclass(frozen=True)
class Spread:
    """mean ± sample std (ddof=1) of n values; ``mean`` None for n = 0, ``std`` None for n < 2."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        x = np.asarray(values, dtype=float)
        return cls(mean=float(np.mean(x)) if x.size else None,
                   std=float(np.std(x, ddof=1)) if x.size > 1 else None, n=int(x.size))

    def __str__(self) -> str:
        """``0.8512 ± 0.0031 (3)``; ``0.8512 (1)`` without a spread; empty without a value."""
        if self.mean is None:
            return ""
        spread = "" if self.std is None else f" ± {self.std:.4f}"
        return f"{self.mean:.4f}{spread} ({self.n})"

    def as_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass(frozen=True)
class Configuration:
    """One configuration's jobs, and the spread of each of their numbers over the finished ones."""

    overrides: list[str]
    jobs: list[int]
    seeds: list[str | None]
    statuses: list[str]
    monitor: str | None  # the validation metric its finished jobs ranked by
    mode: str | None
    metrics: dict[str, Spread]  # every number of job_numbers, in order of first appearance

    @property
    def finished(self) -> int:
        return sum(s == RunStatus.FINISHED for s in self.statuses)

    @property
    def complete(self) -> bool:
        return self.finished == len(self.jobs)

    @property
    def val(self) -> Spread:
        return self.metrics.get(self.monitor) or Spread(None, None, 0)

    def as_json(self) -> dict[str, Any]:
        """best.json's ``best_configuration``: the validation spread flat, every other one by name."""
        others = {name: s.as_json() for name, s in self.metrics.items() if name != self.monitor}
        return {"overrides": self.overrides, "monitor": self.monitor, "mode": self.mode,
                **self.val.as_json(), "jobs": self.jobs, "seeds": self.seeds, "metrics": others}


def configurations(rows: list[dict[str, Any]]) -> list[Configuration]:
    """The sweep's job rows grouped by ``configuration_of``, in order of first appearance."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(configuration_of(row), []).append(row)
    return [configuration(list(key), members) for key, members in groups.items()]


def configuration(overrides: list[str], rows: list[dict[str, Any]]) -> Configuration:
    finished = [r for r in rows if r["status"] == RunStatus.FINISHED]
    numbers = [job_numbers(r) for r in finished]
    names = list(dict.fromkeys(name for n in numbers for name in n))
    monitored = [r for r in finished if r["monitor"]]
    return Configuration(
        overrides=overrides, jobs=[r["job"] for r in rows], seeds=[seed_of(r) for r in rows],
        statuses=[str(r["status"]) for r in rows],
        monitor=monitored[0]["monitor"] if monitored else None,
        mode=monitored[0]["mode"] if monitored else None,
        metrics={name: Spread.of([n[name] for n in numbers if name in n]) for name in names})


def best_configuration(configs: list[Configuration]) -> Configuration | None:
    """The complete configuration with the best mean validation value (module docstring)."""
    ranked = [c for c in configs if c.complete and c.monitor and c.val.mean is not None
              and math.isfinite(c.val.mean)]
    if not ranked:
        return None
    rivals = [c for c in ranked if c.monitor == ranked[0].monitor]
    sign = 1.0 if rivals[0].mode == "max" else -1.0
    return max(rivals, key=lambda c: sign * c.val.mean)


# ---- the tables -------------------------------------------------------------------------------

def metric_names(configs: list[Configuration]) -> list[str]:
    return list(dict.fromkeys(name for c in configs for name in c.metrics))


def key_values(config: Configuration, keys: list[str]) -> list[str | None]:
    values = dict(o.partition("=")[::2] for o in config.overrides)
    return [values.get(k) for k in keys]


def jobs_cell(config: Configuration) -> str:
    return " ".join(map(str, config.jobs))


def markdown_rows(configs: list[Configuration], keys: list[str]) -> tuple[list[str], list[list[Any]]]:
    """summary.md's table over seeds: the configuration's override keys, its jobs, how many
    finished, and ``mean ± std (n)`` of each number."""
    names = metric_names(configs)
    header = [*keys, "jobs", "finished", *names]
    body = [[*key_values(c, keys), jobs_cell(c), f"{c.finished}/{len(c.jobs)}",
             *(str(c.metrics[m]) if m in c.metrics else None for m in names)] for c in configs]
    return header, body


def csv_rows(configs: list[Configuration], keys: list[str]) -> tuple[list[str], list[list[Any]]]:
    """summary_seeds.csv: as ``markdown_rows``, each number's mean, std and n in columns of their own,
    at full precision (an empty field where there is none)."""
    names = metric_names(configs)
    parts = ("mean", "std", "n")
    header = [*keys, "jobs", "seeds", "finished", *(f"{m} {part}" for m in names for part in parts)]
    body = []
    for c in configs:
        spreads = [c.metrics.get(m, Spread(None, None, 0)) for m in names]
        body.append([*key_values(c, keys), jobs_cell(c), " ".join(s or "" for s in c.seeds), c.finished,
                     *(v for s in spreads for v in (s.mean, s.std, s.n))])
    return header, body

