"""Real multiruns launched as a user launches them: the λ × dropout grid and the book's
regression experiments (d2l 4.4 and 4.5)."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import REPO, event_dir
from helpers.hparams_api import hparams_tab
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

FAST = ["data.train_subset=1024", "data.val_size=1000", "trainer.max_epochs=1",
        "model.hidden=[64,64]"]


def multirun(cli, sweep_dir, *overrides):
    result = cli("mlplab-train", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def job_metrics(sweep_dir, n):
    return json.loads((sweep_dir / str(n) / "metrics.json").read_text())


def session_hparams(tb_dir) -> dict:
    events = EventAccumulator(str(tb_dir), size_guidance={"tensors": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return {k: v.string_value or v.number_value for k, v in start.session_start_info.hparams.items()}


@pytest.mark.dataset
def test_weight_decay_by_dropout_grid(tmp_path, cli):
    sweep = tmp_path / "sweep"
    multirun(cli, sweep, "regularizer.weight_decay=0,1e-3", "regularizer.dropout=0,0.5", *FAST)
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()) == list("0123")
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {"regularizer.weight_decay", "regularizer.dropout", "status"} <= set(rows[0])
    assert all(row["status"] == "finished" for row in rows)
    assert (sweep / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert "best by val/acc" in (sweep / "summary.md").read_text()
    for n in range(4):
        hparams = session_hparams(event_dir(sweep / str(n)))
        regularizer = job_metrics(sweep, n)["hparams"]["regularizer"]
        assert hparams["regularizer.weight_decay"] == pytest.approx(regularizer["weight_decay"])
        assert hparams["regularizer.dropout"] == pytest.approx(regularizer["dropout"])
        assert "regularizer.dropout=" in event_dir(sweep / str(n)).name  # listed by its overrides
        events = EventAccumulator(str(event_dir(sweep / str(n))))
        events.Reload()
        (val_acc,) = events.Scalars("hp/val_acc")  # written once, at the run's end: no line
        assert val_acc.value == pytest.approx(job_metrics(sweep, n)["monitor"]["best"], abs=1e-6)
    # the HParams tab, as TensorBoard serves it: every run with its knobs and its four metrics
    experiment, rows = hparams_tab(sweep, runs=4)
    assert len(rows) == 4
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} == \
        {"hp/val_acc", "hp/val_loss", "hp/test_acc", "hp/test_loss"}
    served = {(row["hparams"]["regularizer.weight_decay"], row["hparams"]["regularizer.dropout"]):
              row["metrics"] for row in rows}
    for n in range(4):
        result = job_metrics(sweep, n)
        regularizer = result["hparams"]["regularizer"]
        knobs = (regularizer["weight_decay"], regularizer["dropout"])
        assert served[knobs]["hp/test_acc"] == pytest.approx(result["metrics"]["test/acc"], abs=1e-6)
        assert served[knobs]["hp/val_acc"] == pytest.approx(result["monitor"]["best"], abs=1e-6)


@pytest.mark.slow
def test_d2l_weight_decay_shrinks_the_weights(tmp_path, cli):
    sweep = tmp_path / "sweep"
    multirun(cli, sweep, "experiment=d2l_weight_decay", "regularizer.weight_decay=0,3")
    norm_free = job_metrics(sweep, 0)["metrics"]["weights/l2_norm"]
    norm_decayed = job_metrics(sweep, 1)["metrics"]["weights/l2_norm"]
    assert norm_decayed < norm_free / 10
    assert (sweep / "summary.csv").is_file() and not (sweep / "heatmap.png").exists()


@pytest.mark.slow
def test_d2l_polynomial_under_and_overfits(tmp_path, cli):
    sweep = tmp_path / "sweep"
    # no checkpoint or event file per epoch: 1200 epochs of writing would be most of the time
    multirun(cli, sweep, "experiment=d2l_polynomial", "data.num_features=2,4,20",
             "trainer.max_epochs=400", "callbacks=none", "logger=none")
    final = [job_metrics(sweep, n)["metrics"] for n in range(3)]
    train_losses = [m["train/loss"] for m in final]
    assert train_losses[0] == max(train_losses)            # 2 features: underfits
    assert final[2]["test/loss"] > final[2]["train/loss"]  # 20 features: worse off the training set
    # the README's 4.4 row (seed 42): train/test loss 7.25/4.07, 0.0044/0.0041, 0.0191/0.0238
    assert [(round(m["train/loss"], 4), round(m["test/loss"], 4)) for m in final] == \
        [(7.2549, 4.0709), (0.0044, 0.0041), (0.0191, 0.0238)]
