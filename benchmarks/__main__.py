"""``python -m benchmarks``: run (a), (b), (c), (f) [(c'), (c0)] and (d)/(e), print the table, write the JSON.
The bf16 rows (here and in ``--sweep``) are left out, the reason printed, on a CPU without bf16
instructions (``benchmarks.common.bf16_skipped``).

    python -m benchmarks [--device cpu|cuda] [--repeats 7] [--epochs 3] [--out benchmark.json]
                         [--data-dir data] [--compile] [--bare] [--skip-whole] [--seed 42]
                         [--sweep | --sweep-only] [--sweep-repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import BATCH_SIZE, D2L_WORKERS, LR, bf16_skipped, pick_device, raw_files
from benchmarks.d2l import run_d2l
from benchmarks.lightning_fit import run_mlplab
from benchmarks.lightning_floor import run_lightning_floor
from benchmarks.raw import run_raw
from benchmarks.report import environment, format_report, goals, pipeline_ratios, pipeline_results, same_init
from benchmarks.sweep import format_sweep, run_sweep_benchmark, sweep_goals
from benchmarks.whole import run_whole


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="How fast mlplab trains d2l 4.2, next to the d2l pipeline and a raw in-memory loop.")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=7,
                        help="runs of each pipeline (default 7; 6 or more give each goal a 95 %% interval)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--out", type=Path, default=Path("benchmark.json"), help="the JSON report")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="holds FashionMNIST/raw")
    parser.add_argument("--compile", action="store_true",
                        help="also time (c') mlplab with model.compile=true (torch.compile)")
    parser.add_argument("--bare", action="store_true",
                        help="also time (c0) mlplab with no callbacks, logger, progress bar or summary: "
                             "the module and data alone, against (f)")
    parser.add_argument("--skip-whole", action="store_true", help="skip (d) and (e), the subprocesses")
    parser.add_argument("--seed", type=int, default=42, help="init and batch order (mlplab's default)")
    parser.add_argument("--sweep", action="store_true",
                        help="also time a λ × dropout sweep four ways: basic/batched launcher × fp32/bf16")
    parser.add_argument("--sweep-only", action="store_true", help="the sweep section alone")
    parser.add_argument("--sweep-repeats", type=int, default=3,
                        help="runs of each sweep variant (default 3: one repeat is minutes of sweeps)")
    args = parser.parse_args(argv)
    if min(args.repeats, args.epochs, args.sweep_repeats) < 1:
        parser.error("--repeats, --epochs and --sweep-repeats must be at least 1")
    return args


# (c0): (c) with nothing (f) lacks: no callbacks, logger, progress bar or model summary (the last two
# Lightning would add by itself)
BARE = ("callbacks=none", "logger=none", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false")


def pipelines(compiled: bool = False, bf16: bool = True,
              bare: bool = False) -> dict[str, Callable[..., dict[str, Any]]]:
    """The pipelines to time, by name: (a), (b), (c), (f), with ``bf16`` their bf16 rows, with
    ``compiled`` (c'), with ``bare`` (c0)."""
    timed: dict[str, Callable[..., dict[str, Any]]] = {
        "d2l": run_d2l, "raw": run_raw, "mlplab": run_mlplab,
        # the floor of Lightning's own loop here: a plain LightningModule, nothing of mlplab's
        "lightning": run_lightning_floor}
    if bf16:  # bf16 autocast, both sides (with bf16 instructions the raw loop ran 1.14–1.35× faster)
        timed["raw_bf16"] = functools.partial(run_raw, bf16=True)
        timed["mlplab_bf16"] = functools.partial(run_mlplab, extra=("trainer.precision=bf16-mixed",))
    if compiled:
        timed["mlplab_compiled"] = functools.partial(run_mlplab, extra=("model.compile=true",))
    if bare:  # what mlplab/lightning owes to the default callbacks and logger, and what to the rest
        timed["mlplab_bare"] = functools.partial(run_mlplab, extra=BARE)
    return timed


def run_pipelines(data_dir: Path, device: torch.device, repeats: int, epochs: int,
                  seed: int, compiled: bool = False, bf16: bool = True,
                  bare: bool = False) -> dict[str, dict[str, Any]]:
    """(a), (b), (c), (f) [and (c'), (c0), the bf16 rows] interleaved per repeat, so machine noise
    falls on all alike."""
    timed = pipelines(compiled, bf16, bare)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in timed}
    for _ in range(repeats):
        for name, run in timed.items():
            runs[name].append(run(data_dir, device, epochs, seed))
    return pipeline_results(runs)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the report holds: settings, environment, pipelines, ratios, whole runs, goals."""
    device, data_dir = pick_device(args.device), args.data_dir.resolve()
    raw_files(data_dir)  # a missing data set stops us here, not after minutes of other pipelines
    start = time.perf_counter()
    skipped = bf16_skipped(device)
    if skipped:
        print(f"bf16 rows skipped: {skipped}", flush=True)
    report: dict[str, Any] = {
        "settings": {"repeats": args.repeats, "sweep_repeats": args.sweep_repeats, "epochs": args.epochs,
                     "seed": args.seed,
                     "data_dir": str(data_dir), "batch_size": BATCH_SIZE, "lr": LR,
                     "d2l_workers": D2L_WORKERS, "model": "ScratchMLP 784-256-10 relu"},
        "environment": environment(device), "bf16_skipped": skipped}
    if not args.sweep_only:
        timed = run_pipelines(data_dir, device, args.repeats, args.epochs, args.seed, args.compile,
                              bf16=skipped is None, bare=args.bare)
        report["pipelines"] = timed
        report["same_init"] = same_init(timed)
        report["ratios"] = pipeline_ratios(timed)
        if not args.skip_whole:
            report["whole"] = run_whole(data_dir, device, args.repeats)
        report["goals"] = goals(report)
    if args.sweep or args.sweep_only:
        report["sweep"] = run_sweep_benchmark(data_dir, device, args.sweep_repeats, skipped)
        report["sweep_goals"] = sweep_goals(report["sweep"], device)
    report["total_seconds"] = time.perf_counter() - start
    report["load_average_at_end"] = os.getloadavg()  # 1, 5, 15 min: other users' load on this machine
    return report


def main() -> None:
    args = parse_args()
    report = benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if "pipelines" in report:
        print(format_report(report))
    if "sweep" in report:
        print(format_sweep(report["sweep"], report["sweep_goals"]))
    print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
