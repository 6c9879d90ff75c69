"""The launcher of the whole-process runs (d)/(e): start one command, wait for it, record it.

    python -m benchmarks.measure <out.json> <command...>

writes ``{seconds, exit_code, peak_rss_kib}`` of that command to ``out.json``: its wall time and
its own peak resident set, as ``os.wait4`` reports it (``ru_maxrss``, KiB on Linux).

Why a launcher at all: Linux carries the larger of the old and the new peak RSS through fork +
exec, so a child started by the benchmark itself (a process holding torch and the data sets)
would report the benchmark's peak, not its own; started from this small interpreter, it reports
its own. So this module imports the standard library only (``benchmarks/__init__`` is a
docstring), which keeps the launcher's own peak far below any child's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def measure(out: str, command: list[str]) -> None:
    """Run ``command`` to its end and write its seconds, exit code and peak RSS to ``out``."""
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    with open(out, "w") as file:
        json.dump({"seconds": time.perf_counter() - start, "exit_code": child.returncode,
                   "peak_rss_kib": usage.ru_maxrss}, file)


if __name__ == "__main__":
    measure(sys.argv[1], sys.argv[2:])
