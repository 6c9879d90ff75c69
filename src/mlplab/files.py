"""Files written whole or not at all: every file mlplab writes goes through ``atomic_path``.

The new bytes go to a temporary sibling of a name no other writer has, ``.<name>.<random>.part``
(two processes writing one file, two Optuna workers writing one sweep's ``summary.csv``, never
write into one temporary), are flushed to the disk (``fsync``), and the temporary is renamed over
the final name (``os.replace``, atomic on one file system), whose folder is flushed in turn. So a
crash of the machine, a kill or a full disk mid-write never leaves half a file, or an empty one,
under the final name: a reader sees the previous version or the new one, whole; of two writers,
the one that renames last wins. A write that fails removes its temporary and raises ``OSError``
naming the final path (a full disk: ``ENOSPC``), which the entry points turn into one line
(``mlplab.errors``).

A writer holds an advisory lock (``flock``) on its temporary while it writes, so the temporary a
writer killed mid-write left (SIGKILL: nothing of it runs to remove it) is the one no process
holds, and the next write of the same file removes it. Where the file system has no locks
(``try_lock``), such a leftover stays until deleted by hand.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

LOCK = ".lock"  # a run folder's lock file (mlplab.runtime.folder_lock holds it while a run writes)
PART = ".part"  # the suffix of a temporary: .<name>.<RANDOM>.part
RANDOM = 12  # hex digits of a temporary's random part (48 bits: two writers never draw one name)
# what flock says where the file system has no locks at all (not "someone holds it"): Lustre
# mounted without -o flock (ENOSYS), NFS without a lock manager (ENOLCK), others (EOPNOTSUPP)
NO_LOCKS = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP})
# what fsync says where the file system cannot sync that file or folder: nothing more can be done
NO_SYNC = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP})


def try_lock(fd: int, exclusive: bool = True) -> bool | None:
    """``flock`` without waiting: True once held (until ``fd`` is closed), False while another
    process holds it, None where the file system has no locks (``NO_LOCKS``)."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in NO_LOCKS:
            return None
        raise
    return True


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """An ``OSError`` raised in the block names ``path``: a write error carries no file name, or
    the temporary's, and the user wants the final one."""
    try:
        yield
    except OSError as err:
        err.filename = str(path)
        raise


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; flushed and renamed over ``path`` only once the
    block has written it whole, removed if the block fails."""
    path = Path(path)
    with naming(path):
        fd, tmp = create_temporary(path)
    try:
        with naming(path):
            yield tmp
            sync(tmp)
            os.replace(tmp, path)
            sync(path.parent)  # the rename itself on the disk: else a crash may undo it
    finally:
        tmp.unlink(missing_ok=True)  # a failed write's; after the rename nothing is there
        os.close(fd)  # releases the temporary's lock
    remove_leftovers(path)


def create_temporary(path: Path) -> tuple[int, Path]:
    """Create a new ``.<name>.<random>.part`` beside ``path`` and lock it: its descriptor and
    path. As ``tempfile.mkstemp`` (``O_EXCL``: never another writer's file), but with the mode
    ``open`` gives (0o666 less the umask), which the final file keeps; mkstemp's 0o600 would hide
    a run's files from the user's group on a shared cluster."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(RANDOM // 2)}{PART}")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            taken = False
            with suppress(OSError):  # unlocked (no locks here): only its removal if left is lost
                taken = try_lock(fd) is False  # another writer's remove_leftovers holds it now
            # still the file at that name: another writer's remove_leftovers may have taken it for
            # a leftover between its creation and the lock
            ours = not taken and os.path.samestat(os.fstat(fd), os.stat(tmp))
        except FileNotFoundError:
            ours = False
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        if ours:
            return fd, tmp
        os.close(fd)
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", str(path))


def sync(path: Path) -> None:
    """``fsync`` a file (its bytes) or a folder (its entries): on the disk, not only in memory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:  # a folder this user may write in but not read (mode 0300): no sync
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in NO_SYNC:
            raise
    finally:
        os.close(fd)


def temporaries(path: Path | str) -> list[Path]:
    """The temporaries of ``path`` in its folder: being written, or left by a killed writer."""
    path = Path(path)
    prefix, size = f".{path.name}.", len(path.name) + 2 + RANDOM + len(PART)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return [path.parent / n for n in sorted(names)
            if n.startswith(prefix) and n.endswith(PART) and len(n) == size]


def remove_leftovers(path: Path) -> None:
    """Remove the temporaries of ``path`` that no writer holds: a killed writer's. Best effort: a
    write that succeeded never fails for a leftover."""
    for leftover in temporaries(path):
        try:
            fd = os.open(leftover, os.O_RDWR)
        except OSError:  # gone meanwhile: its writer renamed or removed it
            continue
        try:
            if try_lock(fd):  # None (no locks): a live writer's cannot be told from a dead one's
                leftover.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)


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
    """Whether a live process holds ``folder``'s lock: its pid (0 when it wrote none yet), else
    None, also where the file system has no locks (nobody can be known to hold it)."""
    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:  # no lock file: nobody ever ran there, or not mlplab
        return None
    try:
        if try_lock(fd, exclusive=False) is False:
            return read_pid(fd) or 0
        return None
    finally:
        os.close(fd)  # releases the shared lock this took
