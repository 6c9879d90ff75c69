"""A real sweep over seeds, as a user types it: ``mlplab-train -m regularizer.dropout=0,0.5
seed=1,2,3`` on tiny fake data. Its summary over seeds holds numpy's mean and sample std (ddof=1)
of the jobs' own metrics.json, and names the configuration with the best mean validation value."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run_main, write_fake_fashion_mnist

from mlplab.cli.train import main as train_main
from mlplab.reporting.heatmap import heatmap_grid
from mlplab.reporting.sweep_rows import collect

# 256 training and 64 test images, one epoch of a 16-unit MLP: about a second a job
TINY = ["data.val_size=64", "data.check_counts=false", "trainer.max_epochs=1", "model.net.hidden=[16]",
        "logger=none"]
DROPOUTS, SEEDS = ("0", "0.5"), ("1", "2", "3")


def job_numbers(result: dict) -> dict[str, float]:
    """What the summary averages, read from a job's metrics.json: the monitor's best validation
    value, every test metric, the weight norm, epochs and seconds."""
    metrics = result["metrics"]
    return {result["monitor"]["name"]: result["monitor"]["best"],
            **{k: v for k, v in metrics.items() if k.startswith("test/")},
            "weights/l2_norm": metrics["weights/l2_norm"],
            "epochs": result["epochs"], "seconds": result["seconds"]}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The 2 × 3-seed sweep, run once for this module's tests."""
    folder = tmp_path_factory.mktemp("seeds")
    data = write_fake_fashion_mnist(folder / "data", 256, 64)
    sweep_dir = folder / "sweep"
    code, _, stderr = run_main(train_main, "-m", f"data.data_dir={data}", *TINY,
                               f"regularizer.dropout={','.join(DROPOUTS)}", f"seed={','.join(SEEDS)}",
                               f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert code == 0, stderr[-3000:]
    return sweep_dir


def jobs_of(sweep: Path) -> dict[str, list[dict[str, float]]]:
    """dropout p → the numbers of its three jobs, in seed order (Hydra's basic sweeper: seed fastest)."""
    results = [json.loads((sweep / str(n) / "metrics.json").read_text()) for n in range(6)]
    assert [(float(r["hparams"]["regularizer"]["dropout"]), r["hparams"]["seed"]) for r in results] == [
        (float(p), int(s)) for p in DROPOUTS for s in SEEDS]
    assert all(r["status"] == "finished" for r in results)
    return {p: [job_numbers(r) for r in results[3 * i: 3 * i + 3]] for i, p in enumerate(DROPOUTS)}


@pytest.mark.slow
def test_the_summary_over_seeds_is_numpys_mean_and_sample_std_of_the_jobs(sweep):
    jobs = jobs_of(sweep)
    with (sweep / "summary_seeds.csv").open() as f:
        rows = {row["regularizer.dropout"]: row for row in csv.DictReader(f)}
    assert list(rows) == list(DROPOUTS)
    for p, numbers in jobs.items():
        row = rows[p]
        assert (row["jobs"], row["seeds"], row["finished"]) == (
            " ".join(str(DROPOUTS.index(p) * 3 + k) for k in range(3)), " ".join(SEEDS), "3")
        for name in numbers[0]:
            values = [n[name] for n in numbers]
            assert float(row[f"{name} mean"]) == np.mean(values), (p, name)
            assert float(row[f"{name} std"]) == np.std(values, ddof=1), (p, name)
            assert row[f"{name} n"] == "3"
        val = [n["val/acc"] for n in numbers]  # summary.md's row over seeds: jobs, finished, val/acc
        over_seeds = f"| {p} | {row['jobs']} | 3/3 | {np.mean(val):.4f} ± {np.std(val, ddof=1):.4f} (3) |"
        assert over_seeds in (sweep / "summary.md").read_text()
    with (sweep / "summary.csv").open() as f:  # the job table is as before: a row per job
        assert [r["seed"] for r in csv.DictReader(f)] == list(SEEDS) * 2


@pytest.mark.slow
def test_best_json_names_the_argmax_of_the_mean_validation_value(sweep):
    jobs = jobs_of(sweep)
    means = [np.mean([n["val/acc"] for n in jobs[p]]) for p in DROPOUTS]
    winner = DROPOUTS[int(np.argmax(means))]  # np.argmax: the first of equal means, as the summary
    chosen = json.loads((sweep / "best.json").read_text())
    config = chosen["best_configuration"]
    assert config["overrides"][-1] == f"regularizer.dropout={winner}"
    assert not any(o.startswith("seed=") for o in config["overrides"])
    assert (config["mean"], config["n"]) == (max(means), 3)
    assert config["std"] == np.std([n["val/acc"] for n in jobs[winner]], ddof=1)
    assert config["jobs"] == [DROPOUTS.index(winner) * 3 + k for k in range(3)]
    single = max(range(6), key=lambda n: jobs[DROPOUTS[n // 3]][n % 3]["val/acc"])
    assert chosen["job"] == single  # the best single job is still named, as before


@pytest.mark.slow
def test_the_heatmaps_grid_is_built_from_the_means(sweep):
    """One key besides seed varies, so no heatmap.png; the grid the heatmap would draw, over
    dropout and a key every job shares, holds the configurations' means."""
    jobs = jobs_of(sweep)
    assert not (sweep / "heatmap.png").exists()
    ys, xs, values, labels = heatmap_grid(collect(sweep), ["regularizer.dropout", "model.net.hidden"])
    assert (ys, xs) == (list(DROPOUTS), ["[16]"])
    for i, p in enumerate(DROPOUTS):
        val = [n["val/acc"] for n in jobs[p]]
        assert values[i, 0] == np.mean(val)
        assert labels[i][0] == f"{np.mean(val):.4f} ± {np.std(val, ddof=1):.4f}"
