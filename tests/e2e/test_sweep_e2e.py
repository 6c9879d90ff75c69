"""A real multirun as a user's command line gives it: the λ × dropout grid, its summary and its
HParams tab. (The book's sweeps, d2l 4.4 and 4.5, run as rows of tests/e2e/test_reproduce.py.)"""

from __future__ import annotations

import csv
import json

import pytest
from helpers import REPO, event_dir, run_main
from helpers.hparams_api import hparams_tab
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from mlplab.cli.train import main as train_main

FAST = ["data.train_subset=1024", "data.val_size=1000", "trainer.max_epochs=1",
        "model.net.hidden=[64,64]"]


def multirun(sweep_dir, *overrides):
    """``mlplab-train -m <overrides>``: its main in this process (the installed command runs
    multiruns in tests/e2e/test_slurm.py and test_optuna_search.py)."""
    code, _, stderr = run_main(train_main, "-m", *overrides, f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert code == 0, stderr[-3000:]


def job_metrics(sweep_dir, n):
    return json.loads((sweep_dir / str(n) / "metrics.json").read_text())


def session_hparams(tb_dir) -> dict:
    events = EventAccumulator(str(tb_dir), size_guidance={"tensors": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return {k: v.string_value or v.number_value for k, v in start.session_start_info.hparams.items()}


@pytest.mark.slow
@pytest.mark.dataset
def test_weight_decay_by_dropout_grid(tmp_path):
    sweep = tmp_path / "sweep"
    multirun(sweep, "regularizer.weight_decay=0,1e-3", "regularizer.dropout=0,0.5", *FAST)
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
        # listed by its overrides, both swept values among them: over 120 bytes whole, so named by the
        # keys' last parts (cut as it was, λ was lost: "…,regularizer.dropout=0.5,regularizer.weight-<hash>")
        named = event_dir(sweep / str(n)).name.split(",")
        assert f"dropout={regularizer['dropout']:g}" in named
        assert any(o.startswith("weight_decay=") for o in named)
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


@pytest.mark.dataset
@pytest.mark.slow  # a two-job sweep
def test_job_folders_named_by_hydra_sweep_subdir_are_summarised_and_a_failed_job_fails_the_sweep(tmp_path):
    """``hydra.sweep.subdir`` other than the job number (Hydra's docs show
    ``${hydra.job.override_dirname}``): the summary finds the jobs by their Hydra record, the sweep
    exits 1 for the job that failed, and sweep.json keeps the override as typed (its ``${…}`` is
    Hydra's to resolve, per job)."""
    sweep_dir = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", *FAST, "trainer.max_epochs=1",
                               "optimizer.lr=0.1,1e12", "hydra.sweep.subdir=job${hydra.job.num}",
                               f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert code == 1, stderr[-3000:]
    assert "error: 1 of the sweep's jobs did not finish (job 1 diverged)" in stderr, stderr[-3000:]
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["job0", "job1"]
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [row["job"] for row in rows] == ["0", "1"]
    assert json.loads((sweep_dir / "best.json").read_text())["job"] == 0
    recorded = json.loads((sweep_dir / "sweep.json").read_text())
    assert "hydra.sweep.subdir=job${hydra.job.num}" in recorded["command"]
    # TensorBoard's HParams tab tells the diverged job from the finished one (its status filter)
    _, served = hparams_tab(sweep_dir, runs=2)
    assert {row["hparams"]["optimizer.lr"]: row["status"] for row in served} == \
        {0.1: "STATUS_SUCCESS", 1e12: "STATUS_FAILURE"}


@pytest.mark.dataset
@pytest.mark.slow
def test_ctrl_c_between_jobs_is_one_line_whose_command_resumes_the_sweep(tmp_path):
    """Outside an epoch (loading data, between jobs) a Ctrl-C is Python's KeyboardInterrupt: one line
    and the sweep's own command, which skips the finished job and runs the rest."""
    import shlex

    sweep_dir = tmp_path / "sweep"
    stop = ["+hydra.callbacks.stop._target_=helpers.signals.InterruptAtJobStart",
            "+hydra.callbacks.stop.job=1"]
    code, _, stderr = run_main(train_main, "-m", *FAST, "logger=none", "seed=1,2", *stop,
                               f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert code == 130 and "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: stopped by Ctrl-C between or before the sweep's runs; resume with: "
                           "mlplab-train -m "), last
    assert job_metrics(sweep_dir, 0)["status"] == "finished"
    assert not (sweep_dir / "1" / "metrics.json").exists()
    words = [w for w in shlex.split(last.split("resume with: ", 1)[1]) if "hydra.callbacks.stop" not in w]
    assert words[:2] == ["mlplab-train", "-m"] and f"hydra.sweep.dir={sweep_dir}" in words
    code, out, stderr = run_main(train_main, *words[1:], cwd=REPO)
    assert code == 0, stderr[-3000:]
    assert "finished before, not run again" in out and job_metrics(sweep_dir, 1)["status"] == "finished"


@pytest.mark.dataset
@pytest.mark.slow
def test_ctrl_c_while_a_job_is_tested_ends_the_sweep_with_its_resume_line(tmp_path):
    """Lightning answers a Ctrl-C in trainer.test (or while setting up) with sys.exit(1): the sweep
    ended with status 1 and no line; it ends as a Ctrl-C does elsewhere, exit 130 and its command."""
    sweep_dir = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", *FAST, "logger=none", "seed=1,2",
                               "+callbacks.ctrl_c._target_=helpers.ctrl_c.CtrlCWhileTesting",
                               f"hydra.sweep.dir={sweep_dir}", cwd=REPO)
    assert code == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith(
        "error: stopped by Ctrl-C between or before the sweep's runs; resume with: mlplab-train -m ")
    assert not (sweep_dir / "1").exists()  # the sweep stopped at its first job
