"""Errors that are the user's to fix: the entry points print their message, not a traceback."""

from __future__ import annotations

import errno
from collections.abc import Iterator


class UserError(Exception):
    """A bad value, file or path; the message names it and says what to do instead."""


class ConfigError(UserError, ValueError):
    """A config value outside what the code accepts."""


def causes(err: BaseException | None) -> Iterator[BaseException]:
    """``err`` and what it was raised from (``raise … from e``, as Hydra's instantiate does) or
    while handling (Lightning's clean-up after a failed checkpoint write may fail in turn)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:  # a chain may loop (an error raised from itself)
        seen.add(id(err))
        yield err
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)


class Diverged(UserError):
    """The training loss stopped being finite; the message names the update and the fix."""


# What to do about a fault of the machine rather than of the code; other OSErrors keep their
# traceback (a missing file the code should have made is a bug, not the user's to fix).
MACHINE_FAULTS = {
    errno.ENOSPC: "the disk is full: free space on it, or write elsewhere "
                  "(paths.log_dir=<dir> for runs and sweeps, data.data_dir=<dir> for the data)",
    errno.EDQUOT: "the disk quota is used up: free space, or write elsewhere "
                  "(paths.log_dir=<dir>, data.data_dir=<dir>)",
    errno.EROFS: "that file system is read-only: write to a writable folder "
                 "(paths.log_dir=<dir>, data.data_dir=<dir>)",
    errno.EACCES: "this user may not use that path: give it access (chmod/chown), or use a folder "
                  "it may write (paths.log_dir=<dir>, data.data_dir=<dir>)",
    errno.EPERM: "this user may not use that path: give it access (chmod/chown), or use a folder "
                 "it may write (paths.log_dir=<dir>, data.data_dir=<dir>)",
    errno.ENOTDIR: "a file stands where a folder is needed: move the file, or choose another path",
    errno.EISDIR: "a folder stands where a file is needed: move the folder, or choose another path",
}


def describe_os_error(err: OSError) -> str | None:
    """``<path>: <what the system said>; <what to do>`` for a full disk, a read-only or forbidden
    path, a file where a folder should be; None for any other ``OSError``. A writer that does not
    say which file (TensorBoard's event writer) is named as such."""
    if err.errno not in MACHINE_FAULTS:
        return None
    return f"{err.filename or 'a file being written'}: {err.strerror}; {MACHINE_FAULTS[err.errno]}"
