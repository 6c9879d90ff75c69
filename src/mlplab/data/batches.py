"""Minibatches gathered straight out of in-memory tensors, served by a real ``DataLoader``.

    loader  = DataLoader(MinibatchSet(x, y), batch_size=None, sampler=EpochBatches(…))
    sampler : one item per Lightning step: a ``Rows`` (which rows form the step's minibatch)
    dataset : ``set[Rows]`` → ``(transform(x[rows]), y[rows])``, gathered with ``index_select``

Each epoch is one seeded permutation ``randperm(n, seed + epoch)`` cut into slices of
``batch_size``. Lightning calls ``sampler.set_epoch`` at the start of every epoch, so the order
depends only on (seed, epoch): a resumed run sees the same batches.

Under DDP (``world_size`` processes) each process takes a disjoint share: shuffled, process ``r``
gets ``perm[:n − n mod w][r::w]`` (equal shares, so every process makes the same number of
updates); in order (val/test), the contiguous rows ``[n·r/w, n·(r+1)/w)``, so the shares together
are the whole split. The sampler is a ``DistributedSampler``: Lightning keeps a distributed
sampler the loader already has instead of injecting its own (``use_distributed_sampler``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler

from mlplab.data.augment import ShiftFlip

Minibatch = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class Rows:
    """The rows of one minibatch: a permutation slice (a tensor) or a contiguous ``slice``;
    ``epoch`` and ``number`` seed its augmentation."""

    rows: Tensor | slice
    epoch: int
    number: int


class EpochBatches(DistributedSampler):
    """Which rows form each minibatch of an epoch, for process ``rank`` of ``world_size``."""

    device = torch.device("cpu")  # where permutations are put: the data's device

    def __init__(self, n: int, batch_size: int, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of the {world_size} processes")
        # DistributedSampler.__init__ would ask torch.distributed for the world: we are told it.
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.drop_last, self.rank, self.num_replicas = drop_last, rank, world_size
        self.epoch = 0

    def share(self) -> tuple[int, int]:
        """(first row, row count) of this process's share; the first row matters in order only."""
        n, r, w = self.n, self.rank, self.num_replicas
        if self.shuffle:
            return 0, n // w
        return n * r // w, n * (r + 1) // w - n * r // w

    def minibatches(self) -> int:
        """Minibatches (hence updates) per epoch for this process."""
        count, b = self.share()[1], self.batch_size
        return count // b if self.drop_last else -(-count // b)

    def __len__(self) -> int:
        return self.minibatches()

    def order(self, device: torch.device) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=generator)
        w = self.num_replicas
        return order[: self.n - self.n % w][self.rank :: w].to(device)

    def each(self, device: torch.device) -> Iterator[Rows]:
        first, count = self.share()
        order = self.order(device) if self.shuffle else None
        for step in range(self.minibatches()):
            start, stop = step * self.batch_size, min((step + 1) * self.batch_size, count)
            rows = order[start:stop] if order is not None else slice(first + start, first + stop)
            yield Rows(rows, self.epoch, step * self.num_replicas + self.rank)

    def __iter__(self) -> Iterator[Rows]:
        return self.each(self.device)


class InOrderBatches(EpochBatches, SequentialSampler):
    """``EpochBatches`` without shuffling, which Lightning also sees as a ``SequentialSampler``:
    with ``overfit_batches`` it then keeps this sampler instead of replacing it (its replacement
    would hand out single examples)."""


class MinibatchSet(Dataset):
    """Inputs and targets in memory; an item is a whole minibatch."""

    def __init__(self, inputs: Tensor, targets: Tensor,
                 transform: Callable[[Tensor], Tensor] | None = None,
                 augment: ShiftFlip | None = None) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        self.inputs, self.targets = inputs, targets
        self.transform, self.augment = transform, augment  # augment: after transform, on floats

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: Rows) -> Minibatch:
        if isinstance(index.rows, slice):  # in order: views, no copy
            x, y = self.inputs[index.rows], self.targets[index.rows]
        else:  # index_select: about 3× faster than inputs[idx] for these row gathers
            x, y = self.inputs.index_select(0, index.rows), self.targets.index_select(0, index.rows)
        if self.transform:
            x = self.transform(x)
        if self.augment:
            x = self.augment(x, self.augment.generator(x.device, index.epoch, index.number))
        return x, y


class MovesMinibatches:
    """A LightningDataModule's ``transfer_batch_to_device`` for loaders whose items are (x, y)
    tensor pairs: both move directly, instead of being walked as a generic collection (Lightning's
    default, which costs more than a step of a small model's math). On the data module, where the
    form of the batches is known, so that Lightning takes it without a warning. A lone tensor (the
    module's ``example_input_array``, which Lightning's model summary moves through this hook)
    moves as it is."""

    def transfer_batch_to_device(self, batch: Minibatch | Tensor, device: torch.device,
                                 dataloader_idx: int) -> Minibatch | Tensor:
        if isinstance(batch, Tensor):
            return batch.to(device, non_blocking=True)
        x, y = batch
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def as_is(batch: Any) -> Any:
    """The loader's collate function: the dataset already returns whole minibatches."""
    return batch


def trainer_share(trainer: Any, training: bool, whole: bool = False) -> dict[str, Any]:
    """How a DataModule's loader follows its trainer: under DDP each process takes its share of
    the split (``whole``: all of it); overfitting (``trainer.overfit_batches``) turns the training
    shuffle off, as Lightning does. Without a trainer: one process, shuffled training batches."""
    sharded = trainer is not None and not whole
    return {"shuffle": training and not (trainer is not None and trainer.overfit_batches),
            "rank": trainer.global_rank if sharded else 0, "world_size": trainer.world_size if sharded else 1}


def minibatch_loader(inputs: Tensor, targets: Tensor, batch_size: int, shuffle: bool = False,
                     seed: int = 0, drop_last: bool = False,
                     transform: Callable[[Tensor], Tensor] | None = None,
                     rank: int = 0, world_size: int = 1, augment: ShiftFlip | None = None) -> DataLoader:
    """A ``DataLoader`` over ``(inputs, targets)``, one minibatch per item."""
    kind = EpochBatches if shuffle else InOrderBatches
    sampler = kind(len(inputs), batch_size, shuffle, seed, drop_last, rank, world_size)
    sampler.device = inputs.device
    # A generator of its own: each new iterator draws a worker seed from it, which would
    # otherwise come from the global RNG and shift the dropout masks of every later epoch.
    return DataLoader(MinibatchSet(inputs, targets, transform, augment), batch_size=None,
                      sampler=sampler, collate_fn=as_is, generator=torch.Generator().manual_seed(seed))
