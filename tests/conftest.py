"""Shared test set-up: one data folder for every test and subprocess, the ``cli`` fixture, the
``gpu`` marker, and the closing line that names the features this machine did not test and how to
enable each. Helpers live in ``tests/helpers``; ``unit/`` tests need no real data set, ``e2e/``
tests run the real entry points, data and files."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import torch
from helpers import REPO, local_defaults_note, run_cli

# Subprocesses run in temporary folders; they find the unpacked data here instead of
# unpacking it again into each of them.
os.environ.setdefault("MLPLAB_DATA_DIR", str(REPO / "data"))
# torch.compile's cache (/tmp/torchinductor_<user> by default: 150 MB a run, kept): one of this
# process's, removed when it ends (pytest_unconfigure); its subprocesses inherit it.
INDUCTOR_CACHE = tempfile.mkdtemp(prefix="mlplab-test-inductor-")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", INDUCTOR_CACHE)


def pytest_unconfigure(config):
    shutil.rmtree(INDUCTOR_CACHE, ignore_errors=True)


def pytest_configure(config):
    """Under pytest-xdist (``make test``: ``-n auto``) each worker keeps CPUs of its own, and every
    process it starts inherits them: torch's threads never outnumber the cores (OpenMP threads of
    two processes on one core spin against each other and run many times slower). A worker's
    torch then runs one thread, so its chapter rows are checked against this CPU's one-thread
    record (``scripts/reproduce.py``'s ``machine()``: the last digits move with the thread count)."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if count > 1 and worker.startswith("gw") and len(cpus) >= count:
        share = cpus[int(worker[2:]) % count::count]
        os.sched_setaffinity(0, share)
        torch.set_num_threads(len(share))


def pytest_collection_modifyitems(config, items):
    for item in items if config.pluginmanager.hasplugin("xdist") else ():  # (-p no:xdist: one process)
        if item.get_closest_marker("slurm"):  # one local SLURM cluster: its tests one after another
            item.add_marker(pytest.mark.xdist_group("slurm"))
        # a module whose tests read one run its module-scoped fixture trains: trained once, on one worker
        elif getattr(item.module, "ONE_WORKER", False):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is visible here")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


# The features a test may need and this machine may lack (``helpers.unavailable`` skips their tests
# with the reason; CI=true fails them instead): (name, words of such a reason, lower case; why not
# and the one command that enables it, as .ci/run does it).
FEATURES = (
    ("SLURM", ("slurm",), "no cluster: start it as root, `sudo bash scripts/slurm_local.sh up`"),
    ("PostgreSQL", ("postgresql",), "not installed (`sudo apt-get install postgresql`), or it could not "
                                    "start: its log is in the reason above"),
    ("tmpfs", ("tmpfs",), "mounting one needs root: `sudo .venv/bin/pytest -m faults -p no:cacheprovider`"),
    ("permissions", ("setpriv",), "root cannot drop its power over folder modes: "
                                  "`apt-get install util-linux` (setpriv)"),
    ("gpu", ("cuda",), "no CUDA device: run them on a machine with one"),
)


def skipped_features(reasons: list[str]) -> list[str]:
    """``FEATURES`` entries (``name (why: command)``) that the skip ``reasons`` name, in that
    order; a reason that names none is counted as ``other``."""
    found, others = [], 0
    for reason in reasons:
        names = [name for name, words, _ in FEATURES if any(w in reason.lower() for w in words)]
        found += names
        others += not names
    entries = [f"{name} ({how})" for name, _, how in FEATURES if name in found]
    if others:
        entries.append(f"other ({others} skipped tests: their reasons are listed above)")
    return entries


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    yield  # after pytest's own summary (the SKIPPED lines of -ra), just above the counts
    reasons = [report.longrepr[2] for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple)]
    if entries := skipped_features(reasons):
        terminalreporter.write_line("features not tested here: " + ", ".join(entries), yellow=True)
    if note := local_defaults_note(REPO):
        terminalreporter.write_line(note, yellow=True)


@pytest.fixture
def cli():
    return run_cli
