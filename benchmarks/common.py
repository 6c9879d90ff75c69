"""What every pipeline shares: the recipe's constants, the model and its init, the clock, the test
accuracy, minibatches sliced from tensors in memory and the IDX splits.

Imports torch and mlplab's torch-only modules, no Lightning, Hydra or torchvision: the raw script
of (d) (``benchmarks.raw``) loads this module, and its process must hold torch alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from mlplab.data.idx import FILES, read_idx
from mlplab.nets.scratch import ScratchMLP
from mlplab.runtime.precision import why_bf16_is_slow

BATCH_SIZE, LR, D2L_WORKERS = 256, 0.1, 4  # d2l 4.2; 4 = d2l's get_dataloader_workers()
WHOLE_EPOCHS = 10  # epochs of each whole process in (d)
IMPORTS_ONLY = "import torch, torchvision, lightning, hydra"  # the baseline process of (e)

Batches = Iterable[tuple[Tensor, Tensor]]
Split = tuple[Tensor, Tensor]  # uint8 images [N, 28, 28], int64 labels [N]


def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``; a clear exit when CUDA is asked for but not usable."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"error: --device cuda, but CUDA is not available to torch {torch.__version__} "
                         f"(built for CUDA {torch.version.cuda}); run with --device cpu")
    return torch.device(name)


def bf16_skipped(device: torch.device) -> str | None:
    """Why the bf16 rows are left out on ``device``: a CPU without bf16 instructions, where they
    would take most of the benchmark's time to show what is already known
    (``mlplab.runtime.precision``); None where they are timed."""
    return why_bf16_is_slow() if device.type == "cpu" else None


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work, not the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the device has finished what was queued on it."""
    synchronize(device)
    return time.perf_counter()


def timed_epochs(device: torch.device, epochs: int, epoch: Callable[[], float]) -> tuple[list[float], float]:
    """Run ``epoch`` (train pass + test pass, returns the test accuracy) ``epochs`` times;
    the wall seconds of each run and the last accuracy."""
    seconds, accuracy = [], 0.0
    for _ in range(epochs):
        start = clock(device)
        accuracy = epoch()
        seconds.append(clock(device) - start)
    return seconds, accuracy


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


def slices(images: Tensor, labels: Tensor, order: Tensor | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches of ``BATCH_SIZE`` in ``order`` (or as stored), scaled on the fly: x = image / 255."""
    for start in range(0, len(images), BATCH_SIZE):
        if order is None:
            x, y = images[start : start + BATCH_SIZE], labels[start : start + BATCH_SIZE]
        else:
            idx = order[start : start + BATCH_SIZE]
            x, y = images[idx], labels[idx]
        yield x.float() / 255, y


def raw_files(data_dir: Path) -> Path:
    """``<data_dir>/FashionMNIST/raw`` (torchvision's layout, also mlplab's), checked once."""
    raw = data_dir / "FashionMNIST" / "raw"
    missing = [n for pair in FILES.values() for n in pair if not (raw / n).is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found under {raw}; run `make data` "
                         f"or pass --data-dir <folder holding FashionMNIST/raw>")
    return raw


def load_split(data_dir: Path, split: str, device: torch.device) -> Split:
    """uint8 images ``[N, 28, 28]`` and int64 labels of one split (``train``, ``test``), on ``device``."""
    images, labels = (read_idx(raw_files(data_dir) / name) for name in FILES[split])
    return images.to(device), labels.long().to(device)
