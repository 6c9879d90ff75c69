"""Ctrl-C and SIGTERM (a cluster's pre-emption, ``kill``) during fit: stop at an epoch's end.

The first signal lets the current epoch finish (about a second per epoch here), so the run stops
right after ``last.ckpt`` of a complete epoch is written; resuming from it repeats nothing and
skips nothing, which is what makes a resume bit-exact. A second signal stops at once, dropping
the unfinished epoch (``last.ckpt`` is still the previous epoch's: checkpoints are written
atomically). Either way ``metrics.json`` says ``status: "interrupted"`` and how to resume.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

import lightning as L

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The second signal: stop now."""


class GracefulStop(L.Callback):
    """Catches SIGINT/SIGTERM in the training process while it trains."""

    def __init__(self) -> None:
        self.signal_name: str | None = None  # set once a stop was asked for
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise Interrupted(f"stopped by a second {signal.Signals(signum).name}")
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: finishing this epoch, then stopping (send it again to stop now)",
                    self.signal_name)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning installs its own SIGTERM handler (which stops mid-epoch) just before
        # training starts; this one replaces it until teardown.
        self.signal_name = None
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs before the checkpoint callbacks of the same hook: they still save this epoch.
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            trainer.should_stop = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
