"""Sweeps on a real SLURM cluster (the local one of scripts/slurm_local.sh, which CI starts): a
grid through hydra/launcher=slurm whose jobs SLURM requeues — one pre-empted, one at its time
limit — each resuming from its last.ckpt to the same end as a job never stopped."""

from __future__ import annotations

import csv
import json
import subprocess
import time

import pytest
import torch
from helpers import BIN, REPO, run_main, unavailable
from helpers.services import slurm_is_up

from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.slurm, pytest.mark.dataset, pytest.mark.slow]
SMALL = ["data.train_subset=1000", "data.val_size=500", "model.net.hidden=[16]", "regularizer=dropout"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    reason = slurm_is_up()
    if reason:
        unavailable(reason)


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


def slurm_jobs() -> dict[int, str]:
    """The sweep's SLURM jobs in the queue: Hydra's job number → SLURM's id (``<array>_<number>``)."""
    ids = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    # an array's jobs that wait together show as one line, ``<array>_[0-1%2]``: none started yet
    return {int(number): job_id for job_id in ids if (number := job_id.rpartition("_")[2]).isdecimal()}


def run_in_background(sweep, *overrides):
    command = [str(BIN / "mlplab-train"), "-m", "hydra/launcher=slurm", *overrides,
               f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_each_after_its_first_checkpoint(run, sweep, stops) -> dict[int, str]:
    """Send job n ``stops[n]`` as soon as its first last.ckpt exists (each job on its own clock:
    the other may be further on); Hydra's job number → the SLURM id it was sent to."""
    deadline, sent = time.monotonic() + 300, {}
    while len(sent) < len(stops):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()[-3000:]
        for number, job_id in slurm_jobs().items():
            if number not in sent and (sweep / str(number) / "checkpoints" / "last.ckpt").exists():
                subprocess.run([*stops[number], job_id], check=True)
                sent[number] = job_id
        time.sleep(0.1)
    return sent


def release_when_requeued(job_ids, run):
    """SLURM holds a requeued job for about two minutes before it may start again (a guard against
    requeue loops); the test lets each start at once, which changes nothing else."""
    waiting, deadline = set(job_ids), time.monotonic() + 120
    while waiting and run.poll() is None and time.monotonic() < deadline:
        for job_id in sorted(waiting):
            state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
            if state.stdout.strip() == "PENDING":
                release = ["scontrol", "update", f"JobId={job_id}", "StartTime=now"]
                subprocess.run(release, capture_output=True)
                waiting.discard(job_id)
        time.sleep(0.2)


def test_a_grid_through_slurm_whose_jobs_are_requeued_ends_as_if_nothing_stopped_them(tmp_path):
    """Both dropout styles through hydra/launcher=slurm: one SLURM job each, side by side on one
    CPU each. Each is stopped after its first checkpoint the way SLURM stops a job: job 0
    pre-empted (``scontrol requeue``: SIGTERM, then back in the queue), job 1 at its time limit
    (SIGUSR2 signal_delay_s before it: submitit requeues the job). Each resumes from its last.ckpt
    and ends as the same job that nothing stopped; the summary lists both."""
    # 12 short epochs: the stop must land while the job still runs (its first checkpoint
    # appears after one epoch, the squeue and scontrol calls take a while on a loaded machine)
    job = [*SMALL, "trainer.max_epochs=12"]
    styles = ("inverted", "classic")
    sweep = tmp_path / "sweep"
    run = run_in_background(sweep, *job, f"regularizer.dropout_style={','.join(styles)}")
    sent = stop_each_after_its_first_checkpoint(run, sweep, {0: ["scontrol", "requeue"],
                                                             1: ["scancel", "--signal=USR2"]})
    release_when_requeued(sent.values(), run)
    stderr = run.communicate(timeout=600)[1]
    assert run.returncode == 0, stderr[-3000:]
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["regularizer.dropout_style"], r["status"]) for r in rows] == [
        ("0", "inverted", "finished"), ("1", "classic", "finished")]
    for number, style in enumerate(styles):
        result = metrics(sweep / str(number))
        assert result["epochs"] == 12 and result["threads"] == 1, number  # cpus_per_task=1
        assert result["resumed_from"] == str(sweep / str(number) / "checkpoints" / "last.ckpt"), number
        reference = alone(tmp_path / str(number), *job, f"regularizer.dropout_style={style}")
        assert result["history"] == reference["history"] and result["metrics"] == reference["metrics"], number
    assert list((sweep / ".submitit").rglob("*_log.out"))
