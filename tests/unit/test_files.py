"""The atomic writer (``mlplab.files``) and the run folder's lock on file systems without locks:
a temporary of a name of its own, synced before the rename and the folder after it, removed on
failure and, when its writer was killed, by the next write; ``flock`` failing as Lustre without
``-o flock`` (ENOSYS), NFS without a lock manager (ENOLCK) or another file system (EOPNOTSUPP)
make it fail: a warning line and an unguarded run, never a traceback."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat

import pytest
from helpers.no_locks import without_locks
from omegaconf import OmegaConf

from mlplab.files import LOCK, atomic_path, holder, temporaries, write_json, write_text
from mlplab.reporting.sweep_rows import read_result
from mlplab.runtime import folder_lock
from mlplab.runtime.folder_lock import FolderInUse, RunFolderCheck, hold

NO_LOCKS = {"Lustre without -o flock": errno.ENOSYS, "NFS without a lock manager": errno.ENOLCK,
            "no flock operation": errno.EOPNOTSUPP}


def is_temporary_of(tmp, path) -> bool:
    """``.<name>.<random>.part`` beside ``path``, as docs/faults.md names it."""
    return (tmp.parent == path.parent and tmp.name.startswith(f".{path.name}.")
            and tmp.name.endswith(".part") and len(tmp.name) > len(path.name) + len("..part"))


def test_a_write_goes_through_a_temporary_of_its_own_beside_the_file(tmp_path):
    path = tmp_path / "summary.csv"
    write_text(path, "old\n")
    with atomic_path(path) as first, atomic_path(path) as second:  # two writers of one file at once
        assert is_temporary_of(first, path) and is_temporary_of(second, path) and first != second
        assert temporaries(path) == sorted([first, second])
        second.write_text("second\n")
        first.write_text("first\n")
        assert path.read_text() == "old\n"
    # second renamed first, then first: the last rename wins; the live temporary of the first
    # was not taken for a leftover when the second finished (it held its lock)
    assert path.read_text() == "first\n"
    assert os.listdir(tmp_path) == ["summary.csv"]


def test_the_final_file_has_the_mode_open_gives_not_mkstemps(tmp_path):
    umask = os.umask(0o027)
    try:
        write_json(tmp_path / "metrics.json", {"status": "finished"})
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o640  # 0o666 less the umask


def test_a_failed_write_removes_its_temporary_and_names_the_final_file(tmp_path):
    path = tmp_path / "best.ckpt"
    path.write_bytes(b"previous")
    with pytest.raises(OSError) as raised, atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert os.listdir(tmp_path) == ["best.ckpt"] and path.read_bytes() == b"previous"


def test_the_file_is_synced_before_the_rename_and_its_folder_after(tmp_path, monkeypatch):
    calls, fsync, replace = [], os.fsync, os.replace

    def recording_fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(src, dst):
        calls.append(("replace", str(src), str(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    path = tmp_path / "last.ckpt"
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"weights")
    assert calls == [("fsync", str(tmp)), ("replace", str(tmp), str(path)), ("fsync", str(tmp_path))]
    assert path.read_bytes() == b"weights"


def test_a_killed_writers_temporary_is_removed_by_the_next_write_of_that_file(tmp_path):
    path = tmp_path / "last.ckpt"
    left = tmp_path / ".last.ckpt.0123456789ab.part"  # as a writer killed mid-write leaves it: unlocked
    left.write_bytes(b"half of a checkpoint")
    other = tmp_path / ".best.ckpt.0123456789ab.part"  # another file's: not this write's to judge
    other.write_bytes(b"half")
    assert temporaries(path) == [left]
    write_text(path, "whole")
    assert sorted(os.listdir(tmp_path)) == [other.name, "last.ckpt"]


# ---- file systems without locks -----------------------------------------------------------------

@pytest.fixture
def no_flock(monkeypatch):
    """``no_flock(code)``: from now on every ``flock`` fails with ``code``, as on that file system."""
    return lambda code: without_locks(monkeypatch, code)


def with_lock_file(folder, pid: int):
    """A run folder as a run of process ``pid`` left it."""
    folder.mkdir(parents=True)
    (folder / LOCK).write_text(f"{pid}\n")
    return folder


def test_a_hold_replaces_a_longer_pid_left_by_an_earlier_run(tmp_path):
    """The lock file of a run of a longer pid (1234567890): the new holder's pid replaces it whole,
    so the in-use message names this process, not a mix of the two numbers."""
    folder = with_lock_file(tmp_path / "run", 1234567890)
    with hold(folder):
        assert (folder / LOCK).read_text() == f"{os.getpid()}\n" and holder(folder) == os.getpid()


def test_a_lock_held_in_this_process_is_seen_as_held(tmp_path):
    """The real flock, for contrast: ``holder`` sees the hold, a second hold is refused."""
    with hold(tmp_path / "run"):
        assert holder(tmp_path / "run") == os.getpid()
        with pytest.raises(FolderInUse, match=f"in use by process {os.getpid()}"), hold(tmp_path / "run"):
            pass
    assert holder(tmp_path / "run") is None


@pytest.mark.parametrize("code", NO_LOCKS.values(), ids=NO_LOCKS.keys())
def test_without_locks_a_run_warns_once_and_goes_on_unguarded(code, tmp_path, no_flock, monkeypatch):
    no_flock(code)
    runs = [with_lock_file(tmp_path / f"run{k}", 4242) for k in range(2)]
    # the module's own logger, heard directly: what earlier tests in this worker did to the logging
    # tree (Hydra's and Lightning's configurations, propagation) does not decide what is seen
    records: list[logging.LogRecord] = []
    heard = logging.Handler(logging.WARNING)
    heard.emit = records.append
    logger = logging.getLogger(folder_lock.__name__)
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "level", logging.WARNING)
    logger.addHandler(heard)
    try:
        with hold(runs[0]), hold(runs[1]):  # as the batched launcher holds a group's folders
            assert holder(runs[0]) is None  # nobody can be known to hold it
        with hold(runs[0], in_sweep=True):  # the next job of a sweep in the same process
            pass
    finally:
        logger.removeHandler(heard)
    (line,) = [r.getMessage() for r in records]  # one line per file system and process
    assert line.startswith(f"{runs[0]} is on a file system without locks") and "\n" not in line
    assert "Lustre: mount with -o flock" in line and "rpc.statd" in line
    assert (runs[0] / LOCK).read_text() == "4242\n"  # not claimed: this process holds nothing


@pytest.mark.parametrize("code", NO_LOCKS.values(), ids=NO_LOCKS.keys())
def test_without_locks_the_run_folder_check_and_the_sweep_summary_go_on(code, tmp_path, no_flock):
    job = with_lock_file(tmp_path / "sweep" / "0", 4242)
    (job / "metrics.json").write_text(json.dumps({"status": "finished", "epochs": 1}))
    no_flock(code)
    # resuming it (a new run in a finished run's folder is refused: tests/e2e/test_resume_edges.py)
    config = OmegaConf.create({"hydra": {"run": {"dir": str(job)}}, "ckpt_path": str(job / "last.ckpt")})
    RunFolderCheck().on_run_start(config)  # no report, no SystemExit, no traceback
    assert read_result(job) == {"status": "finished", "epochs": 1}  # its result, not "busy"
    write_text(job / "summary.csv", "job\n0\n")  # the writer needs no lock either
    assert (job / "summary.csv").read_text() == "job\n0\n"
    left = job / ".summary.csv.0123456789ab.part"  # a leftover cannot be told from a live writer's
    left.write_text("half")
    write_text(job / "summary.csv", "job\n0\n1\n")
    assert left.exists() and (job / "summary.csv").read_text() == "job\n0\n1\n"


def test_another_flock_failure_is_not_taken_for_a_file_system_without_locks(tmp_path, no_flock):
    no_flock(errno.EIO)
    with pytest.raises(OSError) as raised, hold(tmp_path / "run"):
        pass
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError):
        holder(tmp_path / "run")
