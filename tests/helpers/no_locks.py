"""A file system without locks, as this process sees it: ``flock`` fails with one errno (ENOSYS:
Lustre mounted without ``-o flock``; ENOLCK: NFS without a lock manager; EOPNOTSUPP), and the run
folder lock's once-per-file-system warning is forgotten, so a test sees its line."""

from __future__ import annotations

import fcntl
import os

from mlplab.runtime import folder_lock


def without_locks(monkeypatch, code: int) -> None:
    """Until ``monkeypatch`` undoes it, every ``fcntl.flock`` raises ``OSError(code)``."""
    def flock(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(folder_lock, "UNLOCKED_DEVICES", set())
