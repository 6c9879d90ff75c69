"""The benchmarks package: its pure helpers (benchmarks.report), and one tiny run of
``python -m benchmarks`` end to end (a check of the report's shape and arithmetic, not of any timing)."""

from __future__ import annotations

import json
import re
import statistics

import pytest
import torch
from helpers import REPO, run_main

from benchmarks import report
from benchmarks.__main__ import main as benchmarks_main

GOAL_NAMES = ("mlplab/lightning", "mlplab/raw", "mlplab/raw bf16", "d2l/mlplab", "whole mlplab/raw",
              "RSS delta MB")


def test_summarize_gives_median_min_max():
    assert report.summarize([3.0, 1.0, 10.0, 2.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}
    assert report.summarize([4.0]) == {"median": 4.0, "min": 4.0, "max": 4.0}
    assert report.flatten([[1.0, 2.0], [3.0]]) == [1.0, 2.0, 3.0]


def test_ratio_is_none_when_a_side_is_missing():
    assert report.ratio(3.0, 2.0) == 1.5
    assert report.ratio(None, 2.0) is None
    assert report.ratio(1.0, None) is None
    assert report.ratio(1.0, 0.0) is None


def test_check_goal_pass_fail_skip():
    assert report.check_goal("a", 1.25, "<=", 1.25)["status"] == "PASS"  # the limit itself passes
    assert report.check_goal("a", 1.26, "<=", 1.25)["status"] == "FAIL"
    assert report.check_goal("b", 8.0, ">=", 8.0)["status"] == "PASS"
    assert report.check_goal("b", 7.9, ">=", 8.0)["status"] == "FAIL"
    assert report.check_goal("c", None, "<=", 2.0) == {"name": "c", "value": None, "interval": None,
                                                      "op": "<=", "limit": 2.0, "status": "SKIP"}


@pytest.mark.parametrize(("interval", "op", "status"), [
    ((0.98, 1.04), "<=", "PASS"), ((1.06, 1.10), "<=", "FAIL"), ((1.00, 1.08), "<=", "UNSURE"),
    ((0.90, 1.05), "<=", "PASS"),  # an end on the limit meets it
    ((1.06, 1.20), ">=", "PASS"), ((0.90, 1.04), ">=", "FAIL"), ((1.00, 1.08), ">=", "UNSURE")])
def test_an_interval_decides_a_goal_only_when_it_lies_on_one_side(interval, op, status):
    median = sum(interval) / 2  # the median alone would pass or fail every one of these
    assert report.check_goal("g", median, op, 1.05, interval)["status"] == status


def test_median_interval_is_the_order_statistics_binomial_coverage_allows():
    assert report.median_interval([1.0] * 5) is None  # P(all 5 on one side) = 1/32 > 2.5 %
    six = [6.0, 1.0, 5.0, 2.0, 4.0, 3.0]
    assert report.median_interval(six) == (1.0, 6.0)  # 1/64 ≤ 2.5 %: min and max, coverage 96.9 %
    nine = [9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0]
    assert report.median_interval(nine) == (2.0, 8.0)  # P(≤ 1 of 9) = 10/512 ≤ 2.5 % < P(≤ 2) = 46/512
    twenty = [float(x) for x in range(1, 21)]
    assert report.median_interval(twenty) == (6.0, 15.0)  # P(≤ 5 of 20) = 0.0207; P(≤ 6) = 0.0577
    assert report.median_interval(nine, confidence=0.5) == (3.0, 7.0)  # P(≤ 2) = 0.090 ≤ 25 % < P(≤ 3)


def test_ratios_pair_each_repeat_with_itself():
    # a load spike slows repeat 2 of both sides alike; the paired ratios stay at 1.1
    pipelines = {"mlplab": {"epoch_seconds": [[1.1, 1.1], [2.2, 2.2], [1.1, 1.1]]},
                 "lightning": {"epoch_seconds": [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]},
                 "raw": {"epoch_seconds": [[1.0], [1.0], [1.0]]},
                 "d2l": {"epoch_seconds": [[5.5], [5.5], [5.5]]}}
    ratios = report.pipeline_ratios(pipelines)
    assert ratios["mlplab/lightning"]["per_repeat"] == pytest.approx([1.1, 1.1, 1.1])
    assert ratios["mlplab/raw"]["per_repeat"] == pytest.approx([1.1, 2.2, 1.1])
    assert ratios["mlplab/raw"]["median"] == pytest.approx(1.1) and ratios["mlplab/raw"]["interval"] is None
    assert ratios["d2l/mlplab"]["median"] == pytest.approx(5.0)
    assert ratios["mlplab/raw bf16"] is None  # not timed
    assert report.paired([1.0, 2.0], [1.0]) is None and report.paired([1.0], [0.0]) is None


def test_goals_read_the_report():
    def point(value):
        return {"median": value, "interval": None}
    numbers = {"ratios": {"mlplab/lightning": point(1.06), "mlplab/raw": point(1.1),
                          "d2l/mlplab": point(5.0)},
               "whole": {"ratio": {"median": 2.0, "interval": (1.9, 2.1)}, "rss_delta_mb": 120.0}}
    statuses = {g["name"]: g["status"] for g in report.goals(numbers)}
    assert statuses == {"mlplab/lightning": "FAIL", "mlplab/raw": "PASS", "mlplab/raw bf16": "SKIP",
                        "d2l/mlplab": "FAIL",
                        "whole mlplab/raw": "UNSURE", "RSS delta MB": "PASS"}
    without_whole = {g["name"]: g["status"] for g in report.goals({"ratios": numbers["ratios"]})}
    assert without_whole["whole mlplab/raw"] == without_whole["RSS delta MB"] == "SKIP"


@pytest.mark.slow
@pytest.mark.dataset
@pytest.mark.parametrize("without_bf16", [False, True], ids=["this-cpu", "bf16-skipped"])
def test_one_epoch_run_reports_three_pipelines_ratios_and_goals(tmp_path, monkeypatch, without_bf16):
    """``without_bf16``: as on a CPU without bf16 instructions (the AVX2 EPYC), where the bf16 rows
    are left out with their reason; elsewhere as this CPU has it."""
    import benchmarks.__main__ as bench

    if without_bf16:
        monkeypatch.setattr(bench, "bf16_skipped", lambda device: "no bf16 instructions (a test)")
    skipped = bench.bf16_skipped(torch.device("cpu"))
    out = tmp_path / "b.json"  # `python -m benchmarks …`, its main in this process
    code, stdout, stderr = run_main(benchmarks_main, "--repeats", "1", "--epochs", "1", "--skip-whole",
                                    "--bare", "--out", str(out), "--data-dir", str(REPO / "data"), cwd=REPO)
    assert code == 0, stderr[-3000:]
    written = json.loads(out.read_text())
    pipes = written["pipelines"]
    bf16_rows = set() if skipped else {"raw_bf16", "mlplab_bf16"}
    assert set(pipes) == {"d2l", "raw", "mlplab", "lightning", "mlplab_bare"} | bf16_rows
    for name, pipe in pipes.items():
        times = report.flatten(pipe["epoch_seconds"])
        assert len(times) == 1 and times[0] > 0, name
        assert pipe["median"] == pytest.approx(statistics.median(times)), name
        assert 0.5 < pipe["test_acc"][0] <= 1.0, name  # one epoch of d2l 4.2 reaches ~0.75
    assert written["same_init"] is True
    # one repeat each; None where a side was not timed (the bf16 rows where they are skipped)
    ratios = {name: paired and paired["median"] for name, paired in written["ratios"].items()}
    floor = pipes["mlplab"]["median"] / pipes["lightning"]["median"]
    assert ratios["mlplab/lightning"] == pytest.approx(floor)
    assert ratios["mlplab/raw"] == pytest.approx(pipes["mlplab"]["median"] / pipes["raw"]["median"])
    assert ratios["d2l/mlplab"] == pytest.approx(pipes["d2l"]["median"] / pipes["mlplab"]["median"])
    if skipped:
        assert ratios["mlplab/raw bf16"] is None and f"(c), (b) bf16 rows skipped: {skipped}" in stdout
    else:
        bf16 = pipes["mlplab_bf16"]["median"] / pipes["raw_bf16"]["median"]
        assert ratios["mlplab/raw bf16"] == pytest.approx(bf16)
    assert all(paired is None or paired["interval"] is None for paired in written["ratios"].values())
    assert "whole" not in written
    goals = stdout[stdout.rindex("goals:"):]
    not_measured = {"whole mlplab/raw", "RSS delta MB"} | ({"mlplab/raw bf16"} if skipped else set())
    for name in GOAL_NAMES:  # SKIP exactly where a side was not timed
        status = "SKIP" if name in not_measured else "PASS|FAIL"
        assert re.search(rf"^\s+({status})\s+{re.escape(name)}\s", goals, re.M), name
    assert "no 95 % intervals: they need --repeats 6 or more" in goals
    assert "median s" in stdout and "(c) mlplab: Lightning fit" in stdout
    assert "(f) lightning: a plain LightningModule" in stdout
    bare = pipes["mlplab_bare"]["median"] / pipes["lightning"]["median"]  # (c0): no callbacks, no logger
    assert re.search(rf"^\(c0\) mlplab, no callbacks/logger/bar .* {bare:.2f} x lightning", stdout, re.M)



def test_the_sweep_section_counts_a_batched_group_once_and_states_each_levers_share(tmp_path):
    """benchmarks.sweep's arithmetic on written metrics.json files: a group's fit once, a basic
    job's own, the engines the groups ran; the shares and the goal against basic fp32."""
    from benchmarks import sweep

    group = {"members": 2, "group_fit_seconds": 6.0, "engine": "looped"}
    records = {"0": {"fit_seconds": 3.0, "batched": group}, "1": {"fit_seconds": 3.0, "batched": group},
               "2": {"fit_seconds": 4.0, "batched": None}}
    for job, record in records.items():
        (tmp_path / job).mkdir()
        (tmp_path / job / "metrics.json").write_text(json.dumps(record))
    assert sweep.fit_seconds(tmp_path) == 10.0
    assert sweep.engines(tmp_path) == ["looped"]  # job 2 ran alone: no engine
    medians = {name: {"wall": {"median": wall}} for name, wall in
               {"basic fp32": 100.0, "basic bf16": 90.0, "batched fp32": 60.0, "batched bf16": 45.0}.items()}
    shares = {"bf16 alone": 0.1, "batched alone": 0.4, "both": 0.55}
    assert sweep.lever_shares(medians) == pytest.approx(shares)
    (goal,) = sweep.sweep_goals({"variants": medians, "ratios": {"batched bf16": 0.45}}, torch.device("cpu"))
    assert goal["met"] and goal["value"] == 0.45
    assert [len(v) for v in sweep.grid(torch.device("cpu")).values()] == [3, 3]
    assert [len(v) for v in sweep.grid(torch.device("cuda")).values()] == [10, 10]
