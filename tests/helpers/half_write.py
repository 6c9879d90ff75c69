"""A disk that fills in the middle of a write, not before it: the writer has put the first half of
the new bytes into its temporary ``.<name>.<random>.part``, on disk, when the file system says
``ENOSPC``.

``half_writing_open(name, report)`` is an ``open`` to put in place of ``io.open`` (which
``pathlib`` calls) and the builtin: the next file opened for writing that is a temporary of a file
called ``name`` (``.<name>.<random>.part``, the sibling ``mlplab.files.atomic_path`` writes) gets a
file object
whose first ``write`` really writes half of what it was given, flushes it to the file, and then
raises ``OSError(ENOSPC)``, as a full disk does to a write that found room for part of its bytes.
What was on disk at that moment (``part``, ``bytes_on_disk``, ``of``: the new content's size) is
written as JSON to ``report``, so a test knows the write was entered and got that far.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
from collections.abc import Callable
from typing import Any


class HalfWritten:
    """A writable file object whose first ``write`` stores half of its data, then fails."""

    def __init__(self, file: Any, path: str, report: str) -> None:
        self._file, self._path, self._report = file, path, report

    def write(self, data: Any) -> int:
        size = len(data.encode() if isinstance(data, str) else memoryview(data).cast("B"))
        self._file.write(data[: len(data) // 2])
        self._file.flush()  # the half is in the file, not in a buffer: what a full disk leaves
        on_disk = os.fstat(self._file.fileno()).st_size
        with builtins.open(self._report, "w") as f:
            json.dump({"part": self._path, "bytes_on_disk": on_disk, "of": size}, f)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> HalfWritten:
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._file.__exit__(*exc)


def half_writing_open(name: str, report: str) -> Callable[..., Any]:
    """``open`` that hands out a ``HalfWritten`` file for the next temporary of a file ``name``
    (``.<name>.<random>.part``) opened for writing (once), and the real file object for everything
    else."""
    real_open = io.open
    armed = [True]

    def opening(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened = real_open(file, mode, *args, **kwargs)
        path = os.fspath(file) if isinstance(file, (str, os.PathLike)) else ""
        base = os.path.basename(path) if isinstance(path, str) else ""
        if armed[0] and "w" in mode and base.startswith(f".{name}.") and base.endswith(".part"):
            armed[0] = False
            return HalfWritten(opened, path, report)
        return opened

    return opening
