"""How fast mlplab trains d2l 4.2, next to the d2l pipeline and a raw in-memory PyTorch loop.

One recipe everywhere: ScratchMLP 784-256-10, ReLU, SGD lr 0.1, batch 256, the same seeded init;
an "epoch" is one pass over the 60k training images plus one accuracy pass over the 10k test
images, as d2l's ``train_ch3`` does (mlplab: ``experiment=d2l_mlp_scratch``, validated on test).

    (a) d2l     torchvision FashionMNIST + ToTensor + DataLoader(4 workers) + d2l's loop
    (b) raw     uint8 tensors in memory, randperm + slicing, x.float() / 255
    (c) mlplab  Hydra compose → mlplab.train.build → trainer.fit, every callback and logger on
    (d) whole   ``mlplab-train`` for 10 epochs vs this file as a raw script, each a fresh process
    (e) RSS     peak RSS of that ``mlplab-train`` vs a process that only imports the libraries

    python scripts/benchmark.py [--device cpu|cuda] [--repeats 3] [--epochs 3] [--out benchmark.json]
                                [--data-dir data] [--skip-whole]

Lightning, Hydra and torchvision are imported inside the functions that use them, so that this
file run as ``--raw-script N`` (the raw side of (d)) is a process that loads only torch.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlplab.data.idx import read_idx  # torch only: no Lightning in the raw script
from mlplab.models.scratch import ScratchMLP

BATCH_SIZE, LR, D2L_WORKERS = 256, 0.1, 4  # d2l 4.2; 4 = d2l's get_dataloader_workers()
WHOLE_EPOCHS = 10
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMPORTS_ONLY = "import torch, torchvision, lightning, hydra"
# (name, comparison, limit): the targets this benchmark checks
GOALS = (("mlplab/raw", "<=", 1.25), ("d2l/mlplab", ">=", 8.0),
         ("whole mlplab/raw", "<=", 2.0), ("RSS delta MB", "<=", 300.0))

Batches = Iterable[tuple[Tensor, Tensor]]
# Starts one command, reaps it with os.wait4 and writes {seconds, exit_code, peak_rss_kib} to
# argv[1]. Linux carries the larger of the old and the new peak RSS through fork + exec, so a
# child started by the benchmark itself (a process holding torch and the data sets) would report
# the benchmark's peak, not its own; started from this small interpreter, it reports its own.
LAUNCHER = """\
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": time.perf_counter() - start, "exit_code": child.returncode,
               "peak_rss_kib": usage.ru_maxrss}, out)
"""


# ---------------------------------------------------------------- pure helpers (unit-tested)

def summarize(values: list[float]) -> dict[str, float]:
    """Median, min and max of a list of timings."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either side was not measured."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def check_goal(name: str, value: float | None, op: str, limit: float) -> dict[str, Any]:
    """One goal: PASS or FAIL when ``value`` was measured, SKIP when it was not (None)."""
    if value is None:
        status = "SKIP"
    else:
        status = "PASS" if (value <= limit if op == "<=" else value >= limit) else "FAIL"
    return {"name": name, "value": value, "op": op, "limit": limit, "status": status}


def flatten(runs: list[list[float]]) -> list[float]:
    """Every epoch of every repeat, in order."""
    return [t for run in runs for t in run]


# ---------------------------------------------------------------- shared pieces

def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work, not the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def new_model(seed: int, device: torch.device) -> ScratchMLP:
    """d2l 4.2's MLP from the seed alone: the init MLPModule gets after ``seed_everything(seed)``."""
    torch.manual_seed(seed)
    return ScratchMLP(num_inputs=784, hidden=[256], num_outputs=10, activation="relu").to(device)


def init_checksum(model: nn.Module) -> float:
    """Sum of |θ| over the parameters: equal across pipelines iff they start from the same init."""
    return float(sum(p.detach().abs().sum().double() for p in model.parameters()))


@torch.no_grad()
def evaluate_accuracy(net: nn.Module, batches: Batches) -> float:
    """d2l's ``evaluate_accuracy``: the fraction of argmax predictions equal to the label."""
    net.eval()
    correct, seen = 0, 0
    for x, y in batches:
        correct += int((net(x).argmax(dim=1) == y).sum())
        seen += len(y)
    return correct / seen


def raw_files(data_dir: Path) -> Path:
    """``<data_dir>/FashionMNIST/raw`` (torchvision's layout, also mlplab's), checked once."""
    raw = data_dir / "FashionMNIST" / "raw"
    missing = [n for pair in IDX_FILES.values() for n in pair if not (raw / n).is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found under {raw}; run `make data` "
                         f"or pass --data-dir <folder holding FashionMNIST/raw>")
    return raw


def load_split(data_dir: Path, split: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """uint8 images ``[N, 28, 28]`` and int64 labels of one split, on ``device``."""
    images, labels = (read_idx(raw_files(data_dir) / name) for name in IDX_FILES[split])
    return images.to(device), labels.long().to(device)


# ---------------------------------------------------------------- (b) raw in-memory loop

def slices(images: Tensor, labels: Tensor, order: Tensor | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches of ``BATCH_SIZE`` in ``order`` (or as stored), scaled on the fly: x = image / 255."""
    for start in range(0, len(images), BATCH_SIZE):
        if order is None:
            x, y = images[start : start + BATCH_SIZE], labels[start : start + BATCH_SIZE]
        else:
            idx = order[start : start + BATCH_SIZE]
            x, y = images[idx], labels[idx]
        yield x.float() / 255, y


def raw_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, train: tuple[Tensor, Tensor],
              generator: torch.Generator) -> tuple[float, float]:
    """One shuffled pass; loss and accuracy stay on the device until the epoch ends."""
    model.train()
    images, labels = train
    order = torch.randperm(len(images), generator=generator, device=images.device)
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    for x, y in slices(images, labels, order):
        output = model(x)
        loss = F.cross_entropy(output, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(y)
        correct += (output.argmax(dim=1) == y).sum()
    return float(loss_sum) / len(images), int(correct) / len(images)


def fit_raw(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], device: torch.device,
            epochs: int, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """``epochs`` × (train epoch + test accuracy) on tensors already in memory, each timed."""
    model = new_model(seed, device)
    checksum = init_checksum(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    generator = torch.Generator(device=device).manual_seed(seed)
    seconds, accs = [], []
    for _ in range(epochs):
        synchronize(device)
        start = time.perf_counter()
        raw_epoch(model, optimizer, train, generator)
        accs.append(evaluate_accuracy(model, slices(*test)))
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return model, {"epoch_seconds": seconds, "test_acc": accs[-1], "init_checksum": checksum}


def run_raw(data_dir: Path, device: torch.device, epochs: int, seed: int) -> dict[str, Any]:
    """(b): read the IDX files once (untimed, like the other pipelines' loading), then fit."""
    train, test = load_split(data_dir, "train", device), load_split(data_dir, "test", device)
    return fit_raw(train, test, device, epochs, seed)[1]


# ---------------------------------------------------------------- (a) the d2l pipeline

def on_device(loader: Batches, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """``X.to(device), y.to(device)`` per batch, as d2l does on a GPU (a no-op on the CPU)."""
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def d2l_loaders(data_dir: Path, device: torch.device) -> tuple[Any, Any]:
    """d2l's ``load_data_fashion_mnist(256)``: torchvision datasets + ToTensor, 4 workers each."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    pin = device.type == "cuda"
    loaders = []
    for train in (True, False):
        dataset = datasets.FashionMNIST(root=str(data_dir), train=train, download=False,
                                        transform=transforms.ToTensor())
        loaders.append(DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=train,
                                  num_workers=D2L_WORKERS, pin_memory=pin))
    return loaders[0], loaders[1]


def d2l_train_epoch(net: nn.Module, batches: Batches, updater: torch.optim.Optimizer) -> tuple[float, float]:
    """d2l's ``train_epoch_ch3``: per-sample losses, mean for the step, sums read back every batch."""
    loss = nn.CrossEntropyLoss(reduction="none")
    net.train()
    loss_sum, correct, seen = 0.0, 0.0, 0
    for x, y in batches:
        y_hat = net(x)
        losses = loss(y_hat, y)
        updater.zero_grad()
        losses.mean().backward()
        updater.step()
        loss_sum += float(losses.detach().sum())
        correct += float((y_hat.argmax(dim=1) == y).sum())
        seen += y.numel()
    return loss_sum / seen, correct / seen


def run_d2l(data_dir: Path, device: torch.device, epochs: int, seed: int) -> dict[str, Any]:
    """(a): d2l's ``train_ch3``, each epoch = train epoch + test accuracy, timed."""
    torch.manual_seed(seed)  # the shuffle order; new_model seeds the init again
    train_iter, test_iter = d2l_loaders(data_dir, device)
    net = new_model(seed, device)
    checksum = init_checksum(net)
    updater = torch.optim.SGD(net.parameters(), lr=LR)
    seconds, accs = [], []
    for _ in range(epochs):
        synchronize(device)
        start = time.perf_counter()
        d2l_train_epoch(net, on_device(train_iter, device), updater)
        accs.append(evaluate_accuracy(net, on_device(test_iter, device)))
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return {"epoch_seconds": seconds, "test_acc": accs[-1], "init_checksum": checksum}


# ---------------------------------------------------------------- (c) mlplab through Lightning

def epoch_timer(device: torch.device) -> Any:
    """A Lightning callback that stamps each training epoch (built here: Lightning loads lazily).

    In Lightning 2.x the validation loop runs at the end of the training epoch, *before*
    ``on_train_epoch_end``, so on_train_epoch_start → on_train_epoch_end covers train + val.
    It does not cover what runs after a plain callback's ``on_train_epoch_end``: the module's own
    ``on_train_epoch_end`` (epoch metrics, weight norm), the ModelCheckpoint saves (monitoring
    callbacks go last) and the logger's epoch write. ``full_seconds`` includes those: it runs from
    one epoch's start to the next one's (the last epoch: to ``on_train_end``).
    """
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.starts: list[float] = []
            self.ends: list[float] = []
            self.train_end = 0.0

        def _now(self) -> float:
            synchronize(device)
            return time.perf_counter()

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.starts.append(self._now())

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self.ends.append(self._now())

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            self.train_end = self._now()

        def seconds(self) -> list[float]:
            return [end - start for start, end in zip(self.starts, self.ends, strict=True)]

        def full_seconds(self) -> list[float]:
            return [end - start for start, end in zip(self.starts, [*self.starts[1:], self.train_end],
                                                      strict=True)]

    return EpochTimer()


def compose_mlplab(data_dir: Path, out_dir: Path, epochs: int, device: torch.device, seed: int,
                   extra: tuple[str, ...] = ()) -> Any:
    """The config ``mlplab-train experiment=d2l_mlp_scratch`` runs, with our paths and epochs."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from mlplab.config import config_dir

    overrides = ["experiment=d2l_mlp_scratch", f"paths.output_dir={out_dir}",
                 f"trainer.max_epochs={epochs}", f"data.data_dir={data_dir}",
                 f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", f"seed={seed}", *extra]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    # As under @hydra.main: ${hydra:…} keys (e.g. the TensorBoard run name) read the global
    # HydraConfig, and the task's own config carries no `hydra` node.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def run_mlplab(data_dir: Path, device: torch.device, epochs: int, seed: int,
               extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """(c): ``build(cfg)`` + ``trainer.fit`` with mlplab's callbacks, TensorBoard and checkpoints;
    ``extra`` overrides, e.g. ``model.compile=true`` for (c')."""
    import lightning as L

    from mlplab.train import build

    with tempfile.TemporaryDirectory(prefix="mlplab-bench-") as tmp:
        cfg = compose_mlplab(data_dir, Path(tmp), epochs, device, seed, extra)
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # as mlplab.train.train does
        datamodule, module, trainer = build(cfg)
        timer = epoch_timer(device)
        trainer.callbacks.append(timer)
        checksum = init_checksum(module.net)
        trainer.fit(module, datamodule=datamodule)
        return {"epoch_seconds": timer.seconds(), "full_epoch_seconds": timer.full_seconds(),
                "test_acc": float(trainer.callback_metrics["val/acc"]), "init_checksum": checksum}


# ---------------------------------------------------------------- (d), (e) whole processes

def timed_child(command: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``command`` to its end under LAUNCHER; its wall seconds and its own peak RSS in MB."""
    log, measured = cwd / "child.log", cwd / "child.json"
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-c", LAUNCHER, str(measured), *command], cwd=cwd,
                       stdout=out, stderr=subprocess.STDOUT, check=False)
    result = json.loads(measured.read_text()) if measured.is_file() else {"exit_code": "unknown"}
    if result["exit_code"] != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"error: {' '.join(command)} exited with {result['exit_code']}:\n{tail}")
    return result["seconds"], result["peak_rss_kib"] / 1024  # ru_maxrss is in KiB on Linux


def whole_commands(data_dir: Path, device: torch.device, run_dir: Path) -> dict[str, list[str]]:
    """The three processes of (d)/(e): mlplab-train, this file as the raw script, imports only."""
    train_bin = Path(sys.executable).parent / "mlplab-train"
    if not train_bin.is_file():
        raise SystemExit(f"error: {train_bin} not found; install mlplab (`make setup`)")
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    return {
        "mlplab": [str(train_bin), "experiment=d2l_mlp_scratch", f"hydra.run.dir={run_dir}",
                   f"data.data_dir={data_dir}", f"trainer.accelerator={accelerator}"],
        "raw": [sys.executable, str(Path(__file__).resolve()), "--raw-script", str(WHOLE_EPOCHS),
                "--data-dir", str(data_dir), "--device", device.type],
        "imports": [sys.executable, "-c", IMPORTS_ONLY],
    }


def run_whole(data_dir: Path, device: torch.device, repeats: int) -> dict[str, Any]:
    """(d) and (e): each process ``repeats`` times, interleaved; wall seconds and peak RSS."""
    seconds: dict[str, list[float]] = {"mlplab": [], "raw": [], "imports": []}
    rss: dict[str, list[float]] = {"mlplab": [], "raw": [], "imports": []}
    for _ in range(repeats):
        for name in seconds:
            with tempfile.TemporaryDirectory(prefix="mlplab-bench-") as tmp:
                commands = whole_commands(data_dir, device, Path(tmp) / "run")
                wall, peak = timed_child(commands[name], Path(tmp))
            seconds[name].append(wall)
            rss[name].append(peak)
    return {"epochs": WHOLE_EPOCHS, "commands": whole_commands(data_dir, device, Path("<tmp>/run")),
            "seconds": {k: {"runs": v, **summarize(v)} for k, v in seconds.items()},
            "rss_mb": {k: {"runs": v, **summarize(v)} for k, v in rss.items()}}


# ---------------------------------------------------------------- the benchmark and its report

def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``; a clear exit when CUDA is asked for but not usable."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"error: --device cuda, but CUDA is not available to torch {torch.__version__} "
                         f"(built for CUDA {torch.version.cuda}); run with --device cpu")
    return torch.device(name)


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
    import lightning

    return {"python": platform.python_version(), "torch": torch.__version__,
            "lightning": lightning.__version__, "device": device.type, "device_name": device_name(device),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg()}


def run_pipelines(data_dir: Path, device: torch.device, repeats: int, epochs: int,
                  seed: int, compiled: bool = False) -> dict[str, dict[str, Any]]:
    """(a), (b), (c) [and (c')] interleaved per repeat, so machine noise falls on all alike."""
    pipelines: dict[str, Callable[..., dict[str, Any]]] = {
        "d2l": run_d2l, "raw": run_raw, "mlplab": run_mlplab}
    if compiled:
        pipelines["mlplab_compiled"] = functools.partial(run_mlplab, extra=("model.compile=true",))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pipelines}
    for _ in range(repeats):
        for name, run in pipelines.items():
            runs[name].append(run(data_dir, device, epochs, seed))
    results = {}
    for name, repeat_runs in runs.items():
        result = {key: [run[key] for run in repeat_runs] for key in repeat_runs[0]}
        results[name] = {**result, **summarize(flatten(result["epoch_seconds"]))}
    for name in results.keys() - {"d2l", "raw"}:
        results[name]["full_epoch"] = summarize(flatten(results[name]["full_epoch_seconds"]))
    return results


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of GOALS against this report's numbers."""
    whole = report.get("whole")
    values = {**report["ratios"],
              "whole mlplab/raw": whole and whole["ratio"],
              "RSS delta MB": whole and whole["rss_delta_mb"]}
    return [check_goal(name, values[name], op, limit) for name, op, limit in GOALS]


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the report holds: settings, environment, pipelines, ratios, whole runs, goals."""
    device, data_dir = pick_device(args.device), args.data_dir.resolve()
    raw_files(data_dir)
    start = time.perf_counter()
    report: dict[str, Any] = {
        "settings": {"repeats": args.repeats, "epochs": args.epochs, "seed": args.seed,
                     "data_dir": str(data_dir), "batch_size": BATCH_SIZE, "lr": LR,
                     "d2l_workers": D2L_WORKERS, "model": "ScratchMLP 784-256-10 relu"},
        "environment": environment(device)}
    pipelines = run_pipelines(data_dir, device, args.repeats, args.epochs, args.seed, args.compile)
    report["pipelines"] = pipelines
    checksums = {round(c, 9) for p in pipelines.values() for c in p["init_checksum"]}
    report["same_init"] = len(checksums) == 1
    report["ratios"] = {"mlplab/raw": ratio(pipelines["mlplab"]["median"], pipelines["raw"]["median"]),
                        "d2l/mlplab": ratio(pipelines["d2l"]["median"], pipelines["mlplab"]["median"])}
    if not args.skip_whole:
        whole = run_whole(data_dir, device, args.repeats)
        seconds, rss = whole["seconds"], whole["rss_mb"]
        whole["ratio"] = ratio(seconds["mlplab"]["median"], seconds["raw"]["median"])
        whole["rss_delta_mb"] = rss["mlplab"]["median"] - rss["imports"]["median"]
        report["whole"] = whole
    report["goals"] = goals(report)
    report["total_seconds"] = time.perf_counter() - start
    report["load_average_at_end"] = os.getloadavg()  # 1, 5, 15 min: other users' load on this machine
    return report


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
        row("(b) raw: in-memory loop", pipes["raw"], f"1.00         acc {acc['raw']:.3f}"),
        row("    mlplab epoch incl. epoch-end hooks, ckpt", pipes["mlplab"]["full_epoch"],
            f"{ratio(pipes['mlplab']['full_epoch']['median'], pipes['raw']['median']):.2f} x raw"),
    ]
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


def raw_script(args: argparse.Namespace) -> None:
    """The raw side of (d): read the IDX files, train ``args.raw_script`` epochs, score the test set."""
    device, data_dir = pick_device(args.device), args.data_dir.resolve()
    train, test = load_split(data_dir, "train", device), load_split(data_dir, "test", device)
    model, result = fit_raw(train, test, device, args.raw_script, args.seed)
    print(f"raw: {args.raw_script} epochs, test acc {evaluate_accuracy(model, slices(*test)):.4f}, "
          f"{sum(result['epoch_seconds']):.1f} s training")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each pipeline (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--out", type=Path, default=Path("benchmark.json"), help="the JSON report")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="holds FashionMNIST/raw")
    parser.add_argument("--compile", action="store_true",
                        help="also time (c') mlplab with model.compile=true (torch.compile)")
    parser.add_argument("--skip-whole", action="store_true", help="skip (d) and (e), the subprocesses")
    parser.add_argument("--seed", type=int, default=42, help="init and batch order (mlplab's default)")
    parser.add_argument("--raw-script", type=int, metavar="EPOCHS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.raw_script:
        raw_script(args)
        return
    report = benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
