"""``make reproduce``: run every row of the README's chapter table and best-MLP table, write what
each printed to ``docs/results.json`` (value, command, seed, machine, date) and the README's cells
from it, so that the README cannot drift from what the commands print.

    python scripts/reproduce.py                 every row (about 35 minutes on 2 cores)
    python scripts/reproduce.py 4.2 4.6.3       some rows; the others keep their recorded values
    python scripts/reproduce.py --list          the rows and their commands
    python scripts/reproduce.py --this-machine  record this CPU's values (``machines`` in the file)
    python scripts/reproduce.py --this-machine --threads 1 …   the same on one CPU, as ``make test``
                                                runs them (one pytest-xdist worker per CPU)
                                                for the strict test; the README is left alone

Each row's record keeps its jobs: the hyperparameters that tell them apart (seed, λ, p, style,
features…) with the metrics each printed, so a reader can check every README value against the
job that made it (``tests/unit/test_readme_results.py`` does, with its own parser). Values are
read from jobs chosen by those hyperparameters, never by their position in a sweep.

Each row is a command as the README shows it; it runs as that command (its outputs under
``logs/reproduce/<row>/``), and its cells are rendered from the values by the row's template.
The cheap rows run again inside ``make test`` (``tests/e2e/test_reproduce.py``): to 1e-4 on a
machine recorded under ``machines`` (keyed by CPU, its instruction set and torch: ``machine()``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlplab.files import write_text

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results.json"
README = REPO / "README.md"
Outputs = dict[str, list[dict[str, Any]]]  # run name → its jobs' metrics.json
# The hyperparameters that tell a row's jobs apart, recorded with each job (dotted config paths).
HYPERPARAMETERS = ("seed", "data.num_features", "regularizer.weight_decay", "regularizer.dropout",
                   "regularizer.dropout_style", "regularizer.label_smoothing", "model.net._target_",
                   "model.net.hidden", "model.net.init_std", "data.augment", "data.val_size",
                   "optimizer._target_", "trainer.max_epochs", "test_ckpt")
Launch = Callable[[list[str], Path], None]  # (mlplab-train arguments, cwd) → raises if it failed


@dataclass(frozen=True)
class Row:
    """One README table row: the command shown (and ``also``, those shown after it in the same
    cell), the runs behind them (name → mlplab-train arguments; ``-m`` first for a sweep), how to
    read its values, and the cells they fill."""

    table: str  # "chapter" or "best_mlp"
    id: str
    command: str
    runs: dict[str, list[str]]
    values: Callable[[Outputs], dict[str, float]]
    cells: Callable[[dict[str, float]], list[str]]
    seed: int = 42
    cheap: bool = False  # runs again inside `make test`
    shown: str = ""  # what the README's command cell shows in backticks, when not the command
    also: tuple[str, ...] = ()

    @property
    def in_readme(self) -> str:
        return " then ".join(f"`{command}`" for command in (self.shown or self.command, *self.also))


def metric(job: dict[str, Any], name: str) -> float:
    return float(job["metrics"][name])


def hyperparameter(job: dict[str, Any], path: str) -> Any:
    """A dotted config path of the job's recorded hparams (None when the config has no such key)."""
    value: Any = job["hparams"]
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def pick(jobs: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    """The one job whose hyperparameters are ``where`` (``data__num_features=2`` for
    ``data.num_features``)."""
    wanted = {key.replace("__", "."): value for key, value in where.items()}
    found = [job for job in jobs if all(hyperparameter(job, k) == v for k, v in wanted.items())]
    if len(found) != 1:
        raise LookupError(f"{len(found)} jobs have {wanted}, expected one")
    return found[0]


def loss(value: float) -> str:
    """Losses as the 4.4 row prints them: two decimals from 1 up, four below."""
    return f"{value:.2f}" if value >= 1 else f"{value:.4f}"


def only(command: str) -> dict[str, list[str]]:
    return {"run": shlex.split(command)[1:]}


def test_acc_row(id: str, command: str) -> Row:
    return Row("chapter", id, command, only(command), lambda o: {"acc": metric(o["run"][0], "test/acc")},
               lambda v: [f"test/acc **{v['acc']:.4f}**"], cheap=True)


DROPOUT = "mlplab-train experiment=d2l_dropout"
SEEDS = (42, 43, 44)


def dropout_styles(outputs: Outputs) -> dict[str, float]:
    values = {f"{style}{seed}": metric(outputs[f"{style}{seed}"][0], "test/acc")
              for style in ("classic", "inverted") for seed in SEEDS}
    for style in ("classic", "inverted"):
        values[f"{style}_mean"] = statistics.mean(values[f"{style}{seed}"] for seed in SEEDS)
    return values


def dropout_cells(v: dict[str, float]) -> list[str]:
    def runs(style: str) -> str:
        return ", ".join(f"{v[f'{style}{s}']:.4f}" for s in SEEDS) + f" (mean {v[f'{style}_mean']:.4f})"

    seeds = ", ".join(str(s) for s in SEEDS)
    return [f"test/acc **{v['classic42']:.4f}**; seeds {seeds}: {runs('classic')} "
            f"against inverted {runs('inverted')}"]


def polynomial(outputs: Outputs) -> dict[str, float]:
    jobs = {n: pick([*outputs["run"], *outputs["many"]], data__num_features=n) for n in (2, 4, 20)}
    return {f"{kind}{n}": metric(job, f"{kind}/loss")
            for n, job in jobs.items() for kind in ("train", "test")}


def polynomial_cells(v: dict[str, float]) -> list[str]:
    return [f"train/test loss: 2 features {loss(v['train2'])}/{loss(v['test2'])} (underfit), "
            f"4 features {loss(v['train4'])}/{loss(v['test4'])}, "
            f"20 features {loss(v['train20'])}/{loss(v['test20'])}"]


def norms(outputs: Outputs) -> dict[str, float]:
    free, decayed = (pick(outputs["run"], regularizer__weight_decay=wd) for wd in (0, 3))
    return {"free": metric(free, "weights/l2_norm"), "decayed": metric(decayed, "weights/l2_norm")}


def overfit(outputs: Outputs) -> dict[str, float]:
    plain, dropout, decay = (pick(outputs["run"], regularizer__weight_decay=wd, regularizer__dropout=p)
                             for wd, p in ((0, 0), (0, 0.5), (1e-3, 0)))
    return {"train_plain": metric(plain, "train/acc"), "val_plain": plain["monitor"]["best"],
            "train_dropout": metric(dropout, "train/acc"), "norm_plain": metric(plain, "weights/l2_norm"),
            "norm_decay": metric(decay, "weights/l2_norm"), "val_decay": decay["monitor"]["best"],
            "test_decay": metric(decay, "test/acc")}


def overfit_cells(v: dict[str, float]) -> list[str]:
    return [f"no regulariser: train acc {v['train_plain']:.3f} vs best val/acc {v['val_plain']:.3f}; "
            f"dropout 0.5: train acc {v['train_dropout']:.3f}; λ = 1e-3: ‖w‖ {v['norm_decay']:.1f} "
            f"instead of {v['norm_plain']:.1f} and the best val/acc, {v['val_decay']:.3f} "
            f"(its test/acc: {v['test_decay']:.3f})"]


POLYNOMIAL = "mlplab-train -m experiment=d2l_polynomial data.num_features=2,4"
POLYNOMIAL_20 = "mlplab-train experiment=d2l_polynomial data.num_features=20 trainer.max_epochs=1500"
WEIGHT_DECAY = "mlplab-train -m experiment=d2l_weight_decay regularizer.weight_decay=0,3"
OVERFIT = ("mlplab-train -m experiment=fashion_overfit regularizer.weight_decay=0,1e-3 "
           "regularizer.dropout=0,0.5")
CHAPTER = [
    test_acc_row("4.2", "mlplab-train experiment=d2l_mlp_scratch"),
    test_acc_row("4.3", "mlplab-train experiment=d2l_mlp_concise"),
    # 4.4 without a checkpoint or event file per epoch: 2300 epochs of writing would be most of the time
    Row("chapter", "4.4", POLYNOMIAL, {name: [*only(command)["run"], "callbacks=none", "logger=none"]
                                       for name, command in (("run", POLYNOMIAL), ("many", POLYNOMIAL_20))},
        polynomial, polynomial_cells, cheap=True, also=(POLYNOMIAL_20,)),
    Row("chapter", "4.5", WEIGHT_DECAY, only(WEIGHT_DECAY), norms,
        lambda v: [f"‖w‖ **{v['free']:.2f}** (λ=0) vs **{v['decayed']:.3f}** (λ=3)"], cheap=True),
    test_acc_row("4.6 scratch", DROPOUT),
    test_acc_row("4.6 concise", f"{DROPOUT} model=concise"),
    Row("chapter", "4.6.3", f"{DROPOUT} regularizer.dropout_style=classic",
        {f"{style}{seed}": ["experiment=d2l_dropout", f"regularizer.dropout_style={style}", f"seed={seed}"]
         for style in ("classic", "inverted") for seed in SEEDS},
        dropout_styles, dropout_cells, cheap=True),
    Row("chapter", "overfit", OVERFIT, only(OVERFIT), overfit, overfit_cells),
]


def recipe(id: str, command: str, shown: str = "", bold: bool = False) -> Row:
    """A row of the best-MLP table: best val/acc, test/acc, train acc and seconds of one run."""
    def values(outputs: Outputs) -> dict[str, float]:
        job = outputs["run"][0]
        return {"val": job["monitor"]["best"], "test": metric(job, "test/acc"),
                "train": metric(job, "train/acc"), "seconds": float(job["seconds"])}

    def cells(v: dict[str, float]) -> list[str]:
        accs = [f"{v['val']:.4f}", f"{v['test']:.4f}"]
        return [*(f"**{a}**" if bold else a for a in accs), f"{v['train']:.3f}", f"{v['seconds']:.0f} s"]

    return Row("best_mlp", id, command, only(command), values, cells, shown=shown)


WIDE = "mlplab-train model=concise model.net.hidden=[1024,1024] model.net.init_std=0.05 trainer.max_epochs=30"
BEST_MLP = [
    recipe("d2l", "mlplab-train experiment=d2l_mlp_scratch data.val_size=5000 test_ckpt=best"),
    recipe("wide", WIDE),
    recipe("dropout", f"{WIDE} regularizer=dropout regularizer.dropout=0.12",
           "regularizer=dropout regularizer.dropout=0.12"),  # shown after "…" (the row above)
    recipe("decay", f"{WIDE} regularizer=both regularizer.dropout=0.12 regularizer.weight_decay=5e-4",
           "regularizer=both regularizer.dropout=0.12 regularizer.weight_decay=5e-4"),
    recipe("adamw", "mlplab-train experiment=best_mlp regularizer.label_smoothing=0"),
    recipe("best_mlp", "mlplab-train experiment=best_mlp", bold=True),
    recipe("augment", "mlplab-train experiment=best_mlp data.augment=true"),
]
ROWS = {row.id: row for row in [*CHAPTER, *BEST_MLP]}


# ---- running ----------------------------------------------------------------------------------

def launch_process(arguments: list[str], cwd: Path) -> None:
    """``mlplab-train <arguments>`` as its own process, as a user types it."""
    command = [str(Path(sys.executable).parent / "mlplab-train"), *arguments]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def run_row(row: Row, folder: Path, launch: Launch = launch_process) -> tuple[dict[str, float], list[dict]]:
    """Run every command of ``row`` with its outputs under ``folder``; its values and its jobs."""
    outputs: Outputs = {}
    for name, arguments in row.runs.items():
        out = folder / name
        # the row's own scratch folder: a run of it again starts over (an earlier sweep's jobs would
        # be taken as done, an earlier single run refused); results.json keeps what it printed
        shutil.rmtree(out, ignore_errors=True)
        sweep = arguments[:1] == ["-m"]
        launch([*arguments, f"hydra.{'sweep' if sweep else 'run'}.dir={out}"], REPO)
        jobs = [out] if not sweep else sorted((p for p in out.iterdir() if p.name.isdecimal()),
                                              key=lambda p: int(p.name))
        outputs[name] = [json.loads((job / "metrics.json").read_text()) for job in jobs]
    return row.values(outputs), [job_record(name, job) for name, jobs in outputs.items() for job in jobs]


def job_record(run: str, job: dict[str, Any]) -> dict[str, Any]:
    """What results.json keeps of one job: its run, the hyperparameters that tell it apart, what it
    printed (final metrics, the monitor's best and its value at each epoch) and its seconds."""
    hparams = {path: hyperparameter(job, path) for path in HYPERPARAMETERS}
    monitor = job["monitor"]  # None without a checkpoint callback (callbacks=none)
    if monitor is not None:
        monitor = {**monitor, "history": [epoch[monitor["name"]] for epoch in job["history"]
                                          if monitor["name"] in epoch]}
    return {"run": run, "hparams": {k: v for k, v in hparams.items() if v is not None},
            "metrics": job["metrics"], "seconds": job["seconds"], "monitor": monitor}


def machine() -> str:
    """What decides the last digits of a seed-fixed run: the CPU's name, the instruction set
    torch's CPU kernels use (two EPYCs, one with AVX2 and one with AVX-512, round differently), the
    torch build and torch's thread count (matrix products split their work by threads: on the
    EPYCs the concise rows print other digits on one thread than on two, on the Xeon 4.2 and the
    scratch rows too: 4.6 scratch 0.8612 against 0.8648).

    Intel's virtual machines name every Xeon alike ("Intel(R) Xeon(R) Processor"), and MKL picks its
    float32 kernels by the Xeon's generation and by what it shows: an Intel CPU is named with its
    family and model too, and one that shows AMX tiles is a kind of its own (``AVX512_AMX``), so no
    record of another kind is taken for its strict one."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    field = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in reversed(lines)
             if ":" in line}  # the first processor's
    flags = field.get("flags", "").split()
    cpu = field.get("model name") or platform.processor()
    if field.get("vendor_id") == "GenuineIntel":
        cpu += f" family {field.get('cpu family')} model {field.get('model')}"
    instructions = torch.backends.cpu.get_cpu_capability() + ("_AMX" if "amx_tile" in flags else "")
    threads = torch.get_num_threads()
    return f"{cpu} ({instructions}), torch {torch.__version__}, {threads} thread{'s' if threads > 1 else ''}"


def record(row: Row, values: dict[str, float], jobs: list[dict]) -> dict[str, Any]:
    entry = {"table": row.table, "id": row.id, "command": row.command, "seed": row.seed, "values": values,
             "cells": row.cells(values), "jobs": jobs, "machine": machine(),
             "date": datetime.date.today().isoformat()}
    return {**entry, "also": list(row.also)} if row.also else entry


# ---- the README -------------------------------------------------------------------------------

def table_rows(readme: str, table: str) -> list[list[str]]:
    """The body rows of one README table, as lists of cells: the chapter table (under "The
    chapter, section by section") or the best-MLP table (under "How far an MLP goes")."""
    heading = {"chapter": "## The chapter, section by section", "best_mlp": "## How far an MLP goes"}[table]
    lines = readme[readme.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|---"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        body.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return body


def result_columns(table: str) -> slice:
    """Which cells of a table row are results: the chapter's third ("what it prints here"), the
    best-MLP table's best val/acc, test/acc, train acc and time."""
    return slice(2, 3) if table == "chapter" else slice(2, 6)


def readme_row(body: list[list[str]], row: Row) -> int:
    """The index of ``row`` in its table: the row whose command cell shows its command."""
    for i, cells in enumerate(body):
        if row.in_readme in cells[1]:
            return i
    raise KeyError(f"no README row shows {row.in_readme}")


def write_readme(results: dict[str, Any]) -> None:
    readme = README.read_text()
    for entry in results["rows"].values():
        row = ROWS[entry["id"]]
        body = table_rows(readme, row.table)
        cells = body[readme_row(body, row)]
        old = "| " + " | ".join(cells) + " |"
        cells[result_columns(row.table)] = entry["cells"]
        readme = readme.replace(old, "| " + " | ".join(cells) + " |")
    write_text(README, readme)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", help=f"row ids (default: all): {', '.join(ROWS)}")
    parser.add_argument("--list", action="store_true", help="print the rows and their commands")
    parser.add_argument("--this-machine", action="store_true",
                        help="record the values under this machine only; the README's rows stay")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="run on the first N CPUs only (the runs inherit it; torch uses N threads)")
    args = parser.parse_args(argv)
    if args.threads:  # every run this starts inherits the CPUs; machine() then names N threads
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
        torch.set_num_threads(args.threads)
    if args.list:
        for row in ROWS.values():
            print(f"{row.table:9} {row.id:12} {'; '.join((row.command, *row.also))}")
        return
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        parser.error(f"no row {', '.join(unknown)}; the rows: {', '.join(ROWS)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("rows", {})
    here = results.setdefault("machines", {}).setdefault(machine(), {})
    for row_id in args.rows or list(ROWS):
        row = ROWS[row_id]
        print(f"{row.id}: {'; '.join((row.command, *row.also))}", flush=True)
        values, jobs = run_row(row, REPO / "logs" / "reproduce" / row.id)
        here[row.id] = values
        if not args.this_machine:
            results["rows"][row.id] = record(row, values, jobs)
        print("   " + " | ".join(row.cells(values)), flush=True)
        results["rows"] = {r: results["rows"][r] for r in ROWS if r in results["rows"]}  # table order
        write_text(RESULTS, json.dumps(results, indent=2, ensure_ascii=False) + "\n")  # after each row
    if args.this_machine:
        print(f"wrote this machine's values ({machine()}) to {RESULTS.relative_to(REPO)}")
        return
    write_readme(results)
    print(f"wrote {RESULTS.relative_to(REPO)} and the README's tables")


if __name__ == "__main__":
    main()
