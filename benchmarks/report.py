"""The numbers the benchmark reports and how it prints them: medians, ratios, the goals, the
machine it ran on, and the table.

    mlplab/raw        = median over repeats r of  t_r(c) / t_r(b)   how much Lightning + mlplab cost
    mlplab/lightning  = median over r of  t_r(c) / t_r(f)   how much mlplab adds to Lightning's own loop
    d2l/mlplab        = median over r of  t_r(a) / t_r(c)   how much faster than the book's pipeline
    whole mlplab/raw  = median over r of the process seconds' ratio (d)   (benchmarks.whole)
    RSS delta MB      = peak RSS (e) minus imports only                    (benchmarks.whole)

t_r(x) is pipeline x's median epoch in repeat r. The pipelines run interleaved, so both sides of a
ratio in one repeat met the same load on the machine: pairing them cancels most of it.

A goal is decided on the 95 % interval of that median (order statistics, no assumption about the
noise's shape; it needs at least 6 repeats): PASS when the whole interval meets the goal, FAIL when
none of it does, UNSURE when the goal lies inside it (more repeats, or a quieter machine, decide).
With fewer repeats the median alone decides, and the table says there is no interval.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from pathlib import Path
from typing import Any

import lightning
import torch

from benchmarks.common import IMPORTS_ONLY, WHOLE_EPOCHS

# (name, comparison, limit): the targets this benchmark checks
GOALS = (("mlplab/lightning", "<=", 1.05), ("mlplab/raw", "<=", 1.30), ("mlplab/raw bf16", "<=", 1.30),
         ("d2l/mlplab", ">=", 8.0), ("whole mlplab/raw", "<=", 2.0), ("RSS delta MB", "<=", 300.0))


# ---------------------------------------------------------------- arithmetic

def summarize(values: list[float]) -> dict[str, float]:
    """Median, min and max of a list of timings."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either side was not measured."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def flatten(runs: list[list[float]]) -> list[float]:
    """Every epoch of every repeat, in order."""
    return [t for run in runs for t in run]


def pipeline_results(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each pipeline's repeats as one record: every key as a list over the repeats, plus median,
    min and max over all epochs (and ``full_epoch`` for the pipelines that time full epochs)."""
    results = {}
    for name, repeat_runs in runs.items():
        result = {key: [run[key] for run in repeat_runs] for key in repeat_runs[0]}
        results[name] = {**result, **summarize(flatten(result["epoch_seconds"]))}
        if "full_epoch_seconds" in result:
            results[name]["full_epoch"] = summarize(flatten(result["full_epoch_seconds"]))
    return results


def same_init(pipelines: dict[str, dict[str, Any]]) -> bool:
    """Whether every run of every pipeline started from the same weights (checksums to 1e-9)."""
    return len({round(c, 9) for p in pipelines.values() for c in p["init_checksum"]}) == 1


# each per-epoch ratio's (numerator, denominator) pipelines
RATIO_PAIRS = {"mlplab/lightning": ("mlplab", "lightning"), "mlplab/raw": ("mlplab", "raw"),
               "mlplab/raw bf16": ("mlplab_bf16", "raw_bf16"), "d2l/mlplab": ("d2l", "mlplab")}


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free interval for the median of ``values``: the order statistics
    ``(x_(k), x_(n+1-k))``, k the largest with  P(Binomial(n, ½) < k) ≤ (1 − confidence)/2.
    None when no k qualifies (n < 6 at 95 %)."""
    n, tail = len(values), (1 - confidence) / 2
    k, below = 0, 0.0  # below = P(Binomial(n, ½) ≤ k − 1)
    while k < n and below + math.comb(n, k) / 2 ** n <= tail:
        below += math.comb(n, k) / 2 ** n
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def paired(numerators: list[float], denominators: list[float]) -> dict[str, Any] | None:
    """Repeat-by-repeat ratios, their median and its interval; None when a side is missing."""
    ratios = [r for r in map(ratio, numerators, denominators) if r is not None]
    if len(ratios) != len(numerators) or len(numerators) != len(denominators) or not ratios:
        return None
    return {"per_repeat": ratios, "median": statistics.median(ratios), "interval": median_interval(ratios)}


def pipeline_ratios(pipelines: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """The per-epoch ratios the goals check, each paired by repeat (None: a side was not timed)."""
    def per_repeat(name: str) -> list[float]:
        return [statistics.median(run) for run in pipelines[name]["epoch_seconds"]]
    return {name: paired(per_repeat(num), per_repeat(den)) if num in pipelines and den in pipelines else None
            for name, (num, den) in RATIO_PAIRS.items()}


# ---------------------------------------------------------------- goals

def meets(value: float, op: str, limit: float) -> bool:
    return value <= limit if op == "<=" else value >= limit


def check_goal(name: str, value: float | None, op: str, limit: float,
               interval: tuple[float, float] | None = None) -> dict[str, Any]:
    """One goal: SKIP when ``value`` was not measured (None); with an interval, PASS when all of it
    meets the goal, FAIL when none of it does, UNSURE otherwise; without one, the value decides."""
    if value is None:
        status = "SKIP"
    elif interval is None:
        status = "PASS" if meets(value, op, limit) else "FAIL"
    else:
        hits = [meets(end, op, limit) for end in interval]
        status = "PASS" if all(hits) else "FAIL" if not any(hits) else "UNSURE"
    return {"name": name, "value": value, "interval": interval, "op": op, "limit": limit, "status": status}


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of GOALS against this report's numbers."""
    whole = report.get("whole")
    measured = {**report["ratios"], "whole mlplab/raw": whole and whole["ratio"],
                "RSS delta MB": whole and {"median": whole["rss_delta_mb"], "interval": None}}
    results = []
    for name, op, limit in GOALS:
        numbers = measured.get(name) or {"median": None, "interval": None}
        results.append(check_goal(name, numbers["median"], op, limit, numbers["interval"]))
    return results


# ---------------------------------------------------------------- the machine

def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model from /proc/cpuinfo."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware, to read the timings against."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "lightning": lightning.__version__, "device": device.type, "device_name": device_name(device),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg()}


# ---------------------------------------------------------------- the printed table

def row(label: str, stats: dict[str, float] | None, extra: str = "") -> str:
    """One line of the table: label, median, min, max, then a free column."""
    if stats is None:
        return f"{label:<48}{'skipped (--skip-whole)':>30}"
    return f"{label:<48}{stats['median']:>10.3f}{stats['min']:>10.3f}{stats['max']:>10.3f}   {extra}"


def shown(paired_ratio: dict[str, Any] | None) -> str:
    """A paired ratio as ``median [low, high]`` (its 95 % interval), or the median alone."""
    if paired_ratio is None:
        return "not measured"
    low_high = paired_ratio["interval"]
    interval = f" [{low_high[0]:.2f}, {low_high[1]:.2f}]" if low_high else ""
    return f"{paired_ratio['median']:.2f}{interval}"


def load(average: list[float]) -> str:
    """A load average (1, 5, 15 min) as ``a/b/c``."""
    return "/".join(f"{x:.1f}" for x in average)


def format_report(report: dict[str, Any]) -> str:
    """The printed summary: environment, per-epoch table, whole runs, RSS and the goal checks."""
    env, settings, pipes, ratios = (report[k] for k in ("environment", "settings", "pipelines", "ratios"))
    whole = report.get("whole")
    acc = {name: statistics.median(p["test_acc"]) for name, p in pipes.items()}
    lines = [
        f"torch {env['torch']}, lightning {env['lightning']}, device {env['device']} "
        f"({env['device_name']}), {env['torch_threads']} torch threads, {env['cpu_count']} cpus; "
        f"load average {load(env['load_average_at_start'])} at start, "
        f"{load(report['load_average_at_end'])} at end",
        f"{settings['model']}, SGD lr {settings['lr']}, batch {settings['batch_size']}; "
        f"{settings['repeats']} repeats x {settings['epochs']} epochs (60k train + 10k test each); "
        f"same init in every pipeline: {report['same_init']}",
        "",
        f"{'pipeline (per epoch: train + test pass)':<48}{'median s':>10}{'min':>10}{'max':>10}   ratio",
        row("(a) d2l: torchvision + DataLoader(4 workers)", pipes["d2l"],
            f"d2l/mlplab = {shown(ratios['d2l/mlplab'])}   acc {acc['d2l']:.3f}"),
        row("(c) mlplab: Lightning fit", pipes["mlplab"],
            f"mlplab/raw = {shown(ratios['mlplab/raw'])}   acc {acc['mlplab']:.3f}"),
        row("(f) lightning: a plain LightningModule", pipes["lightning"],
            f"mlplab/lightning = {shown(ratios['mlplab/lightning'])}   acc {acc['lightning']:.3f}"),
        row("(b) raw: in-memory loop", pipes["raw"], f"1.00         acc {acc['raw']:.3f}"),
        row("    mlplab epoch incl. epoch-end hooks, ckpt", pipes["mlplab"]["full_epoch"],
            f"{ratio(pipes['mlplab']['full_epoch']['median'], pipes['raw']['median']):.2f} x raw"),
    ]
    if "mlplab_bf16" in pipes:  # precision=bf16-mixed against the raw loop under bf16 autocast
        lines.append(row("(c) mlplab, trainer.precision=bf16-mixed", pipes["mlplab_bf16"],
                         f"mlplab/raw bf16 = {shown(ratios['mlplab/raw bf16'])}"
                         f"   acc {acc['mlplab_bf16']:.3f}"))
        lines.append(row("(b) raw, bf16 autocast", pipes["raw_bf16"],
                         f"{ratio(pipes['raw']['median'], pipes['raw_bf16']['median']):.2f}× fp32's speed"
                         f"   acc {acc['raw_bf16']:.3f}"))
    if report.get("bf16_skipped"):
        lines.append(f"(c), (b) bf16 rows skipped: {report['bf16_skipped']}")
    if "mlplab_bare" in pipes:  # the default fit's callbacks and logger left out
        bare = ratio(pipes["mlplab_bare"]["median"], pipes["lightning"]["median"])
        lines.append(row("(c0) mlplab, no callbacks/logger/bar", pipes["mlplab_bare"],
                         f"{bare:.2f} x lightning   acc {acc['mlplab_bare']:.3f}"))
    if "mlplab_compiled" in pipes:  # the first epoch carries the compilation: see min and max
        lines.append(row("(c') mlplab, model.compile=true", pipes["mlplab_compiled"],
                         f"{ratio(pipes['mlplab_compiled']['median'], pipes['raw']['median']):.2f} x raw"))
    lines += [
        "",
        f"{f'whole run, {WHOLE_EPOCHS} epochs (s)':<48}{'median s':>10}{'min':>10}{'max':>10}   ratio",
        row("(d) mlplab-train experiment=d2l_mlp_scratch", whole and whole["seconds"]["mlplab"],
            whole and f"whole mlplab/raw = {shown(whole['ratio'])}"),
        row("(d) raw script, fresh interpreter", whole and whole["seconds"]["raw"]),
        "",
        f"{'peak RSS (MB)':<48}{'median':>10}{'min':>10}{'max':>10}",
        row("(e) mlplab-train", whole and whole["rss_mb"]["mlplab"],
            whole and f"RSS delta = {whole['rss_delta_mb']:.0f} MB"),
        row(f"(e) {IMPORTS_ONLY}", whole and whole["rss_mb"]["imports"]),
        row("    raw script", whole and whole["rss_mb"]["raw"]),
        "",
        "goals:",
    ]
    for goal in report["goals"]:
        value = "not measured" if goal["value"] is None else f"{goal['value']:.2f}"
        low_high = goal["interval"]
        interval = f"[{low_high[0]:.2f}, {low_high[1]:.2f}]" if low_high else ""
        goal_text = f"goal {goal['op']} {goal['limit']:g}"
        lines.append(f"  {goal['status']:<6} {goal['name']:<18} {value:>12} {interval:<14} ({goal_text})")
    if not any(goal["interval"] for goal in report["goals"]):
        lines.append("  (no 95 % intervals: they need --repeats 6 or more; the medians alone decided)")
    elif any(goal["status"] == "UNSURE" for goal in report["goals"]):
        lines.append("  UNSURE: the goal lies inside the 95 % interval; more --repeats or a quieter "
                     "machine decide it")
    lines.append(f"total {report['total_seconds']:.0f} s")
    return "\n".join(lines)
