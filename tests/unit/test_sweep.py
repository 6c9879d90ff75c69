"""The multirun summary, on job folders written by hand: table, best by validation, heatmap, CLI."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run_main_as

from mlplab.reporting.heatmap import best_cell, heatmap_grid, heatmap_keys
from mlplab.reporting.sweep import main as sweep_main
from mlplab.reporting.sweep import summarize
from mlplab.reporting.sweep_rows import collect

GRID_KEYS = ["regularizer.weight_decay", "regularizer.dropout"]
COLUMNS = ["job", *GRID_KEYS, "val/acc", "test/acc", "weights/l2_norm", "epochs", "seconds", "status"]


def classification(val: float, test: float, status: str = "finished") -> dict:
    """A metrics.json as train.py writes it for Fashion-MNIST; the final val/acc is below the best."""
    return {"status": status, "epochs": 10, "seconds": 12.5,
            "monitor": {"name": "val/acc", "mode": "max", "best": val},
            "metrics": {"train/loss": 0.4, "train/acc": 0.85, "val/loss": 0.45, "val/acc": val - 0.01,
                        "test/loss": 0.5, "test/acc": test, "weights/l2_norm": 7.5},
            "history": [], "hparams": {}}


def regression(val_loss: float, test_loss: float, monitored: bool = True) -> dict:
    monitor = {"name": "val/loss", "mode": "min", "best": val_loss} if monitored else None
    return {"status": "finished", "epochs": 100, "seconds": 3.0, "monitor": monitor,
            "metrics": {"train/loss": 0.01, "val/loss": val_loss, "test/loss": test_loss,
                        "weights/l2_norm": 1.0},
            "history": [], "hparams": {}}


def write_job(sweep: Path, num: int, overrides: list[str], result: dict | None) -> None:
    """One job folder as Hydra and train.py leave it; ``result=None``: the job died before writing."""
    (sweep / str(num) / ".hydra").mkdir(parents=True)
    (sweep / str(num) / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if result is not None:
        (sweep / str(num) / "metrics.json").write_text(json.dumps(result))


@pytest.fixture
def grid(tmp_path) -> Path:
    """λ ∈ {0, 0.001} × p ∈ {0, 0.2}. Job 0 has the best test score, job 1 the best validation score
    but diverged, job 2 never wrote metrics.json: job 3 must win, on validation alone."""
    sweep = tmp_path / "multirun"
    results = [classification(0.85, 0.90), classification(0.95, 0.95, status="diverged"), None,
               classification(0.871, 0.8655)]
    for num, result in enumerate(results):
        wd, p = ("0", "0.001")[num // 2], ("0", "0.2")[num % 2]
        write_job(sweep, num, [f"regularizer.weight_decay={wd}", f"regularizer.dropout={p}"], result)
    return sweep


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def run_module(*args: str) -> subprocess.CompletedProcess:
    """``python -m mlplab.reporting.sweep <args>``, its ``main`` called in this process."""
    return run_main_as(["python", "-m", "mlplab.reporting.sweep"], sweep_main, *args, cwd=REPO)


def test_collect_reads_every_job_including_the_ones_that_did_not_finish(grid):
    rows = collect(grid)
    assert [r["job"] for r in rows] == [0, 1, 2, 3]
    assert [r["status"] for r in rows] == ["finished", "diverged", "failed", "finished"]
    assert rows[2]["error"] == "no metrics.json" and rows[2]["val"] is None
    assert rows[3]["overrides"] == ["regularizer.weight_decay=0.001", "regularizer.dropout=0.2"]
    assert rows[3]["monitor"] == "val/acc" and rows[3]["val"] == 0.871  # the monitor's best, not final
    assert rows[3]["test"] == {"test/loss": 0.5, "test/acc": 0.8655}


def test_summary_csv_has_one_column_per_override_key(grid):
    summarize(grid)
    rows = read_csv(grid / "summary.csv")
    assert list(rows[0]) == COLUMNS
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[3] == {"job": "3", "regularizer.weight_decay": "0.001", "regularizer.dropout": "0.2",
                       "val/acc": "0.871", "test/acc": "0.8655", "weights/l2_norm": "7.5",
                       "epochs": "10", "seconds": "12.5", "status": "finished"}
    assert rows[2]["status"] == "failed" and rows[2]["val/acc"] == rows[2]["test/acc"] == ""
    assert not list(grid.glob("*.tmp"))  # every file went through its temporary twin


def test_best_is_chosen_by_validation_never_by_test(grid):
    best = summarize(grid)
    assert best["job"] == 3  # job 0 tests better, job 1 validates better but diverged
    assert json.loads((grid / "best.json").read_text()) == {
        "job": 3, "overrides": ["regularizer.weight_decay=0.001", "regularizer.dropout=0.2"],
        "monitor": "val/acc", "mode": "max", "val": 0.871, "test": {"test/loss": 0.5, "test/acc": 0.8655}}
    lines = (grid / "summary.md").read_text().splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[5] == "| 3 | 0.001 | 0.2 | 0.8710 | 0.8655 | 7.5000 | 10 | 12.5 | finished |"
    assert lines[6] == ""
    assert lines[7] == ("best by val/acc: job 3 (regularizer.weight_decay=0.001 regularizer.dropout=0.2): "
                        "val/acc 0.8710, test/acc 0.8655")


def test_regression_sweep_ranks_by_the_lowest_validation_loss(tmp_path):
    sweep = tmp_path / "multirun"
    write_job(sweep, 0, ["data.num_features=2"], regression(val_loss=0.30, test_loss=0.05))
    write_job(sweep, 1, ["data.num_features=4"], regression(val_loss=0.02, test_loss=0.20, monitored=False))
    write_job(sweep, 2, ["data.num_features=20"], regression(val_loss=0.10, test_loss=0.01))
    best = summarize(sweep)
    assert best["job"] == 1 and best["mode"] == "min"  # no monitor: final val/loss, lower is better
    assert list(read_csv(sweep / "summary.csv")[0])[2:4] == ["val/loss", "test/loss"]
    assert (sweep / "summary.md").read_text().splitlines()[-1] == (
        "best by val/loss: job 1 (data.num_features=4): val/loss 0.0200, test/loss 0.2000")


def test_nothing_finished_names_no_winner(tmp_path):
    sweep = tmp_path / "multirun"
    write_job(sweep, 0, ["optimizer.lr=10"], classification(0.1, 0.1, status="diverged"))
    write_job(sweep, 1, ["optimizer.lr=20"], None)
    assert summarize(sweep) is None
    assert json.loads((sweep / "best.json").read_text())["job"] is None
    assert (sweep / "summary.md").read_text().splitlines()[-1].startswith("best by val/acc: none")


def test_heatmap_of_a_two_key_grid(grid):
    ys, xs, values, labels = heatmap_grid(collect(grid), GRID_KEYS)
    assert (ys, xs) == (["0", "0.001"], ["0", "0.2"])
    assert values[0, 0] == 0.85 and values[1, 1] == 0.871
    assert math.isnan(values[0, 1]) and math.isnan(values[1, 0])  # unfinished jobs are not coloured
    assert labels == [["0.8500", "diverged"], ["failed", "0.8710"]]
    assert best_cell(values, "max") == (1, 1) and best_cell(values, "min") == (0, 0)  # the one outlined
    summarize(grid)
    assert (grid / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_no_heatmap_for_a_search_whose_trials_fill_no_grid(tmp_path):
    """An Optuna search draws a value of each key per trial: 4 trials are a diagonal of a 4 × 4
    grid, 12 empty cells. Its summary has no heatmap; a full grid with one job each has one."""
    sweep = tmp_path / "search"
    for num in range(4):
        write_job(sweep, num, [f"optimizer.lr={0.1 + num / 100}", f"regularizer.dropout={num / 10}"],
                  classification(0.5 + num / 100, 0.5))
    summarize(sweep)
    assert (sweep / "summary.md").is_file() and not (sweep / "heatmap.png").exists()


def test_no_heatmap_for_one_varying_key_and_jobs_in_numeric_order(tmp_path):
    sweep = tmp_path / "multirun"
    for num in range(11):  # a fixed override is no axis: only optimizer.lr varies
        write_job(sweep, num, ["trainer.max_epochs=3", f"optimizer.lr={num / 10}"],
                  classification(0.5 + num / 100, 0.5))
    summarize(sweep)
    assert [r["job"] for r in read_csv(sweep / "summary.csv")] == [str(n) for n in range(11)]
    assert (sweep / "summary.md").is_file() and (sweep / "best.json").is_file()
    assert not (sweep / "heatmap.png").exists()


@pytest.fixture
def seeded_grid(tmp_path) -> Path:
    """λ ∈ {0, 0.001} × p ∈ {0, 0.2} × seed ∈ {1, 2}, seed fastest; job 5 (λ 0.001, p 0, seed 2)
    never wrote metrics.json. Job 7 validates best alone, and its configuration (jobs 6, 7) on mean."""
    sweep = tmp_path / "multirun"
    for num in range(8):
        wd, p, seed = ("0", "0.001")[num // 4], ("0", "0.2")[num // 2 % 2], num % 2 + 1
        val = 0.80 + 0.01 * num + 0.004 * (num % 2)
        write_job(sweep, num, [f"regularizer.weight_decay={wd}", f"regularizer.dropout={p}", f"seed={seed}"],
                  None if num == 5 else classification(val, val - 0.03))
    return sweep


# (λ, p) → the jobs that finished
SEEDED_CONFIGURATIONS = {("0", "0"): (0, 1), ("0", "0.2"): (2, 3), ("0.001", "0"): (4,),
                         ("0.001", "0.2"): (6, 7)}


def finished_values(sweep: Path, jobs: tuple[int, ...], read) -> list[float]:
    """``read(metrics.json)`` of each of ``jobs``, as the job wrote it."""
    return [read(json.loads((sweep / str(n) / "metrics.json").read_text())) for n in jobs]


def val_of(result: dict) -> float:
    return result["monitor"]["best"]


def test_a_seeded_grid_keeps_its_job_table_and_adds_one_row_per_configuration(seeded_grid):
    best = summarize(seeded_grid)
    assert best["job"] == 7  # the best single job, as before
    jobs = read_csv(seeded_grid / "summary.csv")
    assert list(jobs[0]) == ["job", *GRID_KEYS, "seed", *COLUMNS[3:]] and len(jobs) == 8
    configs = read_csv(seeded_grid / "summary_seeds.csv")
    assert [(*(c[k] for k in GRID_KEYS), c["jobs"], c["seeds"], c["finished"]) for c in configs] == [
        ("0", "0", "0 1", "1 2", "2"), ("0", "0.2", "2 3", "1 2", "2"),
        ("0.001", "0", "4 5", "1 2", "1"), ("0.001", "0.2", "6 7", "1 2", "2")]
    for config, pair in zip(configs, SEEDED_CONFIGURATIONS.values()):
        vals = finished_values(seeded_grid, pair, val_of)
        tests = finished_values(seeded_grid, pair, lambda r: r["metrics"]["test/acc"])
        assert float(config["val/acc mean"]) == np.mean(vals) and config["val/acc n"] == str(len(pair))
        assert float(config["test/acc mean"]) == np.mean(tests)
        if len(pair) > 1:
            assert float(config["val/acc std"]) == np.std(vals, ddof=1)
            assert float(config["test/acc std"]) == np.std(tests, ddof=1)
        else:  # one finished seed: no spread to estimate
            assert config["val/acc std"] == config["test/acc std"] == ""


def test_a_seeded_grid_names_its_best_configuration_by_mean_validation(seeded_grid):
    summarize(seeded_grid)
    vals = finished_values(seeded_grid, (6, 7), val_of)
    chosen = json.loads((seeded_grid / "best.json").read_text())
    assert list(chosen) == ["job", "overrides", "monitor", "mode", "val", "test", "best_configuration"]
    assert (chosen["job"], chosen["monitor"], chosen["mode"]) == (7, "val/acc", "max")  # as without seeds
    config = chosen["best_configuration"]
    assert config["overrides"] == ["regularizer.weight_decay=0.001", "regularizer.dropout=0.2"]
    assert (config["jobs"], config["seeds"], config["n"]) == ([6, 7], ["1", "2"], 2)
    assert (config["mean"], config["std"]) == (np.mean(vals), np.std(vals, ddof=1))
    tests = finished_values(seeded_grid, (6, 7), lambda r: r["metrics"]["test/acc"])
    assert config["metrics"]["test/acc"] == {"mean": np.mean(tests), "std": np.std(tests, ddof=1), "n": 2}
    markdown = (seeded_grid / "summary.md").read_text().splitlines()
    start = markdown.index("over seeds: mean ± sample std (n finished seeds) of each configuration")
    header = f"| {' | '.join(GRID_KEYS)} | jobs | finished | val/acc | test/loss | test/acc | weights/l2_norm"
    assert markdown[start + 2] == f"{header} | epochs | seconds |"
    (alone,) = finished_values(seeded_grid, (4,), val_of)
    assert markdown[start + 6].startswith(f"| 0.001 | 0 | 4 5 | 1/2 | {alone:.4f} (1) |")
    spread = f"{np.mean(vals):.4f} ± {np.std(vals, ddof=1):.4f} (2)"
    assert markdown[start + 7].startswith(f"| 0.001 | 0.2 | 6 7 | 2/2 | {spread} |")
    assert markdown[-1].startswith("best configuration by mean val/acc: regularizer.weight_decay=0.001 "
                                   f"regularizer.dropout=0.2 (jobs 6 7): val/acc {spread}, test/acc ")


def test_the_heatmap_of_a_seeded_grid_shows_the_means_without_a_seed_axis(seeded_grid):
    rows = collect(seeded_grid)
    assert heatmap_keys(rows) == GRID_KEYS
    ys, xs, values, labels = heatmap_grid(rows, heatmap_keys(rows))
    assert (ys, xs) == (["0", "0.001"], ["0", "0.2"])
    for (y, x), pair in SEEDED_CONFIGURATIONS.items():
        i, j = ys.index(y), xs.index(x)
        if len(pair) == 1:  # a lost seed: no colour
            assert math.isnan(values[i, j]) and labels[i][j] == "1 of 2 finished"
            continue
        vals = finished_values(seeded_grid, pair, val_of)
        assert values[i, j] == np.mean(vals)
        assert labels[i][j] == f"{np.mean(vals):.4f} ± {np.std(vals, ddof=1):.4f}"
    summarize(seeded_grid)
    assert (seeded_grid / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_over_seeds_alone_has_one_configuration_and_no_heatmap(tmp_path):
    sweep = tmp_path / "multirun"
    for num, val in enumerate((0.81, 0.85, 0.83)):
        write_job(sweep, num, ["trainer.max_epochs=3", f"seed={num}"], classification(val, val))
    summarize(sweep)
    config = json.loads((sweep / "best.json").read_text())["best_configuration"]
    assert config["overrides"] == ["trainer.max_epochs=3"] and config["jobs"] == [0, 1, 2]
    vals = [0.81, 0.85, 0.83]
    assert (config["mean"], config["std"], config["n"]) == (np.mean(vals), np.std(vals, ddof=1), 3)
    assert not (sweep / "heatmap.png").exists()  # seed is no axis, and nothing else varies


def test_a_seeded_sweep_with_no_complete_configuration_names_none(tmp_path):
    sweep = tmp_path / "multirun"
    write_job(sweep, 0, ["seed=1"], classification(0.8, 0.8))
    write_job(sweep, 1, ["seed=2"], classification(0.9, 0.9, status="diverged"))
    summarize(sweep)
    assert json.loads((sweep / "best.json").read_text())["best_configuration"] is None
    assert (sweep / "summary.md").read_text().splitlines()[-1] == (
        "best configuration by mean val/acc: none (no configuration whose every seed finished)")


def test_command_line_prints_the_table_and_the_best_line(grid):
    result = run_module(str(grid))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (grid / "summary.md").read_text()
    assert "| 3 | 0.001 | 0.2 | 0.8710 | 0.8655 |" in result.stdout
    assert "best by val/acc: job 3 " in result.stdout


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["empty", "missing"])
def test_command_line_on_a_folder_without_jobs(tmp_path, make):
    folder = tmp_path / "multirun"
    make(folder)
    result = run_module(str(folder))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {folder} ") and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.slow  # seconds: a process of its own or real runs
def test_hydra_callback_summarizes_a_real_multirun(tmp_path):
    """The callback as conf/hydra/default.yaml registers it: a tiny app, swept with -m, gets its summary."""
    (tmp_path / "app.yaml").write_text(textwrap.dedent("""\
        x: 1
        hydra:
          sweep: {dir: multirun, subdir: "${hydra.job.num}"}
          callbacks:
            sweep_summary:
              _target_: mlplab.reporting.sweep.SweepSummary
        """))
    (tmp_path / "app.py").write_text(textwrap.dedent("""\
        import json
        from pathlib import Path
        import hydra
        from hydra.core.hydra_config import HydraConfig

        @hydra.main(version_base="1.3", config_path=".", config_name="app")
        def main(cfg):
            out = Path(HydraConfig.get().runtime.output_dir)
            monitor = {"name": "val/acc", "mode": "max", "best": cfg.x / 10}
            result = {"status": "finished", "monitor": monitor, "metrics": {"test/acc": 1 - cfg.x / 10}}
            (out / "metrics.json").write_text(json.dumps(result))

        main()
        """))
    result = subprocess.run([sys.executable, "app.py", "-m", "x=1,3,2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "multirun" / "best.json").read_text())["job"] == 1
    logged = result.stdout + result.stderr
    assert f"sweep summary in {Path('multirun') / 'summary.md'} (best: job 1)" in logged


def test_a_resume_flag_is_no_column_of_the_summary_nor_in_best_json(tmp_path):
    """``retry_failed=true`` given to a resume lands in every job's overrides.yaml (Hydra's record):
    it says how the sweep was resumed, not what a job computed."""
    sweep = tmp_path / "multirun"
    for num, p in enumerate((0, 0.2)):
        write_job(sweep, num, [f"regularizer.dropout={p}", "retry_failed=true"],
                  classification(0.8 + p / 10, 0.5))
    summarize(sweep)
    assert "retry_failed" not in (sweep / "summary.csv").read_text()
    assert json.loads((sweep / "best.json").read_text())["overrides"] == ["regularizer.dropout=0.2"]
