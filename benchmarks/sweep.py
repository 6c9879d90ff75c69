"""``--sweep``: one λ × dropout grid of ``mlplab-train -m`` processes, four ways, side by side.

    basic   fp32   hydra/launcher=basic    trainer.precision=32-true      (today's default)
    basic   bf16   hydra/launcher=basic    trainer.precision=bf16-mixed   (the precision lever)
    batched fp32   hydra/launcher=batched  trainer.precision=32-true      (the launcher lever)
    batched bf16   hydra/launcher=batched  trainer.precision=bf16-mixed   (both)

(the bf16 variants only where the CPU has bf16 instructions: ``benchmarks.common.bf16_skipped``)

Each is a whole process timed from start to exit (``benchmarks.whole.timed_child``: wall seconds
and peak RSS); fit seconds are read from the jobs' ``metrics.json`` (a batched group's own fit
time is in its ``batched``). The grid: 3×3 (``regularizer.weight_decay=0,1e-4,1e-3``,
``regularizer.dropout=0,0.2,0.5``) on a CPU; 10×10 on a GPU, where the basic launcher runs only
``GPU_SAMPLE`` of its 100 jobs and its wall is scaled up to the grid (stated in the report):
a hundred basic jobs would take most of a GPU check's minutes.

    batched bf16 / basic fp32   goal ≤ 0.5 on a CPU (the 3×3 grid, 10 epochs; not measured
                                without the bf16 variants)
    batched / basic             goal ≥ 30 on a GPU (the 10×10 grid), with the batched fit ≤ 5 s
                                and one default run's 10-epoch fit ≤ 3 s
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.report import ratio, summarize
from benchmarks.whole import timed_child

EPOCHS = 10
GPU_SAMPLE = 5  # basic-launcher jobs timed on a GPU, of the 100
VARIANTS = {  # name → the overrides that make it
    "basic fp32": ["trainer.precision=32-true"],
    "basic bf16": ["trainer.precision=bf16-mixed"],
    "batched fp32": ["hydra/launcher=batched", "trainer.precision=32-true"],
    "batched bf16": ["hydra/launcher=batched", "trainer.precision=bf16-mixed"],
}


def variants(bf16: bool = True) -> dict[str, list[str]]:
    """The variants to time: all four, or with ``bf16`` false the two in fp32."""
    return {name: overrides for name, overrides in VARIANTS.items() if bf16 or "bf16" not in name}


def grid(device: torch.device) -> dict[str, list[str]]:
    """The λ and p values of the grid: 3×3 on a CPU, 10×10 on a GPU."""
    if device.type == "cuda":
        return {"regularizer.weight_decay": ["0"] + [f"{10 ** (k / 2 - 6):.2g}" for k in range(9)],
                "regularizer.dropout": [f"{p / 10:g}" for p in range(10)]}
    return {"regularizer.weight_decay": ["0", "1e-4", "1e-3"], "regularizer.dropout": ["0", "0.2", "0.5"]}


def command(values: dict[str, list[str]], variant: list[str], data_dir: Path, device: torch.device,
            sweep_dir: Path) -> list[str]:
    train = Path(sys.executable).parent / "mlplab-train"
    return [str(train), "-m", *(f"{key}={','.join(v)}" for key, v in values.items()), *variant,
            f"trainer.max_epochs={EPOCHS}", f"data.data_dir={data_dir}",
            f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
            f"hydra.sweep.dir={sweep_dir}"]


def fit_seconds(sweep_dir: Path) -> float:
    """Seconds of fitting in a sweep: its jobs' own, or each batched group's once."""
    total, groups = 0.0, set()
    for path in sorted(sweep_dir.glob("*/metrics.json")):
        result = json.loads(path.read_text())
        batched = result.get("batched") or {}
        if "group_fit_seconds" in batched:
            key = (batched["group_fit_seconds"], batched["members"])
            total += 0.0 if key in groups else batched["group_fit_seconds"]
            groups.add(key)
        else:
            total += result["fit_seconds"]
    return total


def engines(sweep_dir: Path) -> list[str]:
    """The engines the sweep's batched groups ran (``stacked``, ``looped``; none for the basic
    launcher), as their members' ``metrics.json`` record them."""
    found = {(json.loads(path.read_text()).get("batched") or {}).get("engine")
             for path in sweep_dir.glob("*/metrics.json")}
    return sorted(found - {None})


def run_sweep_benchmark(data_dir: Path, device: torch.device, repeats: int,
                        bf16_skipped: str | None = None) -> dict[str, Any]:
    """Every variant ``repeats`` times, interleaved (the bf16 ones only where ``bf16_skipped``, the
    reason to leave them out, is None); wall, fit seconds and peak RSS of each, and the ratios
    against basic fp32."""
    values = grid(device)
    jobs = len(values["regularizer.weight_decay"]) * len(values["regularizer.dropout"])
    sampled = {}
    if device.type == "cuda":  # the basic launcher on a sample of the jobs, scaled up
        sampled = {"regularizer.weight_decay": values["regularizer.weight_decay"][:GPU_SAMPLE],
                   "regularizer.dropout": values["regularizer.dropout"][:1]}
    timed = variants(bf16=bf16_skipped is None)
    runs: dict[str, dict[str, list[float]]] = {name: {"wall": [], "fit": [], "rss_mb": []}
                                               for name in timed}
    chosen: dict[str, list[str]] = {name: [] for name in timed}  # the engines mode=auto picked
    for _ in range(repeats):
        for name, variant in timed.items():
            basic = name.startswith("basic")
            grid_values = sampled if basic and sampled else values
            scale = jobs / GPU_SAMPLE if basic and sampled else 1.0
            with tempfile.TemporaryDirectory(prefix="mlplab-sweep-") as tmp:
                sweep_dir = Path(tmp) / "sweep"
                wall, rss = timed_child(command(grid_values, variant, data_dir, device, sweep_dir), Path(tmp))
                runs[name]["wall"].append(wall * scale)
                runs[name]["fit"].append(fit_seconds(sweep_dir) * scale)
                runs[name]["rss_mb"].append(rss)
                chosen[name] = sorted({*chosen[name], *engines(sweep_dir)})
            # a variant is minutes on a CPU: say each one as it ends, not only in the report
            scaled = " (scaled up from the sample)" if basic and sampled else ""
            wall, fit = runs[name]["wall"][-1], runs[name]["fit"][-1]
            engine = f", engine {'/'.join(chosen[name])}" if chosen[name] else ""
            print(f"sweep: {name}: {wall:.1f} s wall, {fit:.1f} s fit{scaled}{engine}", file=sys.stderr,
                  flush=True)
    medians = {name: {k: summarize(v) for k, v in r.items()} for name, r in runs.items()}
    base = medians["basic fp32"]["wall"]["median"]
    return {"grid": {k: v for k, v in values.items()}, "jobs": jobs, "epochs": EPOCHS,
            "basic_sampled_jobs": GPU_SAMPLE if sampled else None, "variants": medians, "engines": chosen,
            "ratios": {name: ratio(m["wall"]["median"], base) for name, m in medians.items()},
            "shares": lever_shares(medians), "bf16_skipped": bf16_skipped}


def lever_shares(medians: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each lever's saving from basic fp32, alone and both together, as a share of basic fp32's
    wall (those of the variants timed)."""
    wall = {name: m["wall"]["median"] for name, m in medians.items()}
    base = wall["basic fp32"]
    levers = {"bf16 alone": "basic bf16", "batched alone": "batched fp32", "both": "batched bf16"}
    return {lever: (base - wall[name]) / base for lever, name in levers.items() if name in wall}


def sweep_goals(section: dict[str, Any], device: torch.device) -> list[dict[str, Any]]:
    """The goals of the section for this device."""
    variants = section["variants"]
    if device.type == "cuda":
        fit = variants["batched bf16"]["fit"]["median"]
        speedup = ratio(variants["basic fp32"]["wall"]["median"],
                        variants["batched bf16"]["wall"]["median"])
        one_run = variants["basic fp32"]["fit"]["median"] / section["jobs"]  # one job's 10 epochs
        return [{"name": "GPU batched fit s (10×10)", "value": fit, "limit": "<= 5", "met": fit <= 5},
                {"name": "GPU one run's fit s", "value": one_run, "limit": "<= 3", "met": one_run <= 3},
                {"name": "GPU basic/batched", "value": speedup, "limit": ">= 30", "met": speedup >= 30}]
    value = section["ratios"].get("batched bf16")  # None: the bf16 variants were skipped
    return [{"name": "sweep batched bf16 / basic fp32", "value": value, "limit": "<= 0.5",
             "met": None if value is None else value <= 0.5}]


def format_sweep(section: dict[str, Any], goals: list[dict[str, Any]]) -> str:
    lines = [f"sweep: {section['jobs']} jobs × {section['epochs']} epochs"
             + (f" (basic launcher: {section['basic_sampled_jobs']} jobs timed, scaled up)"
                if section["basic_sampled_jobs"] else ""),
             f"  {'variant':<14}{'wall s':>9}{'fit s':>9}{'peak RSS MB':>13}{'× basic fp32':>14}"]
    for name, m in section["variants"].items():
        lines.append(f"  {name:<14}{m['wall']['median']:>9.1f}{m['fit']['median']:>9.1f}"
                     f"{m['rss_mb']['median']:>13.0f}{section['ratios'][name]:>14.2f}")
    shares = ", ".join(f"{k} {v:.0%}" for k, v in section["shares"].items())
    lines.append(f"  saved from basic fp32's wall: {shares}")
    if section.get("bf16_skipped"):
        lines.append(f"  bf16 variants skipped: {section['bf16_skipped']}")
    for g in goals:
        met = "met" if g["met"] else "NOT met"
        outcome = "not measured" if g["value"] is None else f"{g['value']:.2f} {met}"
        lines.append(f"  goal {g['name']} {g['limit']}: {outcome}")
    return "\n".join(lines)


