"""Filling a disk from inside a run, at a chosen moment, so that a disk-full fault happens for real
where a test expects it (not after a sleep).

``FillDisk`` (a Lightning callback, given with ``+callbacks.fill=…``) fills the file system that
holds ``folder`` when epoch ``epoch`` starts, or after the test with ``at=test_end``.
``FillDiskAtSweepEnd`` (a Hydra callback, ``+hydra.callbacks.fill=…``) fills it when every job
of a sweep has returned; Hydra calls ``on_multirun_end`` in reverse order, so before the summary.
``folder`` is a small tmpfs the test mounted (``small_disk``); where none can be mounted, the
disk-full tests do not run (``helpers.unavailable``): nothing here fakes a full disk.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import lightning as L
from hydra.experimental.callback import Callback


def fill(folder: str | Path) -> None:
    """Write zeros into ``folder/filler`` until its file system has no byte left."""
    if not str(folder):  # "" would fill the disk the run's working folder is on
        raise ValueError("FillDisk needs folder=<a small tmpfs the test mounted>")
    with open(Path(folder) / "filler", "ab", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):  # big chunks, then what is left of the last page
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise


class FillDisk(L.Callback):
    """``at``: ``epoch`` (when epoch ``epoch`` starts) or ``test_end``."""

    def __init__(self, folder: str, epoch: int = 1, at: str = "epoch") -> None:
        self.folder, self.epoch, self.at = folder, epoch, at

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at == "epoch" and trainer.current_epoch == self.epoch:
            fill(self.folder)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at == "test_end":
            fill(self.folder)


class FillDiskAtSweepEnd(Callback):
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        fill(self.folder)
