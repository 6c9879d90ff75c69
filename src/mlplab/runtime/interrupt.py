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
from collections.abc import Iterator
from contextlib import contextmanager
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


def stopped_mid_epoch(err: Interrupted, trainer: L.Trainer) -> str:
    """Why a fit stopped at once (a second signal), and what its checkpoint holds."""
    done = trainer.current_epoch
    return (f"{err} during epoch {done + 1}{of_epochs(trainer)}; its updates are dropped, "
            f"last.ckpt holds the {done} complete epoch(s)")


def stopped_at_epoch_end(stopper: GracefulStop, trainer: L.Trainer) -> str:
    """Why a fit stopped at an epoch's end (a first signal)."""
    return f"stopped by {stopper.signal_name} after {trainer.current_epoch}{of_epochs(trainer)} epochs"


def of_epochs(trainer: L.Trainer) -> str:
    """`` of 10`` for a fit of 10 epochs; nothing for one bounded by max_steps only."""
    return f" of {trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""


def reached_the_end(trainer: L.Trainer) -> bool:
    """Whether the fit ran as long as it was asked to (max_epochs, or max_steps)."""
    epochs, steps = trainer.max_epochs or -1, trainer.max_steps
    return 0 < epochs <= trainer.current_epoch or 0 < steps <= trainer.global_step


@contextmanager
def ctrl_c_as_interrupt() -> Iterator[None]:
    """Lightning meets a Ctrl-C outside the epochs ``GracefulStop`` watches (setting up, testing)
    with ``sys.exit(1)``, SIGINT ignored from then on: turned back into the KeyboardInterrupt it
    was, so the run ends as one the user stopped (exit 130, the line that resumes it), and a
    later Ctrl-C is heard again."""
    try:
        yield
    except SystemExit as err:
        if err.code == 1 and isinstance(err.__context__, KeyboardInterrupt):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
        raise
