"""One of several processes writing one file at once with the real writer (``mlplab.files``):

    python tests/helpers/concurrent_write.py <file> <me> <times> <my flag> <the other's flag>

(run as a script: ``helpers``' package would import torch, seconds of a start for nothing).

It makes its flag, waits for the other's (so both start writing at one moment), then writes
``version(me, i)`` for i = 0 … times-1, reading the file back after each write: what it reads must
be a whole version, its own or the other's (``whole`` fails on anything else, and so does this
process). It prints the writers whose versions it read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlplab.files import write_text


def version(writer: str, i: int) -> str:
    """What ``writer`` writes the ``i``-th time: 60 kB that say who wrote them, whole or not."""
    return f"{writer} {i}\n" + f"{writer}{i % 10}" * 30_000 + "\nend\n"


def whole(text: str) -> tuple[str, int]:
    """(writer, i) of a version read back; fails on anything but one writer's whole version."""
    writer, i = text.partition("\n")[0].split()
    assert text == version(writer, int(i)), (len(text), text[:20], text[-20:])
    return writer, int(i)


def main(target: str, me: str, times: str, mine: str, other: str) -> None:
    Path(mine).touch()
    while not Path(other).exists():  # both start at once: no sleep, no clock
        pass
    seen = set()
    for i in range(int(times)):
        write_text(target, version(me, i))
        seen.add(whole(Path(target).read_text())[0])
    print(" ".join(sorted(seen)))


if __name__ == "__main__":
    main(*sys.argv[1:])
