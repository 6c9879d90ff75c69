"""(d) and (e): whole processes, each started fresh, timed from start to exit, with their own
peak RSS (through ``benchmarks.measure``):

    mlplab    ``mlplab-train experiment=d2l_mlp_scratch`` (WHOLE_EPOCHS epochs, then the test set)
    raw       ``python -m benchmarks.raw WHOLE_EPOCHS``: the same recipe, torch alone
    imports   ``python -c "import torch, torchvision, lightning, hydra"``: the libraries' own RSS

    whole mlplab/raw = median over repeats r of seconds_r(mlplab) / seconds_r(raw), with its interval
    RSS delta MB     = median peak RSS(mlplab) - median peak RSS(imports): what mlplab adds
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import IMPORTS_ONLY, WHOLE_EPOCHS
from benchmarks.report import paired, summarize

REPO = Path(__file__).resolve().parents[1]


def child_environment() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH: the children run in temporary
    folders, where ``python -m benchmarks.…`` would not find this package otherwise."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def timed_child(command: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``command`` to its end under ``benchmarks.measure``; its wall seconds and its own peak
    RSS in MB."""
    log, measured = cwd / "child.log", cwd / "child.json"
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-m", "benchmarks.measure", str(measured), *command], cwd=cwd,
                       env=child_environment(), stdout=out, stderr=subprocess.STDOUT, check=False)
    result = json.loads(measured.read_text()) if measured.is_file() else {"exit_code": "unknown"}
    if result["exit_code"] != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"error: {' '.join(command)} exited with {result['exit_code']}:\n{tail}")
    return result["seconds"], result["peak_rss_kib"] / 1024  # ru_maxrss is in KiB on Linux


def whole_commands(data_dir: Path, device: torch.device, run_dir: Path) -> dict[str, list[str]]:
    """The three processes of (d)/(e): mlplab-train, the raw script, imports only."""
    train_bin = Path(sys.executable).parent / "mlplab-train"
    if not train_bin.is_file():
        raise SystemExit(f"error: {train_bin} not found; install mlplab (`make setup`)")
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    return {
        "mlplab": [str(train_bin), "experiment=d2l_mlp_scratch", f"hydra.run.dir={run_dir}",
                   f"data.data_dir={data_dir}", f"trainer.accelerator={accelerator}"],
        "raw": [sys.executable, "-m", "benchmarks.raw", str(WHOLE_EPOCHS),
                "--data-dir", str(data_dir), "--device", device.type],
        "imports": [sys.executable, "-c", IMPORTS_ONLY],
    }


def summarized(runs: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Each process's runs, with their median, min and max."""
    return {name: {"runs": values, **summarize(values)} for name, values in runs.items()}


def run_whole(data_dir: Path, device: torch.device, repeats: int) -> dict[str, Any]:
    """(d) and (e): each process ``repeats`` times, interleaved; wall seconds, peak RSS, and the
    two numbers the goals check."""
    seconds: dict[str, list[float]] = {"mlplab": [], "raw": [], "imports": []}
    rss: dict[str, list[float]] = {"mlplab": [], "raw": [], "imports": []}
    for _ in range(repeats):
        for name in seconds:
            with tempfile.TemporaryDirectory(prefix="mlplab-bench-") as tmp:
                commands = whole_commands(data_dir, device, Path(tmp) / "run")
                wall, peak = timed_child(commands[name], Path(tmp))
            seconds[name].append(wall)
            rss[name].append(peak)
    times, peaks = summarized(seconds), summarized(rss)
    return {"epochs": WHOLE_EPOCHS, "commands": whole_commands(data_dir, device, Path("<tmp>/run")),
            "seconds": times, "rss_mb": peaks,
            "ratio": paired(seconds["mlplab"], seconds["raw"]),
            "rss_delta_mb": peaks["mlplab"]["median"] - peaks["imports"]["median"]}
