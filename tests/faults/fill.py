"""Filling a disk from inside a run, at a chosen moment, so that a disk-full fault happens for real
where a test expects it (not after a sleep).

``FillDisk`` (a Lightning callback, given with ``+callbacks.fill=…``) fills the file system that
holds ``folder`` when epoch ``epoch`` starts, or after the test with ``at=test_end``.
``FillDiskAtSweepEnd`` (a Hydra callback, ``+hydra.callbacks.fill=…``) fills it when every job
of a sweep has returned; Hydra calls ``on_multirun_end`` in reverse order, so before the summary.
Where the test could not mount a small disk (``folder=""``), both inject ``ENOSPC`` into mlplab's
atomic writer for files whose name ends with ``inject`` instead.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import lightning as L
from hydra.experimental.callback import Callback


def fill(folder: Path) -> None:
    """Write zeros into ``folder/filler`` until its file system has no byte left."""
    with open(folder / "filler", "ab", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):  # big chunks, then what is left of the last page
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise


def inject_enospc(suffix: str) -> None:
    """Make ``mlplab.files`` fail to put any file named ``*suffix`` in place, as a full disk would."""
    import mlplab.files as files

    real = files.os

    class NoSpaceFor:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def replace(src: Any, dst: Any) -> None:
            if str(dst).endswith(suffix):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real.replace(src, dst)

    files.os = NoSpaceFor()


def fill_or_inject(folder: str, inject: str) -> None:
    if folder:
        fill(Path(folder))
    else:
        inject_enospc(inject)


class FillDisk(L.Callback):
    """``at``: ``epoch`` (when epoch ``epoch`` starts), ``test_end``, or ``start`` (when the run
    builds its callbacks, before the data are unpacked)."""

    def __init__(self, folder: str, epoch: int = 1, at: str = "epoch", inject: str = ".ckpt") -> None:
        self.folder, self.epoch, self.at, self.inject = folder, epoch, at, inject
        if at == "start":
            fill_or_inject(folder, inject)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at == "epoch" and trainer.current_epoch == self.epoch:
            fill_or_inject(self.folder, self.inject)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at == "test_end":
            fill_or_inject(self.folder, self.inject)


class FillDiskAtSweepEnd(Callback):
    def __init__(self, folder: str, inject: str = "summary.csv") -> None:
        self.folder, self.inject = folder, inject

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        fill_or_inject(self.folder, self.inject)
