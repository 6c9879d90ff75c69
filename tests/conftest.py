"""Shared test set-up: one data folder for every test and subprocess, the ``cli`` fixture and the
``gpu`` marker. Helpers live in ``tests/helpers``; ``unit/`` tests need no real data set, ``e2e/``
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


@pytest.fixture
def cli():
    return run_cli
