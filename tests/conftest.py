"""Shared test set-up: one data folder for every test and subprocess, the ``cli`` fixture, the
``gpu`` marker, and the closing line that names the features this machine did not test and how to
enable each. Helpers live in ``tests/helpers``; ``unit/`` tests need no real data set, ``e2e/``
tests run the real entry points, data and files."""

from __future__ import annotations

import os

import pytest
import torch
from helpers import REPO, run_cli

# Subprocesses run in temporary folders; they find the unpacked data here instead of
# unpacking it again into each of them.
os.environ.setdefault("MLPLAB_DATA_DIR", str(REPO / "data"))


def pytest_collection_modifyitems(config, items):
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
    ("SLURM", ("slurm",), "no cluster: start it with `bash scripts/slurm_local.sh up` as root"),
    ("PostgreSQL", ("postgresql",), "not installed or cannot start: `apt-get install postgresql`"),
    ("tmpfs", ("tmpfs",), "cannot mount one: run the tests as root, or with mount rights"),
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


@pytest.fixture
def cli():
    return run_cli
