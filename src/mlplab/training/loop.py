"""Which training loop a fit gets: mlplab's grouped steps, or Lightning's own loop.

    grouped    several minibatches per Lightning step (``data.batches_per_step``), one update
               each under manual optimization: the same updates as Lightning's loop, with 1/k of
               its per-step overhead (``make bench``: mlplab/raw ≈ 1.0–1.1 on a CPU)
    lightning  one minibatch per step, automatic optimization: every Trainer flag and callback
               works as Lightning documents it

Lightning counts steps, not minibatches, so anything that acts per step (``max_steps``, limits on
training batches, ``val_check_interval``, clipping, accumulation, a callback that acts on batches)
would act every k minibatches on grouped steps. The grouped loop is taken only when nothing in the
fit does that; otherwise Lightning's loop, and ``metrics.json`` says which and why.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import (
    EarlyStopping,
    ModelCheckpoint,
    ModelSummary,
    ProgressBar,
    StochasticWeightAveraging,
    Timer,
)
from torch.optim.lr_scheduler import ReduceLROnPlateau

from mlplab.compat import saves_within_epochs
from mlplab.config.signature import locate
from mlplab.training.updates import overridden

# A callback acts per step when it listens to training batches (a grouped step is one batch to
# Lightning), except those known to act at epoch ends only; per-update hooks (on_after_backward,
# …) still reach a callback on grouped steps, one call per update (mlplab.training.updates).
PER_STEP_HOOKS = ("on_train_batch_start", "on_train_batch_end")
EPOCH_LEVEL = (EarlyStopping, ModelSummary, ProgressBar)  # a progress bar then counts steps of k


def per_step_callback(callback: L.Callback) -> bool:
    if isinstance(callback, ModelCheckpoint):
        return saves_within_epochs(callback)
    if isinstance(callback, StochasticWeightAveraging):  # its SWALR is stepped by Lightning's loop
        return True
    if isinstance(callback, EPOCH_LEVEL):
        return False
    return any(overridden(callback, L.Callback, hook) for hook in PER_STEP_HOOKS)


def grouping_blockers(trainer: L.Trainer, scheduler: str | None = None) -> list[str]:
    """The settings of this fit that act per Lightning step, each as ``key=value``; empty when
    grouped steps change nothing but the time taken. ``scheduler``: the scheduler's class name
    (a ReduceLROnPlateau is stepped by Lightning with a metric)."""
    if trainer.fast_dev_run:  # which sets max_steps and the limits itself
        return [f"trainer.fast_dev_run={trainer.fast_dev_run}"]
    found = []
    if scheduler and issubclass(locate(scheduler), ReduceLROnPlateau):
        found.append(f"scheduler._target_={scheduler}")
    if trainer.max_steps != -1:
        found.append(f"trainer.max_steps={trainer.max_steps}")
    if any(isinstance(c, Timer) for c in trainer.callbacks):
        found.append("trainer.max_time")
    if trainer.limit_train_batches != 1.0:
        found.append(f"trainer.limit_train_batches={trainer.limit_train_batches}")
    if trainer.overfit_batches:
        found.append(f"trainer.overfit_batches={trainer.overfit_batches}")
    if trainer.val_check_interval != 1.0:
        found.append(f"trainer.val_check_interval={trainer.val_check_interval}")
    if trainer.gradient_clip_val:
        found.append(f"trainer.gradient_clip_val={trainer.gradient_clip_val}")
    if trainer.accumulate_grad_batches != 1:
        found.append(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches}")
    found += [f"callback {type(c).__name__}" for c in trainer.callbacks if per_step_callback(c)]
    return found
