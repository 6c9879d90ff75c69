"""A stopped multirun, continued by the same command with ``hydra.sweep.dir=<it>``: finished jobs
are not run again, the interrupted one resumes from its last.ckpt and ends exactly where an
uninterrupted job ends, failed ones run again only when asked."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main

JOB = ["data.train_subset=2000", "data.val_size=1000", "model.net.hidden=[32]", "trainer.max_epochs=4",
       "regularizer=dropout"]
GRID = "regularizer.dropout=0,0.2,0.5"
CTRL_C_IN_JOB_1 = ["+callbacks.stop._target_=helpers.signals.SignalAt", "+callbacks.stop.epoch=0",
                   "+callbacks.stop.name=SIGINT", "+callbacks.stop.job=1"]


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.dataset
@pytest.mark.slow
def test_ctrl_c_then_the_same_command_finishes_the_sweep_exactly(tmp_path):
    sweep = tmp_path / "sweep"
    # Ctrl-C from inside job 1 at the end of its first epoch: the sweep stops there on any machine
    command = ["-m", *JOB, GRID, *CTRL_C_IN_JOB_1, f"hydra.sweep.dir={sweep}"]
    code, _, stderr = run_main(train_main, *command, cwd=REPO)
    assert code == 130, stderr[-3000:]
    stopped = metrics(sweep / "1")
    assert stopped["status"] == "interrupted" and stopped["epochs"] == 1
    resume_line = next(line for line in stderr.splitlines() if line.startswith("resume with: "))
    assert resume_line == f"resume with: mlplab-train {' '.join(command)}"
    assert not (sweep / "2").exists()
    job0_checkpoint = (sweep / "0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns

    code, stdout, stderr = run_main(train_main, *resume_line.split()[3:], cwd=REPO)  # as printed
    assert code == 0, stderr[-3000:]
    assert "finished before, not run again" in stdout
    assert (sweep / "0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == job0_checkpoint  # not retrained
    resumed = metrics(sweep / "1")
    assert resumed["status"] == "finished"
    assert resumed["resumed_from"] == str(sweep / "1" / "checkpoints" / "last.ckpt")
    with (sweep / "summary.csv").open() as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["finished"] * 3

    alone = tmp_path / "alone"  # job 1 as a run that was never stopped
    code, _, stderr = run_main(train_main, *JOB, "regularizer.dropout=0.2", f"hydra.run.dir={alone}",
                               cwd=REPO)
    assert code == 0, stderr[-3000:]
    assert resumed["history"] == metrics(alone)["history"] and resumed["metrics"] == metrics(alone)["metrics"]


@pytest.mark.slow
@pytest.mark.dataset
def test_failed_jobs_run_again_only_when_asked(tmp_path):
    sweep = tmp_path / "sweep"
    args = [*JOB, "trainer.max_epochs=1", "optimizer.lr=0.1,1e6", f"hydra.sweep.dir={sweep}"]
    code, _, _ = run_main(train_main, "-m", *args, cwd=REPO)
    assert code == 1 and metrics(sweep / "1")["status"] == "diverged"
    first = (sweep / "1" / "metrics.json").read_text()
    first_logs = sorted((sweep / "1" / "tensorboard").rglob("events.out.tfevents.*"))
    code, _, _ = run_main(train_main, "-m", *args, cwd=REPO)  # resumed: the diverged job stays as it was
    assert code == 1 and (sweep / "1" / "metrics.json").read_text() == first
    code, stdout, _ = run_main(train_main, "-m", *args, "retry_failed=true", cwd=REPO)
    assert code == 1 and metrics(sweep / "1")["status"] == "diverged"
    assert (sweep / "1" / "metrics.json").read_text() != first  # ran again (and diverged again)
    assert stdout.count("finished before, not run again") == 1  # job 0
    # its TensorBoard holds the new try's curves only: the first try's event files are gone
    again = sorted((sweep / "1" / "tensorboard").rglob("events.out.tfevents.*"))
    assert first_logs and again and not set(first_logs) & set(again)


def test_a_folder_of_another_sweep_is_refused(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"command": "mlplab-train -m optimizer.lr=1,2",
                                                  "overrides": ["optimizer.lr=1,2"], "jobs": None}))
    code, _, stderr = run_main(train_main, "-m", "regularizer.dropout=0,0.5", f"hydra.sweep.dir={sweep}",
                               cwd=REPO)
    assert code == 2 and "holds another sweep: resume it with `mlplab-train -m optimizer.lr=1,2`" in stderr
    assert "no job was started" in stderr and sorted(p.name for p in sweep.iterdir()) == ["sweep.json"]
