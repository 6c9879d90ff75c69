"""scripts/sbatch_train.sh on a real SLURM cluster (the local one of scripts/slurm_local.sh): two
plain batch jobs, each stopped once the way SLURM stops a job — one pre-empted, one at its time
limit — come back with the same job id and end, through ckpt_path=last, as a run nothing stopped.

Each job stops itself from a callback of this module (``StopOnce``, importable in the job with
``tests/`` on PYTHONPATH, which sbatch passes on), at a known point of its first run; the test only
lets each requeued job start again at once (SLURM would hold it back for two minutes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import BIN, REPO, run_main, unavailable, write_fake_fashion_mnist
from helpers.services import RequeueRelease, slurm_is_up

from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SCRIPT = REPO / "scripts" / "sbatch_train.sh"
# fake Fashion-MNIST (256 training images, 64 held out: six batches of 32 an epoch); dropout draws
# random numbers, so a resume that lost the generator's state would end elsewhere
RUN = ["data.val_size=64", "data.check_counts=false", "data.batch_size=32", "model.net.hidden=[16]",
       "regularizer=dropout", "trainer.max_epochs=3"]


class StopOnce(L.Callback):
    """Stops this SLURM job once, in its first run (``SLURM_RESTART_COUNT`` unset), at epoch
    ``epoch``, after writing an empty file ``<record>/<job id>``:

    ``preempt``: when the epoch ends, ``scontrol requeue`` of its own job, as a pre-emption does
    (SLURM sends SIGTERM to mlplab-train and queues the job again).
    ``time_limit``: after the epoch's training batch ``batch``, USR1 to the batch shell only, what
    ``#SBATCH --signal=B:USR1@90`` sends before the time limit: the script stops mlplab-train and
    requeues the job itself.

    Either way it waits until mlplab-train got its SIGTERM (mlplab's GracefulStop, a later callback
    of the same hook, then stops the run after this epoch, whose last.ckpt is written)."""

    def __init__(self, how: str, record: str, epoch: int = 1, batch: int = 1) -> None:
        assert how in ("preempt", "time_limit"), how
        self.how, self.record, self.epoch, self.batch = how, Path(record), epoch, batch

    def first_run(self, trainer: L.Trainer) -> bool:
        return trainer.current_epoch == self.epoch and not int(os.environ.get("SLURM_RESTART_COUNT") or 0)

    def stop(self, trainer: L.Trainer, command: list[str]) -> None:
        from mlplab.runtime.interrupt import GracefulStop

        (graceful,) = [c for c in trainer.callbacks if isinstance(c, GracefulStop)]
        (self.record / os.environ["SLURM_JOB_ID"]).touch()
        subprocess.run(command, check=True)
        deadline = time.monotonic() + 120  # the signal follows at once: this only ends a hang
        while not graceful.requested:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} brought mlplab-train no SIGTERM within 120 s")
            time.sleep(0.05)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.how == "time_limit" and batch_idx == self.batch and self.first_run(trainer):
            self.stop(trainer, ["scancel", "--batch", "--signal=USR1", os.environ["SLURM_JOB_ID"]])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.how == "preempt" and self.first_run(trainer):
            self.stop(trainer, ["scontrol", "requeue", os.environ["SLURM_JOB_ID"]])


@pytest.fixture(scope="module", autouse=True)
def cluster():
    reason = slurm_is_up()
    if reason:
        unavailable(reason)


def submit(work: Path, data: Path, record: Path, how: str) -> str:
    """``sbatch scripts/sbatch_train.sh …`` from ``work``, on one CPU, with the venv's
    mlplab-train first on PATH; returns the job id."""
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
    stop = [f"+callbacks.stop.{key}={value}"
            for key, value in (("_target_", "e2e.test_sbatch.StopOnce"), ("how", how), ("record", record))]
    command = ["sbatch", "--parsable", "--cpus-per-task=1", "--mem=2G", f"--output={work}/slurm-%j.out",
               str(SCRIPT), f"data.data_dir={data}", *RUN, *stop]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def state(job_id: str) -> dict[str, str]:
    """``scontrol show job``'s fields (kept MinJobAge, 300 s, after the job ends); {} once gone."""
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    return dict(re.findall(r"(\w+)=(\S*)", shown.stdout))


def wait_releasing_requeued(jobs: list[str], record: Path) -> None:
    """Until every job has ended; a job that stopped itself (``record``) and is back in the queue
    starts again as soon as SLURM allows (``RequeueRelease``)."""
    release = RequeueRelease()
    deadline = time.monotonic() + 600  # ends a hang only
    while True:
        states = {job_id: state(job_id).get("JobState") for job_id in jobs}
        if all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", None)
               for s in states.values()):
            return
        for job_id in {p.name for p in record.iterdir()}:
            release.see(job_id, states.get(job_id))
        assert time.monotonic() < deadline, states
        time.sleep(0.2)


def alone(tmp_path: Path, data: Path) -> dict:
    """The same run in this process, nothing stopping it, on the job's one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # --cpus-per-task=1: the script sets OMP_NUM_THREADS=1
    try:
        code, _, stderr = run_main(train_main, f"data.data_dir={data}", *RUN,
                                   f"hydra.run.dir={tmp_path}/alone", cwd=tmp_path)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, stderr[-3000:]
    return json.loads((tmp_path / "alone" / "metrics.json").read_text())


def test_a_plain_sbatch_job_requeued_once_resumes_from_last_ckpt_and_ends_as_if_never_stopped(tmp_path):
    """Two jobs of scripts/sbatch_train.sh side by side, one CPU each: one pre-empted at the end of
    its second epoch (``scontrol requeue``: SIGTERM, then back in the queue), one sent USR1 before
    its time limit in the middle of that epoch (the script stops the run after the epoch, then
    requeues the job). Each starts again with the same job id, resumes its run from its last.ckpt
    (ckpt_path=last under logs/slurm/<job id>), and ends with the history and the scores of the
    same run that nothing stopped."""
    data = write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    work, record = tmp_path / "work", tmp_path / "stopped"
    work.mkdir()
    record.mkdir()
    jobs = {how: submit(work, data, record, how) for how in ("preempt", "time_limit")}
    reference = alone(tmp_path, data)  # while the jobs run
    wait_releasing_requeued(list(jobs.values()), record)
    assert sorted(p.name for p in record.iterdir()) == sorted(jobs.values())
    for how, job_id in jobs.items():
        output = (work / f"slurm-{job_id}.out").read_text()
        fields = state(job_id)
        assert (fields["JobState"], fields["Restarts"], fields["ExitCode"]) == ("COMPLETED", "1", "0:0"), \
            output[-3000:]
        starts = [line for line in output.splitlines() if line.startswith(f"sbatch_train: job {job_id}, st")]
        assert len(starts) == 2, output[-3000:]
        assert starts[0].endswith(f"paths.log_dir=logs/slurm/{job_id}"), starts  # a new run
        assert starts[1].endswith(f"paths.log_dir=logs/slurm/{job_id} ckpt_path=last"), starts  # resumed
        assert "SIGTERM received: finishing this epoch" in output, output[-3000:]  # mlplab's GracefulStop
        said = {"preempt": "sbatch_train: SIGTERM (pre-empted or requeued)",  # the shell waited
                "time_limit": "sbatch_train: USR1, the time limit is near"}[how]
        assert said in output, output[-3000:]
        assert "srun` command is available" not in output  # --ntasks=1: Lightning's SLURM environment
        (metrics_file,) = (work / "logs" / "slurm" / job_id / "runs").glob("*/metrics.json")
        result = json.loads(metrics_file.read_text())
        run = metrics_file.parent.relative_to(work)
        assert (result["status"], result["epochs"], result["threads"]) == ("finished", 3, 1), how
        assert result["resumed_from"] == str(run / "checkpoints" / "last.ckpt"), how
        assert result["history"] == reference["history"] and result["metrics"] == reference["metrics"], how
