"""(a) d2l: the book's own pipeline for 4.2, ``load_data_fashion_mnist(256)`` + ``train_ch3``:
torchvision's FashionMNIST with ``ToTensor`` (one PIL image per sample), ``DataLoader`` with 4
workers, per-sample losses and sums read back to the host every batch.

The only module that imports torchvision.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from benchmarks.common import (
    BATCH_SIZE,
    D2L_WORKERS,
    LR,
    Batches,
    evaluate_accuracy,
    init_checksum,
    new_model,
    timed_epochs,
)


def on_device(loader: Batches, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """``X.to(device), y.to(device)`` per batch, as d2l does on a GPU (a no-op on the CPU)."""
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def d2l_loaders(data_dir: Path, device: torch.device) -> tuple[DataLoader, DataLoader]:
    """d2l's ``load_data_fashion_mnist(256)``: torchvision datasets + ToTensor, 4 workers each."""
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

    def epoch() -> float:
        d2l_train_epoch(net, on_device(train_iter, device), updater)
        return evaluate_accuracy(net, on_device(test_iter, device))

    seconds, accuracy = timed_epochs(device, epochs, epoch)
    return {"epoch_seconds": seconds, "test_acc": accuracy, "init_checksum": checksum}
