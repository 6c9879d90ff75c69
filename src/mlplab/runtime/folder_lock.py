"""One process per run folder. A run holds ``<run>/.lock`` (an advisory ``flock``, which the system
releases when the process ends, even by SIGKILL) while it writes there; another process that would
write into the same folder is refused, before it writes anything, with the holder's process id.

The same folder comes up twice when ``hydra.run.dir=<dir>`` is given to two runs at once, or when
``ckpt_path=last`` resumes a run that is still going. Only global rank zero holds the lock: the
other processes of a DDP run write into its folder by design.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from mlplab.errors import UserError
from mlplab.outcomes import report

LOCK = ".lock"


class FolderInUse(UserError):
    """Another live process writes into this run folder."""

    def __init__(self, folder: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        stop = f" (or stop it: kill -TERM {pid})" if pid else ""
        super().__init__(f"{folder} is in use by {who}, another mlplab-train writing there; wait for "
                         f"it to end{stop}, or run in another folder: hydra.run.dir=<dir>")


def read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def holder(folder: Path | str) -> int | None:
    """Whether a live process holds ``folder``: its pid (0 when it wrote none yet), else None."""
    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:  # no lock file: nobody ever ran there, or not mlplab
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except BlockingIOError:
        return read_pid(fd) or 0
    finally:
        os.close(fd)


@contextmanager
def hold(folder: Path | str) -> Iterator[None]:
    """Hold ``folder`` for this process (rank zero) while the block runs, or raise ``FolderInUse``."""
    if rank_zero_only.rank != 0:
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = read_pid(fd)
        os.close(fd)
        raise FolderInUse(folder, pid) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race the next holder)


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
