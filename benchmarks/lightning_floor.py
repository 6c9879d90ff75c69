"""(f) lightning: the floor of Lightning's own loop on this machine — the recipe of (b) as the
plainest LightningModule Lightning's docs show, and nothing of mlplab's:

    training_step   ``cross_entropy(net(x), y)`` returned; automatic optimization makes the update
    validation_step the test accuracy, summed on the device, logged once per epoch
    data            the uint8 tensors in memory, sliced into minibatches by a DataLoader's
                    ``BatchSampler`` (x = image / 255), no collate, no workers; validation in
                    batches of 1024, as mlplab's default ``data.eval_batch_size``
    Trainer         one device, no logger, no checkpoint, no progress bar, no summary

``ratios["mlplab/lightning"]`` = mlplab's default fit (c) ÷ this: what mlplab adds to Lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from benchmarks.common import BATCH_SIZE, LR, init_checksum, load_split, new_model
from benchmarks.lightning_fit import EpochTimer

EVAL_BATCH_SIZE = 1024  # mlplab's data.eval_batch_size: the same validation work on both sides


class Slices(Dataset):
    """uint8 images and labels in memory; an item is the minibatch of a list of row numbers."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, rows: list[int]) -> tuple[Tensor, Tensor]:
        index = torch.tensor(rows, device=self.images.device)
        return self.images[index].float() / 255, self.labels[index]


def loader(images: Tensor, labels: Tensor, shuffle: bool, seed: int) -> DataLoader:
    order = (RandomSampler(images, generator=torch.Generator().manual_seed(seed)) if shuffle
             else SequentialSampler(images))
    size = BATCH_SIZE if shuffle else EVAL_BATCH_SIZE
    return DataLoader(Slices(images, labels), batch_size=None,
                      sampler=BatchSampler(order, size, drop_last=False))


class PlainModule(L.LightningModule):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.correct = torch.zeros((), dtype=torch.long)
        self.seen = 0

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        self.correct = self.correct.to(y.device) + (self.net(x).argmax(dim=1) == y).sum()
        self.seen += len(y)

    def on_validation_epoch_end(self) -> None:
        self.log("val/acc", self.correct.float() / max(self.seen, 1))
        self.correct, self.seen = torch.zeros((), dtype=torch.long), 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR)


def run_lightning_floor(data_dir: Path, device: torch.device, epochs: int, seed: int) -> dict[str, Any]:
    """(f): read the IDX files (untimed), then ``trainer.fit`` of ``PlainModule``, each epoch timed."""
    train, test = load_split(data_dir, "train", device), load_split(data_dir, "test", device)
    module = PlainModule(new_model(seed, device))
    checksum = init_checksum(module.net)
    timer = EpochTimer(device)
    trainer = L.Trainer(max_epochs=epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer])
    trainer.fit(module, train_dataloaders=loader(*train, shuffle=True, seed=seed),
                val_dataloaders=loader(*test, shuffle=False, seed=seed))
    return {"epoch_seconds": timer.seconds(), "full_epoch_seconds": timer.full_seconds(),
            "test_acc": float(trainer.callback_metrics["val/acc"]), "init_checksum": checksum}
