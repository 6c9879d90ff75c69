"""Run and sweep folders that are not as the run left them: one another process is writing in, a
sweep whose files were edited or truncated by hand before it is resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from conftest import TINY, environment, one_line, save
from helpers import BIN, run_main_as

from mlplab.reporting.sweep import main as sweep_main


def test_a_run_folder_another_process_writes_in_is_refused_with_its_pid(tmp_path, run, outputs, fake_data):
    logs, run_dir = tmp_path / "logs", tmp_path / "logs" / "runs" / "busy"
    overrides = [f"data.data_dir={fake_data}", *TINY, "trainer.max_epochs=100000", f"paths.log_dir={logs}"]
    command = [str(BIN / "mlplab-train"), *overrides, f"hydra.run.dir={run_dir}"]
    busy = subprocess.Popen(command, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # until it holds its folder and has written a checkpoint
        while not (run_dir / "checkpoints" / "last.ckpt").exists() and busy.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        config = (run_dir / ".hydra" / "config.yaml").read_text()
        # the same folder given again (with another seed): refused before Hydra writes there
        same = run("mlplab-train", *overrides, "seed=7", f"hydra.run.dir={run_dir}", cwd=tmp_path)
        one_line(same, f"{run_dir} is in use by process {busy.pid}", f"kill -TERM {busy.pid}",
                 "hydra.run.dir=<dir>")
        assert "nothing was written" in same.stderr
        assert (run_dir / ".hydra" / "config.yaml").read_text() == config
        # resuming the run while it still goes: refused too
        resume = run("mlplab-train", *overrides, "ckpt_path=last", cwd=tmp_path)
        one_line(resume, f"{run_dir} is in use by process {busy.pid}")
        assert busy.poll() is None  # the first run went on
    finally:
        busy.send_signal(signal.SIGTERM)
        out, err = busy.communicate(timeout=120)
        save(outputs, "busy_run", subprocess.CompletedProcess(command, busy.returncode, out, err))
    assert busy.returncode == 130  # stopped by the signal, with its resume line
    result = json.loads((run_dir / "metrics.json").read_text())
    assert result["status"] == "interrupted" and result["hparams"]["seed"] == 42


def test_a_sweep_edited_by_hand_is_resumed_or_refused_with_one_line(tmp_path, run, outputs, fake_data):
    sweep = tmp_path / "sweep"
    command = ["mlplab-train", "-m", f"data.data_dir={fake_data}", *TINY, "regularizer.dropout=0,0.3,0.5",
               f"hydra.sweep.dir={sweep}"]
    first = run(*command, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    finished = {job: json.loads((sweep / job / "metrics.json").read_text()) for job in "012"}
    # job 0's result truncated, job 1's checkpoint truncated (as if interrupted), multirun.yaml cut
    (sweep / "0" / "metrics.json").write_text('{"status": "fini')
    (sweep / "1" / "metrics.json").write_text(json.dumps({**finished["1"], "status": "interrupted"}))
    (sweep / "1" / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 cut")
    (sweep / "multirun.yaml").write_text("hydra:\n  run:")
    again = run(*command, cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stdout + again.stderr, again.stderr[-3000:]
    assert "unreadable: the job runs again" in again.stderr + again.stdout
    assert "the job runs from the start" in again.stderr + again.stdout
    for job in "012":  # every job finished, job 2 was not run again
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "finished"
    assert json.loads((sweep / "2" / "metrics.json").read_text()) == finished["2"]
    assert json.loads((sweep / "0" / "metrics.json").read_text())["history"] == finished["0"]["history"]
    # a job's overrides.yaml garbled (a resumed sweep rewrites it; the summary alone cannot)
    garbled = sweep / "2" / ".hydra" / "overrides.yaml"
    garbled.write_text("- regularizer.dropout=0.5\n- [unclosed\n")
    summary = run_main_as(["python", "-m", "mlplab.reporting.sweep"], sweep_main, str(sweep), cwd=tmp_path)
    save(outputs, "garbled_overrides_summary", summary)
    one_line(summary, f"{garbled} is damaged", "sweep.json lists every job's overrides")
    # sweep.json truncated: which sweep this was cannot be told; refused, nothing run
    (sweep / "sweep.json").write_text('{"command": "mlplab-tr')
    refused = run(*command, cwd=tmp_path)
    one_line(refused, f"{sweep / 'sweep.json'} is damaged", "give a new hydra.sweep.dir")
    assert "no job was started" in refused.stderr


HOLD = """
import sys, time
from mlplab.runtime.folder_lock import hold
with hold(sys.argv[1]):  # as a run of this job in another process holds it (folder_lock)
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_job_another_resume_is_running_is_busy_not_failed_and_the_command_run_again_completes(
        tmp_path, run, fake_data):
    sweep = tmp_path / "sweep"
    command = ["mlplab-train", "-m", f"data.data_dir={fake_data}", *TINY, "regularizer.dropout=0,0.3",
               f"hydra.sweep.dir={sweep}"]
    assert run(*command, cwd=tmp_path).returncode == 0
    job = sweep / "1"
    stopped = {**json.loads((job / "metrics.json").read_text()), "status": "interrupted"}
    (job / "metrics.json").write_text(json.dumps(stopped))  # as a stopped sweep leaves it
    other = subprocess.Popen([str(BIN / "python"), "-c", HOLD, str(job)], env=environment(),
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        second = run(*command, cwd=tmp_path)  # the second of two resumes started at once
    finally:
        other.kill()
        other.wait()
    shown = second.stdout + second.stderr
    assert second.returncode == 75 and "Traceback" not in shown, shown[-3000:]
    assert "error:" not in second.stderr and "failed" not in second.stderr, second.stderr[-3000:]
    assert f"busy: {job} is in use by process {other.pid}, another mlplab-train running this job" in shown
    assert "hydra.run.dir" not in shown
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"busy: still running in another process: job 1 (process {other.pid})")
    assert "run this command again" in last
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert summary[2].startswith("1,") and summary[2].endswith(",busy"), summary
    assert json.loads((job / "metrics.json").read_text()) == stopped  # the other's folder, untouched
    again = run(*command, cwd=tmp_path)  # as the line says, once the other process has ended
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((job / "metrics.json").read_text())["status"] == "finished"
