"""scripts/benchmark.py: its pure helpers, and one tiny run end to end (a check of the report's
shape and arithmetic, not of any timing)."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "benchmark.py"
GOAL_NAMES = ("mlplab/raw", "d2l/mlplab", "whole mlplab/raw", "RSS delta MB")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summarize_gives_median_min_max(bench):
    assert bench.summarize([3.0, 1.0, 10.0, 2.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}
    assert bench.summarize([4.0]) == {"median": 4.0, "min": 4.0, "max": 4.0}
    assert bench.flatten([[1.0, 2.0], [3.0]]) == [1.0, 2.0, 3.0]


def test_ratio_is_none_when_a_side_is_missing(bench):
    assert bench.ratio(3.0, 2.0) == 1.5
    assert bench.ratio(None, 2.0) is None
    assert bench.ratio(1.0, None) is None
    assert bench.ratio(1.0, 0.0) is None


def test_check_goal_pass_fail_skip(bench):
    assert bench.check_goal("a", 1.25, "<=", 1.25)["status"] == "PASS"  # the limit itself passes
    assert bench.check_goal("a", 1.26, "<=", 1.25)["status"] == "FAIL"
    assert bench.check_goal("b", 8.0, ">=", 8.0)["status"] == "PASS"
    assert bench.check_goal("b", 7.9, ">=", 8.0)["status"] == "FAIL"
    assert bench.check_goal("c", None, "<=", 2.0) == {"name": "c", "value": None, "op": "<=",
                                                      "limit": 2.0, "status": "SKIP"}


def test_goals_read_the_report(bench):
    report = {"ratios": {"mlplab/raw": 1.1, "d2l/mlplab": 5.0},
              "whole": {"ratio": 2.5, "rss_delta_mb": 120.0}}
    statuses = {g["name"]: g["status"] for g in bench.goals(report)}
    assert statuses == {"mlplab/raw": "PASS", "d2l/mlplab": "FAIL", "whole mlplab/raw": "FAIL",
                        "RSS delta MB": "PASS"}
    without_whole = {g["name"]: g["status"] for g in bench.goals({"ratios": report["ratios"]})}
    assert without_whole["whole mlplab/raw"] == without_whole["RSS delta MB"] == "SKIP"


@pytest.mark.slow
@pytest.mark.dataset
def test_one_epoch_run_reports_three_pipelines_ratios_and_goals(bench, tmp_path):
    out = tmp_path / "b.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "1", "--epochs", "1", "--skip-whole",
                             "--out", str(out), "--data-dir", str(REPO / "data")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    pipes = report["pipelines"]
    assert set(pipes) == {"d2l", "raw", "mlplab"}
    for name, pipe in pipes.items():
        times = bench.flatten(pipe["epoch_seconds"])
        assert len(times) == 1 and times[0] > 0, name
        assert pipe["median"] == pytest.approx(statistics.median(times)), name
        assert 0.5 < pipe["test_acc"][0] <= 1.0, name  # one epoch of d2l 4.2 reaches ~0.75
    assert report["same_init"] is True
    ratios = report["ratios"]
    assert ratios["mlplab/raw"] == pytest.approx(pipes["mlplab"]["median"] / pipes["raw"]["median"])
    assert ratios["d2l/mlplab"] == pytest.approx(pipes["d2l"]["median"] / pipes["mlplab"]["median"])
    assert "whole" not in report
    goals = result.stdout[result.stdout.rindex("goals:"):]
    for name in GOAL_NAMES:
        assert re.search(rf"^\s+(PASS|FAIL|SKIP)\s+{re.escape(name)}\s", goals, re.M), name
    assert "median s" in result.stdout and "(c) mlplab: Lightning fit" in result.stdout

