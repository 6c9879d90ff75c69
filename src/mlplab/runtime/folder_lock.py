"""One process per run folder. A run holds ``<run>/.lock`` (an advisory ``flock``, which the system
releases when the process ends, even by SIGKILL) while it writes there; another process that would
write into the same folder is refused, before it writes anything, with the holder's process id.

The same folder comes up twice when ``hydra.run.dir=<dir>`` is given to two runs at once, or when
``ckpt_path=last`` resumes a run that is still going. Only global rank zero holds the lock: the
other processes of a DDP run write into its folder by design.

A file system without locks (Lustre mounted without ``-o flock``, NFS without a lock manager:
``mlplab.files.NO_LOCKS``) cannot hold a folder: the run says so in one warning line (once per
file system and process) and goes on unguarded, as it would have before this lock existed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from mlplab.errors import ConfigError, UserError
from mlplab.files import LOCK, holder, read_pid, try_lock
from mlplab.outcomes import report
from mlplab.runtime.sweep_jobs import finished_run

PROBE_RETRIES = 5  # × 20 ms: how long a lock another process only looks at may stay taken

__all__ = ["FolderInUse", "hold", "holder"]

log = logging.getLogger(__name__)
UNLOCKED_DEVICES: set[int] = set()  # the file systems without locks this process warned about


class FolderInUse(UserError):
    """Another live process writes into this run folder: a run refuses to start; a sweep's job
    leaves it to that process (``RunStatus.BUSY``)."""

    def __init__(self, folder: Path, pid: int | None, in_sweep: bool = False, resuming: bool = False) -> None:
        self.folder, self.pid = folder, pid
        who = f"process {pid}" if pid else "another process"
        if in_sweep:
            super().__init__(f"{folder} is in use by {who}, another mlplab-train running this job; "
                             f"this sweep leaves the job to it")
            return
        stop = f" (or stop it: kill -TERM {pid})" if pid else ""
        # a resume continues that very run: another folder would not help it
        then = "then run this command again" if resuming else "or run in another folder: hydra.run.dir=<dir>"
        super().__init__(f"{folder} is in use by {who}, another mlplab-train writing there; wait for "
                         f"it to end{stop}, {then}")


@contextmanager
def hold(folder: Path | str, in_sweep: bool = False, resuming: bool = False) -> Iterator[None]:
    """Hold ``folder`` for this process (rank zero) while the block runs, or raise ``FolderInUse``
    (worded for a sweep's job when ``in_sweep``, for a run resumed in its own folder when ``resuming``)."""
    if rank_zero_only.rank != 0:
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        held = try_lock(fd)
        for _ in range(PROBE_RETRIES):  # holder() elsewhere takes it shared for an instant: not a run
            if held is not False:
                break
            time.sleep(0.02)
            held = try_lock(fd)
        if held is False:
            raise FolderInUse(folder, read_pid(fd), in_sweep, resuming)
        if held:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        else:
            warn_no_locks(os.fstat(fd).st_dev, folder)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race the next holder)


def warn_no_locks(device: int, folder: Path) -> None:
    """One warning line per file system (``device``) and process: the run goes on unguarded."""
    if device in UNLOCKED_DEVICES:
        return
    UNLOCKED_DEVICES.add(device)
    log.warning("%s is on a file system without locks (flock is not supported there): this run goes "
                "on without holding its folder, so nothing stops another mlplab-train from writing "
                "there at once (Lustre: mount with -o flock; NFS: run its lock manager, rpc.statd)",
                folder)


def resumes(folder: Path, ckpt_path: str | None) -> bool:
    """Whether ``ckpt_path`` continues the run in ``folder`` (its own checkpoint, or ``last``, which
    names the newest run of the same command) rather than starting one there."""
    if not ckpt_path:
        return False
    return ckpt_path == "last" or folder.resolve() in Path(ckpt_path).expanduser().resolve().parents


class RunFolderCheck(Callback):
    """Hydra callback: refuse a run whose folder another process holds, before Hydra writes its
    ``.hydra/`` files there."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if rank_zero_only.rank != 0:
            return
        folder = Path(str(config.hydra.run.dir))
        pid = holder(folder)
        if pid is not None:
            report(FolderInUse(folder, pid or None), then="nothing was written")
        if finished_run(folder) and not resumes(folder, config.get("ckpt_path")):  # would overwrite it
            report(ConfigError(f"hydra.run.dir={folder} holds a finished run (its metrics.json); give a new "
                               f"folder, or continue that run: ckpt_path={folder}/checkpoints/last.ckpt "
                               f"with more trainer.max_epochs than it trained"), then="nothing was written")
