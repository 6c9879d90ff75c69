"""Repeated runs over seeds: the mean ± sample std of each configuration, on hand-made job rows
(their files: tests/unit/test_sweep.py; a real sweep: tests/e2e/test_sweep_seeds.py)."""

from __future__ import annotations

import numpy as np

from mlplab.reporting.seeds import Spread, best_configuration, configurations, seeds_vary


def row(job: int, overrides: list[str], val: float | None, status: str = "finished",
        monitor: str = "val/acc", mode: str = "max") -> dict:
    """A job row as reporting.sweep_rows.job_row makes it; its test score is val − 0.02."""
    finished = status == "finished"
    return {"job": job, "overrides": overrides, "status": status, "monitor": monitor if finished else None,
            "mode": mode if finished else None, "val": val if finished else None,
            "test": {"test/acc": val - 0.02} if finished else {}, "weights/l2_norm": 5.0 + job,
            "epochs": 3 if finished else None, "seconds": 1.5 * job if finished else None, "error": None}


P0 = ["regularizer.dropout=0"]
P5 = ["regularizer.dropout=0.5"]


def test_spread_is_the_mean_and_the_sample_std():
    assert Spread.of([1.0, 2.0, 3.0]) == Spread(mean=2.0, std=1.0, n=3)  # √((1 + 0 + 1) / (3 − 1))
    assert Spread.of([0.8]) == Spread(mean=0.8, std=None, n=1)  # one run: no spread to estimate
    assert Spread.of([]) == Spread(mean=None, std=None, n=0)
    assert str(Spread.of([1.0, 2.0, 3.0])) == "2.0000 ± 1.0000 (3)"
    assert str(Spread.of([0.8])) == "0.8000 (1)" and str(Spread.of([])) == ""


def test_configurations_average_every_number_over_their_finished_seeds():
    vals = {(p, seed): 0.80 + 0.05 * (p == "0.5") + 0.013 * seed for p in ("0", "0.5") for seed in (1, 2, 3)}
    rows = [row(job, [f"regularizer.dropout={p}", f"seed={seed}"], val)
            for job, ((p, seed), val) in enumerate(vals.items())]
    rows[4] = row(4, rows[4]["overrides"], None, status="diverged")  # p = 0.5 loses seed 2
    first, second = configurations(rows)
    assert (first.overrides, first.jobs, first.seeds) == (P0, [0, 1, 2], ["1", "2", "3"])
    assert (second.overrides, second.jobs, second.statuses) == (P5, [3, 4, 5], ["finished", "diverged",
                                                                                 "finished"])
    assert (first.finished, first.complete, second.finished, second.complete) == (3, True, 2, False)
    for config, jobs in ((first, [0, 1, 2]), (second, [3, 5])):  # the diverged job adds nothing
        for name, values in {"val/acc": [rows[j]["val"] for j in jobs],
                             "test/acc": [rows[j]["test"]["test/acc"] for j in jobs],
                             "weights/l2_norm": [rows[j]["weights/l2_norm"] for j in jobs],
                             "epochs": [3] * len(jobs), "seconds": [1.5 * j for j in jobs]}.items():
            assert config.metrics[name] == Spread(np.mean(values), np.std(values, ddof=1), len(jobs)), name
    assert list(first.metrics) == ["val/acc", "test/acc", "weights/l2_norm", "epochs", "seconds"]
    # p = 0.5 has the higher mean over its survivors, but lost a seed: it does not compete
    assert second.val.mean > first.val.mean
    assert best_configuration([first, second]) is first
    assert best_configuration([second]) is None


def test_the_best_configuration_is_the_argmax_or_argmin_of_the_means():
    rows = [row(0, [*P0, "seed=1"], 0.90), row(1, [*P0, "seed=2"], 0.70),  # mean 0.80, best single job
            row(2, [*P5, "seed=1"], 0.84), row(3, [*P5, "seed=2"], 0.82)]  # mean 0.83
    assert best_configuration(configurations(rows)).overrides == P5
    losses = [{**r, "monitor": "val/loss", "mode": "min"} for r in rows]
    assert best_configuration(configurations(losses)).overrides == P0  # lower is better
    tie = [row(0, [*P0, "seed=1"], 0.8), row(1, [*P5, "seed=1"], 0.8)]
    assert best_configuration(configurations(tie)).overrides == P0  # met first


def test_only_a_second_seed_makes_seeds_vary():
    assert not seeds_vary([row(0, P0, 0.8), row(1, P5, 0.8)])  # no seed given
    assert not seeds_vary([row(0, [*P0, "seed=7"], 0.8), row(1, [*P5, "seed=7"], 0.8)])
    assert seeds_vary([row(0, [*P0, "++seed=7"], 0.8), row(1, [*P0, "++seed=8"], 0.8)])  # appended key
