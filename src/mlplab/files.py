"""Files written whole or not at all: every file mlplab writes goes through ``atomic_path``.

A temporary sibling is written, then renamed over the final name (``os.replace`` is atomic on one
file system), so a crash, a kill or a full disk mid-write never leaves half a file under the final
name and the previous version stays whole. A write that fails raises ``OSError`` naming the final
path (a full disk: ``ENOSPC``), which the entry points turn into one line (``mlplab.errors``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK = ".lock"  # a run folder's lock file (mlplab.runtime.folder_lock holds it while a run writes)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed over ``path`` only once fully written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        err.filename = str(path)  # a write error carries no name; the user wants the final one
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path | str, data: bytes | memoryview) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_pid(fd: int) -> int | None:
    """The process id a lock's holder wrote into its lock file."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def holder(folder: Path | str) -> int | None:
    """Whether a live process holds ``folder``'s lock: its pid (0 when it wrote none yet), else None."""
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
