"""(b) raw: d2l 4.2 as a plain PyTorch loop over uint8 tensors held in memory: each epoch a
``randperm`` of the 60k training images cut into slices of 256, x = image / 255, then the test
accuracy; the floor the other pipelines are measured against.

    python -m benchmarks.raw EPOCHS --data-dir D --device cpu --seed 42

is the raw side of the whole-process timing (d): a fresh interpreter that reads the IDX files,
trains EPOCHS epochs and scores the test set. It imports torch and ``benchmarks.common`` only, so
that process holds no Lightning, Hydra or torchvision.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import (
    LR,
    Split,
    evaluate_accuracy,
    init_checksum,
    load_split,
    new_model,
    pick_device,
    slices,
    timed_epochs,
)


def raw_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, train: Split,
              generator: torch.Generator, bf16: bool = False) -> tuple[float, float]:
    """One shuffled pass; loss and accuracy stay on the device until the epoch ends. ``bf16``:
    the forward pass under bf16 autocast, as Lightning's ``precision=bf16-mixed`` runs it."""
    model.train()
    images, labels = train
    order = torch.randperm(len(images), generator=generator, device=images.device)
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    for x, y in slices(images, labels, order):
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            output = model(x)
            loss = F.cross_entropy(output, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(y)
        correct += (output.argmax(dim=1) == y).sum()
    return float(loss_sum) / len(images), int(correct) / len(images)


def fit_raw(train: Split, test: Split, device: torch.device, epochs: int,
            seed: int, bf16: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """``epochs`` × (train epoch + test accuracy) on tensors already in memory, each timed."""
    model = new_model(seed, device)
    checksum = init_checksum(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    generator = torch.Generator(device=device).manual_seed(seed)

    def epoch() -> float:
        raw_epoch(model, optimizer, train, generator, bf16)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return evaluate_accuracy(model, slices(*test))

    seconds, accuracy = timed_epochs(device, epochs, epoch)
    return model, {"epoch_seconds": seconds, "test_acc": accuracy, "init_checksum": checksum}


def run_raw(data_dir: Path, device: torch.device, epochs: int, seed: int,
            bf16: bool = False) -> dict[str, Any]:
    """(b): read the IDX files once (untimed, like the other pipelines' loading), then fit."""
    train, test = load_split(data_dir, "train", device), load_split(data_dir, "test", device)
    return fit_raw(train, test, device, epochs, seed, bf16)[1]


def main(argv: list[str] | None = None) -> None:
    """The raw script of (d): train, then print the test accuracy and the training time."""
    parser = argparse.ArgumentParser(description="(b) the raw in-memory loop, as a script of its own")
    parser.add_argument("epochs", type=int, metavar="EPOCHS")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="holds FashionMNIST/raw")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    device, data_dir = pick_device(args.device), args.data_dir.resolve()
    train, test = load_split(data_dir, "train", device), load_split(data_dir, "test", device)
    model, result = fit_raw(train, test, device, args.epochs, args.seed)
    print(f"raw: {args.epochs} epochs, test acc {evaluate_accuracy(model, slices(*test)):.4f}, "
          f"{sum(result['epoch_seconds']):.1f} s training")


if __name__ == "__main__":
    main()
