"""``make test``'s closing line names the features this machine did not test, each with the one
command that enables it (``tests/conftest.py``); under CI=true a test whose feature is missing fails
instead, and with nothing skipped there is no such line. Each case runs pytest on a tiny test file
in a process of its own, with ``tests/conftest.py`` as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from helpers import REPO

pytestmark = pytest.mark.slow  # each starts a pytest that imports torch: seconds

TESTS = '''
import pytest
from helpers import unavailable

def test_sweep_on_slurm():
    unavailable("the local SLURM cluster is not up (scripts/slurm_local.sh up): no node")

def test_optuna_on_postgres():
    unavailable("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin); apt-get install postgresql")

@pytest.mark.gpu
def test_on_cuda():
    pass  # passes where it runs: only what is skipped matters here

def test_plain():
    pass
'''


def pytest_run(tmp_path, *args: str, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_tiny.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests"), env.get("PYTHONPATH")]))
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
               "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_tiny.py", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def summary(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("features not tested here")]


def test_the_summary_names_each_skipped_feature_with_the_command_that_enables_it(tmp_path):
    done = pytest_run(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout[-3000:]
    cuda = torch.cuda.is_available()  # the gpu test runs where there is a CUDA device
    assert ("2 passed, 2 skipped" if cuda else "1 passed, 3 skipped") in done.stdout, done.stdout[-3000:]
    (line,) = summary(done)
    assert done.stdout.splitlines()[-2] == line  # at the end: just above the counts
    gpu = "" if cuda else ", gpu (no CUDA device: run them on a machine with one)"
    assert line == ("features not tested here: "
                    "SLURM (no cluster: start it as root, `sudo bash scripts/slurm_local.sh up`), "
                    "PostgreSQL (not installed (`sudo apt-get install postgresql`), or it could not start: "
                    f"its log is in the reason above){gpu}")


def test_under_ci_a_missing_feature_fails_and_with_nothing_skipped_nothing_is_said(tmp_path):
    done = pytest_run(tmp_path, "-k", "not cuda", ci=True)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "2 failed, 1 passed" in done.stdout, done.stdout[-3000:]
    assert "Failed: CI=true, and the local SLURM cluster is not up" in done.stdout
    assert "Failed: CI=true, and PostgreSQL is not installed" in done.stdout
    assert "skipped" not in done.stdout and summary(done) == [], done.stdout[-3000:]
