"""The conventions of lightning-hydra-template, through mlplab-train as a user runs it: debug
presets, composable callbacks and loggers, every experiment under fast_dev_run, a search with
fast_dev_run, Lightning's per-step flags on the real data."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from helpers import REPO, event_dir, run_main
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlplab.cli.train import main as train_main

SMALL = ["data.train_subset=1000", "data.val_size=500", "model.net.hidden=[32]"]
EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def train(tmp_path, *overrides):
    code, stdout, stderr = run_main(train_main, *overrides, f"hydra.run.dir={tmp_path}/run", cwd=REPO)
    assert code == 0, stderr[-3000:]
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if not e.endswith("_search")])
def test_every_experiment_runs_under_fast_dev_run(experiment, tmp_path):
    result = train(tmp_path, f"experiment={experiment}", "debug=fdr")
    assert result["status"] == "finished" and result["epochs"] == 1
    assert any(k.startswith("test/") for k in result["metrics"])


@pytest.mark.slow  # a real run
@pytest.mark.dataset
@pytest.mark.parametrize("precision", ["64-true", "bf16-true"])
def test_a_true_precision_trains_with_the_summary_and_the_dashboard(precision, tmp_path):
    """Lightning converts the batches it feeds to the weights' dtype; the model summary's example
    input and the dashboard's pass over the validation set must be in it too (both crashed:
    "mat1 and mat2 must have the same dtype")."""
    result = train(tmp_path, *SMALL, "trainer.max_epochs=1", f"trainer.precision={precision}")
    assert result["status"] == "finished" and 0.1 < result["metrics"]["test/acc"] <= 1
    events = EventAccumulator(str(event_dir(tmp_path / "run")))
    events.Reload()
    assert "val/confusion_matrix" in events.Tags()["images"]  # the dashboard's pass ran


@pytest.mark.slow  # a real run
@pytest.mark.dataset
def test_a_metric_logged_by_a_callback_of_ones_own_can_be_monitored(tmp_path):
    """Lightning monitors any logged key: best.ckpt and EarlyStopping follow ``my/score``, which a
    callback of the user's logs (mlplab refused every name but its own)."""
    result = train(tmp_path, *SMALL, "trainer.max_epochs=3", "callbacks=[default,early_stopping]",
                   "+callbacks.score._target_=helpers.own_metric.ScoreLogger", "monitor.name=my/score",
                   "monitor.mode=max", "callbacks.early_stopping.patience=1")
    assert result["status"] == "finished" and result["monitor"]["name"] == "my/score"
    assert result["epochs"] == 2 and result["monitor"]["best"] == 1.0  # stopped early; best: epoch 0


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize(("preset", "epochs"), [("fdr", 1), ("limit", 3), ("overfit", 20), ("profiler", 1),
                                               ("fast", 1)])
def test_debug_presets(preset, epochs, tmp_path):
    result = train(tmp_path, f"debug={preset}", *SMALL)
    assert result["status"] == "finished" and result["epochs"] == epochs
    if preset == "overfit":  # the same three batches every epoch: their loss goes down
        losses = [row["train/loss"] for row in result["history"]]
        assert losses[-1] < 0.75 * losses[0] and losses == sorted(losses, reverse=True)


@pytest.mark.slow
@pytest.mark.dataset
def test_callbacks_and_loggers_compose_one_file_each(tmp_path):
    result = train(tmp_path, *SMALL, "trainer.max_epochs=6", "callbacks=[default,early_stopping,lr_monitor]",
                   "callbacks.early_stopping.patience=0", "callbacks.early_stopping.min_delta=0.5",
                   "logger=[tensorboard,csv]")
    assert result["epochs"] == 2  # no 0.5 gain in val/acc after epoch 1: stopped early
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.ckpt").is_file() and list((run / "tensorboard").rglob("events.*"))
    assert "lr-SGD" in (run / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.slow
@pytest.mark.dataset
def test_a_resumed_run_keeps_the_csv_rows_of_its_first_part(tmp_path):
    """Lightning's CSVLogger deletes a metrics.csv in the folder it logs to: a resumed run logs
    beside it (Lightning's next version), as a new fit of Lightning's own would."""
    train(tmp_path, *SMALL, "logger=csv", "trainer.max_epochs=1")
    run = tmp_path / "run"
    code, _, stderr = run_main(train_main, *SMALL, "logger=csv", "trainer.max_epochs=2",
                               f"ckpt_path={run}/checkpoints/last.ckpt", f"hydra.run.dir={tmp_path}/again",
                               cwd=REPO)
    assert code == 0, stderr[-3000:]
    trained = {}  # the epochs whose training rows each part's metrics.csv holds
    for version in ("version_0", "version_1"):
        with (run / "csv" / version / "metrics.csv").open() as f:
            trained[version] = [row["epoch"] for row in csv.DictReader(f) if row["train/loss"]]
    assert trained == {"version_0": ["0"], "version_1": ["1"]}


@pytest.mark.slow
@pytest.mark.dataset
def test_double_validation_and_accumulation_act_per_minibatch(tmp_path):
    result = train(tmp_path, *SMALL, "trainer.max_epochs=1", "trainer.val_check_interval=0.5",
                   "trainer.accumulate_grad_batches=2")
    assert result["status"] == "finished"


@pytest.mark.slow
@pytest.mark.dataset
def test_a_search_with_fast_dev_run_returns_each_trials_value(tmp_path):
    sweep = tmp_path / "search"
    code, _, stderr = run_main(train_main, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "debug=fdr",
                               f"hydra.sweep.dir={sweep}", cwd=REPO)  # no -m: a search is a multirun
    assert code == 0, stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [json.loads((sweep / str(n) / "metrics.json").read_text())["metrics"]["val/acc"] for n in (0, 1)]
    assert best["best_value"] == pytest.approx(max(values))


def test_a_search_that_would_seek_the_worst_runs_is_refused(tmp_path):
    code, _, stderr = run_main(train_main, "hparams_search=optuna", "hydra.sweeper.direction=minimize",
                               f"hydra.sweep.dir={tmp_path}/s", cwd=REPO)
    assert code == 2 and "hydra.sweeper.direction=minimize but monitor.mode=max" in stderr
    assert not (tmp_path / "s").exists()


def test_a_search_direction_misspelt_is_named_as_a_typo(tmp_path):
    code, _, stderr = run_main(train_main, "hparams_search=optuna", "hydra.sweeper.direction=maximise",
                               f"hydra.sweep.dir={tmp_path}/s", cwd=REPO)
    assert code == 2 and ("hydra.sweeper.direction=maximise is not one of maximize, minimize; e.g. "
                          "hydra.sweeper.direction=maximize") in stderr
    assert not (tmp_path / "s").exists()
