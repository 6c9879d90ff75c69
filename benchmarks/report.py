"""The numbers the benchmark reports and how it prints them: medians, ratios, the goals, the
machine it ran on, and the table.

    mlplab/raw        = median epoch seconds (c) / (b)   how much Lightning + mlplab cost
    mlplab/lightning  = median epoch seconds (c) / (f)   how much mlplab adds to Lightning's own loop
    d2l/mlplab        = median epoch seconds (a) / (c)   how much faster than the book's pipeline
    whole mlplab/raw  = median process seconds (d)       (benchmarks.whole)
    RSS delta MB      = peak RSS (e) minus imports only  (benchmarks.whole)
"""

from __future__ import annotations

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


def pipeline_ratios(pipelines: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The per-epoch ratios the goals check."""
    return {"mlplab/lightning": ratio(pipelines["mlplab"]["median"], pipelines["lightning"]["median"])
            if "lightning" in pipelines else None,
            "mlplab/raw": ratio(pipelines["mlplab"]["median"], pipelines["raw"]["median"]),
            "mlplab/raw bf16": ratio(pipelines["mlplab_bf16"]["median"], pipelines["raw_bf16"]["median"])
            if "mlplab_bf16" in pipelines else None,
            "d2l/mlplab": ratio(pipelines["d2l"]["median"], pipelines["mlplab"]["median"])}


# ---------------------------------------------------------------- goals

def check_goal(name: str, value: float | None, op: str, limit: float) -> dict[str, Any]:
    """One goal: PASS or FAIL when ``value`` was measured, SKIP when it was not (None)."""
    if value is None:
        status = "SKIP"
    else:
        status = "PASS" if (value <= limit if op == "<=" else value >= limit) else "FAIL"
    return {"name": name, "value": value, "op": op, "limit": limit, "status": status}


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of GOALS against this report's numbers."""
    whole = report.get("whole")
    values = {**report["ratios"],
              "whole mlplab/raw": whole and whole["ratio"],
              "RSS delta MB": whole and whole["rss_delta_mb"]}
    return [check_goal(name, values.get(name), op, limit) for name, op, limit in GOALS]


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
            f"d2l/mlplab = {ratios['d2l/mlplab']:.2f}   acc {acc['d2l']:.3f}"),
        row("(c) mlplab: Lightning fit", pipes["mlplab"],
            f"mlplab/raw = {ratios['mlplab/raw']:.2f}   acc {acc['mlplab']:.3f}"),
        row("(f) lightning: a plain LightningModule", pipes["lightning"],
            f"mlplab/lightning = {ratios['mlplab/lightning']:.2f}   acc {acc['lightning']:.3f}"),
        row("(b) raw: in-memory loop", pipes["raw"], f"1.00         acc {acc['raw']:.3f}"),
        row("    mlplab epoch incl. epoch-end hooks, ckpt", pipes["mlplab"]["full_epoch"],
            f"{ratio(pipes['mlplab']['full_epoch']['median'], pipes['raw']['median']):.2f} x raw"),
    ]
    if "mlplab_bf16" in pipes:  # precision=bf16-mixed against the raw loop under bf16 autocast
        lines.append(row("(c) mlplab, trainer.precision=bf16-mixed", pipes["mlplab_bf16"],
                         f"mlplab/raw bf16 = {ratios['mlplab/raw bf16']:.2f}"
                         f"   acc {acc['mlplab_bf16']:.3f}"))
        lines.append(row("(b) raw, bf16 autocast", pipes["raw_bf16"],
                         f"{ratio(pipes['raw']['median'], pipes['raw_bf16']['median']):.2f}× fp32's speed"
                         f"   acc {acc['raw_bf16']:.3f}"))
    if report.get("bf16_skipped"):
        lines.append(f"(c), (b) bf16 rows skipped: {report['bf16_skipped']}")
    if "mlplab_compiled" in pipes:  # the first epoch carries the compilation: see min and max
        lines.append(row("(c') mlplab, model.compile=true", pipes["mlplab_compiled"],
                         f"{ratio(pipes['mlplab_compiled']['median'], pipes['raw']['median']):.2f} x raw"))
    lines += [
        "",
        f"{f'whole run, {WHOLE_EPOCHS} epochs (s)':<48}{'median s':>10}{'min':>10}{'max':>10}   ratio",
        row("(d) mlplab-train experiment=d2l_mlp_scratch", whole and whole["seconds"]["mlplab"],
            whole and f"whole mlplab/raw = {whole['ratio']:.2f}"),
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
        goal_text = f"goal {goal['op']} {goal['limit']:g}"
        lines.append(f"  {goal['status']:<5} {goal['name']:<18} {value:>12}  ({goal_text})")
    lines.append(f"total {report['total_seconds']:.0f} s")
    return "\n".join(lines)
