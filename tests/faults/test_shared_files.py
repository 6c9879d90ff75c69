"""Shared file systems: one without locks (``flock`` failing as on Lustre without ``-o flock`` or
NFS without a lock manager) under a real run and a real sweep, and two processes writing one file
at once with the real writer (``mlplab.files``), as two Optuna workers write one sweep's summary."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess

import pytest
from conftest import TINY, environment
from helpers import BIN, concurrent_write
from helpers.concurrent_write import whole
from helpers.no_locks import without_locks

from mlplab.files import LOCK, temporaries

WARNING = "is on a file system without locks"


@pytest.fixture
def no_flock(monkeypatch):
    """``no_flock(code)``: from now on every ``flock`` fails with ``code``, as on that file system."""
    return lambda code: without_locks(monkeypatch, code)


def warnings(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if WARNING in line]


def test_a_run_on_lustre_without_flock_warns_once_and_finishes(tmp_path, run, fake_data, no_flock):
    run_dir = tmp_path / "run"
    no_flock(errno.ENOSYS)
    result = run("mlplab-train", f"data.data_dir={fake_data}", *TINY, f"hydra.run.dir={run_dir}",
                 cwd=tmp_path)
    shown = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, shown
    (line,) = warnings(result)
    assert f"{run_dir} {WARNING}" in line and "Lustre: mount with -o flock" in line
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    assert (run_dir / LOCK).read_bytes() == b""  # held by nobody: no pid claims it


def test_a_sweep_on_nfs_without_a_lock_manager_warns_once_and_summarises_every_job(tmp_path, run, fake_data,
                                                                                 no_flock):
    sweep = tmp_path / "sweep"
    no_flock(errno.ENOLCK)
    result = run("mlplab-train", "-m", f"data.data_dir={fake_data}", *TINY, "regularizer.dropout=0,0.5",
                 f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    shown = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, shown
    assert len(warnings(result)) == 1, shown  # one line for the sweep's file system, not one per job
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(row["job"], row["status"]) for row in rows] == [("0", "finished"), ("1", "finished")]


def test_two_processes_writing_one_file_at_once_leave_one_whole_file(tmp_path):
    """Two processes write ``summary.csv`` 100 times each (``helpers.concurrent_write``), started at
    one moment, each reading it back after every write. Every read, and the file at the end, is
    one writer's whole version (at the end: the last of the writer that renamed last), and no
    temporary is left. (With one fixed ``summary.csv.part`` for both, as before, 5 of 6 tries ended
    with a writer's rename failing: the other had renamed their common temporary away.)"""
    folder, flags, times = tmp_path / "sweep", tmp_path / "flags", 100
    folder.mkdir()
    flags.mkdir()
    target = folder / "summary.csv"
    writers = [subprocess.Popen([str(BIN / "python"), concurrent_write.__file__, str(target), me,  # no torch
                                 str(times), str(flags / me), str(flags / other)],
                                env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for me, other in (("a", "b"), ("b", "a"))]
    done = [writer.communicate(timeout=300) for writer in writers]
    assert [w.returncode for w in writers] == [0, 0] and [err for _, err in done] == ["", ""], done
    assert whole(target.read_text()) in {("a", times - 1), ("b", times - 1)}
    assert os.listdir(folder) == ["summary.csv"] and temporaries(target) == []
