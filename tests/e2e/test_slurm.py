"""Sweeps on a real SLURM cluster (the local one of scripts/slurm_local.sh, which CI starts):
a grid through hydra/launcher=slurm, and jobs that SLURM requeues — pre-empted, or at their time
limit — resuming from their last.ckpt to the same end as a job never stopped."""

from __future__ import annotations

import csv
import json
import subprocess
import time

import pytest
import torch
from helpers import BIN, REPO, run_main
from helpers.services import slurm_is_up

from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.slurm, pytest.mark.dataset, pytest.mark.slow]
SMALL = ["data.train_subset=1000", "data.val_size=500", "model.hidden=[16]", "regularizer=dropout"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    reason = slurm_is_up()
    if reason:
        pytest.skip(reason)


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def alone(tmp_path, *overrides):
    """The same job as a local run that nothing stops, on the SLURM job's one thread (a float sum
    over two threads may differ in its last bit; the thread count an earlier test left is not it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # cpus_per_task=1
    try:
        code, _, stderr = run_main(train_main, *overrides, f"hydra.run.dir={tmp_path}/alone", cwd=REPO)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, stderr[-3000:]
    return metrics(tmp_path / "alone")


def test_a_grid_through_the_slurm_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    code, _, stderr = run_main(train_main, "-m", "hydra/launcher=slurm", "regularizer.weight_decay=0,0.001",
                               "regularizer.dropout_style=inverted,classic", *SMALL, "trainer.max_epochs=2",
                               f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert code == 0, stderr[-3000:]
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["finished"] * 4
    assert [r["regularizer.dropout_style"] for r in rows] == ["inverted", "classic"] * 2
    for row in rows:
        job = metrics(sweep / row["job"])
        assert job["threads"] == 1 and job["epochs"] == 2  # cpus_per_task=1
        assert (sweep / row["job"] / "checkpoints" / "last.ckpt").is_file()
    assert list((sweep / ".submitit").rglob("*_log.out"))


def slurm_jobs() -> list[str]:
    return subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()


def run_in_background(sweep, *overrides):
    command = [str(BIN / "mlplab-train"), "-m", "hydra/launcher=slurm", *overrides,
               f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_a_checkpoint(run, sweep):
    deadline = time.monotonic() + 300
    while not (sweep / "0" / "checkpoints" / "last.ckpt").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()[-3000:]
        time.sleep(0.1)
    (job_id,) = slurm_jobs()
    return job_id


def release_when_requeued(job_id, run):
    """SLURM holds a requeued job for about two minutes before it may start again (a guard against
    requeue loops); the test lets it start at once, which changes nothing else."""
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
        if state.stdout.strip() == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], capture_output=True)
            return
        time.sleep(0.2)


@pytest.mark.parametrize("stop", [
    ["scontrol", "requeue"],  # what pre-emption does: SIGTERM, then the job back in the queue
    ["scancel", "--signal=USR2"],  # what SLURM sends signal_delay_s before the time limit: submitit requeues
], ids=["preempted", "time limit"])
def test_a_requeued_job_comes_back_and_ends_as_if_never_stopped(stop, tmp_path):
    # 12 short epochs: the requeue must land while the job still runs (its first checkpoint
    # appears after one epoch, the squeue and scontrol calls take a while on a loaded machine)
    job = [*SMALL, "trainer.max_epochs=12"]
    sweep = tmp_path / "sweep"
    run = run_in_background(sweep, *job)
    job_id = wait_for_a_checkpoint(run, sweep)
    subprocess.run([*stop, job_id], check=True)
    release_when_requeued(job_id, run)
    stderr = run.communicate(timeout=600)[1]
    assert run.returncode == 0, stderr[-3000:]
    result = metrics(sweep / "0")
    assert result["status"] == "finished" and result["epochs"] == 12
    assert result["resumed_from"] == str(sweep / "0" / "checkpoints" / "last.ckpt")
    reference = alone(tmp_path, *job)
    assert result["history"] == reference["history"] and result["metrics"] == reference["metrics"]
