"""The disk fills in the middle of a run or a sweep, for real: a callback of the test fills a
small tmpfs at the moment named (``fill.py``), so the write that meets the full disk is the run's
own. The one line names the file that could not be written; what was written before stays whole.
Where no tmpfs can be mounted (not root, no mount rights) these tests are skipped with that reason,
and fail under CI=true (``small_disk``)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
import yaml
from conftest import TINY, environment, one_line

FILL = "+callbacks.fill._target_=faults.fill.FillDisk"


def no_part_files(folder):
    assert not list(folder.rglob("*.part")), list(folder.rglob("*.part"))


def test_the_disk_fills_before_a_checkpoint_is_written(tmp_path, run, small_disk, fake_data):
    disk = small_disk(4096)
    run_dir = disk / "run"
    result = run("mlplab-train", f"data.data_dir={fake_data}", *TINY, "trainer.max_epochs=2",
                 FILL, f"+callbacks.fill.folder={disk}", "+callbacks.fill.epoch=1",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path)
    line = one_line(result, "No space left on device", "free space", "paths.log_dir=<dir>")
    # whichever write met the full disk first: the checkpoint, or TensorBoard's event file
    assert f"error: {run_dir / 'checkpoints'}/" in line or f"error: {run_dir / 'tensorboard'}/" in line, line
    no_part_files(run_dir)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)  # epoch 1's, whole
    assert last["epoch"] == 0 and len(last["state_dict"]) == 4
    assert yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["seed"] == 42


def test_the_disk_fills_before_metrics_json_is_written(tmp_path, run, small_disk, fake_data):
    disk = small_disk(4096)
    run_dir = disk / "run"
    result = run("mlplab-train", f"data.data_dir={fake_data}", *TINY, FILL,
                 f"+callbacks.fill.folder={disk}", "+callbacks.fill.at=test_end",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path)
    one_line(result, f"{run_dir / 'metrics.json'}: No space left on device")
    no_part_files(run_dir)
    assert not (run_dir / "metrics.json").exists()
    assert torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["epoch"] == 0


def test_the_disk_fills_before_the_sweep_summary_is_written(tmp_path, run, small_disk, fake_data):
    disk = small_disk(4096)
    sweep = disk / "sweep"
    result = run("mlplab-train", "-m", f"data.data_dir={fake_data}", *TINY, "regularizer.dropout=0,0.5",
                 "+hydra.callbacks.fill._target_=faults.fill.FillDiskAtSweepEnd",
                 f"+hydra.callbacks.fill.folder={disk}", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    one_line(result, "no sweep summary", f"{sweep / 'summary.csv'}: No space left on device")
    no_part_files(sweep)
    for job in ("0", "1"):  # the jobs' results stand
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "finished"
    assert not (sweep / "summary.csv").exists()
    # the command the error printed writes the summary once there is space again
    (printed,) = [line for line in result.stderr.splitlines() if "python -m mlplab.reporting.sweep" in line]
    command = printed.partition("write the summary with: ")[2].split()
    (disk / "filler").unlink()
    done = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                          env=environment())
    assert done.returncode == 0, done.stderr[-2000:]
    assert (sweep / "summary.csv").is_file() and "best by val/acc" in (sweep / "summary.md").read_text()
