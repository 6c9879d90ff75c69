"""Sweeps on a real SLURM cluster (the local one of scripts/slurm_local.sh, which CI starts): a
grid through hydra/launcher=slurm whose jobs SLURM requeues — one pre-empted, one at its time
limit — each resuming from its last.ckpt to the same end as a job never stopped.

Each job stops itself, from a callback of the test (``StopLikeSlurm``, importable in the job with
``tests/`` on PYTHONPATH, which SLURM passes on), at a known point of its first run: no test
process watches the queue for the moment to send a signal, so nothing depends on how fast the
machine is."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import BIN, REPO, run_main, unavailable
from helpers.services import RequeueRelease, slurm_is_up

from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.slurm, pytest.mark.dataset, pytest.mark.slow]
SMALL = ["data.train_subset=1000", "data.val_size=500", "model.net.hidden=[16]", "regularizer=dropout"]


class StopLikeSlurm(L.Callback):
    """Stops job ``job`` of a sweep (Hydra's job number) from inside, the way SLURM stops a job, in
    its first run only (a requeued job runs again with ``SLURM_RESTART_COUNT`` set, and goes on).
    First it writes an empty file ``record/<job>.<SLURM job id>``: the job to release once queued.

    ``preempt``: when epoch ``epoch`` ends, ``scontrol requeue`` of its own job (SLURM sends the job
    SIGTERM and queues it again), then it waits for that SIGTERM; mlplab's GracefulStop (a later
    callback of the same hook, before the checkpoint callbacks) then stops the run after this
    epoch, whose last.ckpt is written.
    ``time_limit``: after training step ``batch`` of epoch ``epoch``, the job sends itself SIGUSR2,
    what SLURM sends ``signal_delay_s`` before its time limit: submitit's handler requeues the job
    and exits at once, mid-epoch. Its next run repeats the epoch from the last epoch's last.ckpt."""

    def __init__(self, job: int, how: str, record: str, epoch: int = 1, batch: int = 1) -> None:
        assert how in ("preempt", "time_limit"), how
        self.job, self.how, self.record, self.epoch, self.batch = job, how, Path(record), epoch, batch

    def first_run_of_my_job(self) -> bool:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().job.num == self.job and int(os.environ.get("SLURM_RESTART_COUNT") or 0) == 0

    def announce(self) -> None:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        job_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}" if task else os.environ["SLURM_JOB_ID"]
        (self.record / f"{self.job}.{job_id}").touch()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.how == "time_limit" and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch) \
                and self.first_run_of_my_job():
            self.announce()
            os.kill(os.getpid(), signal.SIGUSR2)  # submitit's handler ends the process

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.how == "preempt" and trainer.current_epoch == self.epoch and self.first_run_of_my_job():
            from mlplab.runtime.interrupt import GracefulStop

            (stop,) = [c for c in trainer.callbacks if isinstance(c, GracefulStop)]
            self.announce()
            subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=True)
            deadline = time.monotonic() + 120  # (SLURM's SIGTERM follows at once: this only ends a hang)
            while not stop.requested:
                if time.monotonic() > deadline:
                    raise RuntimeError("scontrol requeue sent no SIGTERM to the job within 120 s")
                time.sleep(0.05)


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


def run_in_background(sweep, *overrides):
    """The sweep, with ``tests/`` importable in it and in its SLURM jobs (for ``StopLikeSlurm``)."""
    path = os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))
    command = [str(BIN / "mlplab-train"), "-m", "hydra/launcher=slurm", *overrides,
               f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": path})


def release_requeued_jobs(run, record: Path) -> set[str]:
    """Each job that stopped itself (``record``) starts again as soon as SLURM allows once it is
    back in the queue (``RequeueRelease``), while the sweep runs. Returns the SLURM ids released."""
    release = RequeueRelease()
    while run.poll() is None:
        for job_id in {path.suffix[1:] for path in record.iterdir()} - release.released:
            state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
            release.see(job_id, state.stdout.strip() or None)
        time.sleep(0.2)
    return release.released


def test_a_grid_through_slurm_whose_jobs_are_requeued_ends_as_if_nothing_stopped_them(tmp_path):
    """Both dropout styles through hydra/launcher=slurm: one SLURM job each, side by side on one
    CPU each. Each stops itself in its second epoch the way SLURM stops a job: job 0 pre-empted at
    the epoch's end (``scontrol requeue``: SIGTERM, then back in the queue), job 1 at its time limit
    mid-epoch (SIGUSR2 signal_delay_s before it: submitit requeues the job). Each resumes from its
    last.ckpt and ends as the same job that nothing stopped; the summary lists both."""
    job = [*SMALL, "trainer.max_epochs=3"]
    styles = ("inverted", "classic")
    sweep, record = tmp_path / "sweep", tmp_path / "stopped"
    record.mkdir()
    stops = [f"+callbacks.{name}.{key}={value}"
             for name, how, number in (("preempt", "preempt", 0), ("time_limit", "time_limit", 1))
             for key, value in (("_target_", "e2e.test_slurm.StopLikeSlurm"), ("job", number), ("how", how),
                                ("record", record))]
    run = run_in_background(sweep, *job, f"regularizer.dropout_style={','.join(styles)}", *stops)
    released = release_requeued_jobs(run, record)
    stderr = run.communicate(timeout=600)[1]
    assert run.returncode == 0, stderr[-3000:]
    stopped = {int(path.stem): path.suffix[1:] for path in record.iterdir()}
    assert sorted(stopped) == [0, 1] and released == set(stopped.values()), (stopped, released)
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["regularizer.dropout_style"], r["status"]) for r in rows] == [
        ("0", "inverted", "finished"), ("1", "classic", "finished")]
    logs = {number: "".join(p.read_text() for p in (sweep / ".submitit" / job_id).glob("*_log.*"))
            for number, job_id in stopped.items()}
    assert "SIGTERM received: finishing this epoch" in logs[0], logs[0][-3000:]  # mlplab's GracefulStop
    assert "Caught signal SIGUSR2" in logs[1] and "Requeued job" in logs[1], logs[1][-3000:]  # submitit's
    for number, style in enumerate(styles):
        result = metrics(sweep / str(number))
        assert result["epochs"] == 3 and result["threads"] == 1, number  # cpus_per_task=1
        assert result["resumed_from"] == str(sweep / str(number) / "checkpoints" / "last.ckpt"), number
        reference = alone(tmp_path / str(number), *job, f"regularizer.dropout_style={style}")
        assert result["history"] == reference["history"] and result["metrics"] == reference["metrics"], number


def test_a_job_slurm_refuses_ends_the_sweep_in_one_line_naming_sbatchs_reason(tmp_path):
    """sbatch refuses a partition the cluster does not have: one ``error:`` line with its words."""
    result = subprocess.run([str(BIN / "mlplab-train"), "-m", "hydra/launcher=slurm", *SMALL,
                             "hydra.launcher.partition=nowhere", "regularizer.dropout=0.1,0.2",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=REPO, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [row for row in result.stderr.splitlines() if row.startswith("error: ")]
    assert line.startswith("error: SLURM refused the sweep's jobs (sbatch: error: ") and "partition" in line
    assert "check that the cluster answers here (sinfo)" in line
