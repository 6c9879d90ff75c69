"""The one module that touches private names of Lightning or Hydra. Each use says why no public
API serves; ``tests/unit/test_compat.py`` fails, naming the name, when a supported version drops
or changes it (supported: the versions pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.core.optimizer import LightningOptimizer

# LightningOptimizer.step() brackets the torch step with these two callbacks, which the manual
# optimization loop sets to count the step (global_step, max_steps, checkpoint names) and to open
# the profiler's "optimizer_step" section. mlplab's direct update (mlplab.training.updates) steps
# the torch optimizer itself to skip Lightning's per-update hook dispatch, and must still be
# counted. Lightning offers no public "count one manual step" call.
#
# ModelCheckpoint keeps its every_n_train_steps and train_time_interval arguments only as private
# attributes, and mlplab must know whether a checkpoint callback saves within an epoch (then the
# fit needs Lightning's one-minibatch steps, mlplab.training.loop).
PRIVATE_NAMES = {LightningOptimizer: ("_on_before_step", "_on_after_step"),
                 ModelCheckpoint: ("_every_n_train_steps", "_train_time_interval")}


@contextmanager
def counted_step(optimizer: LightningOptimizer) -> Iterator[None]:
    """Around a direct ``optimizer.optimizer.step()``: Lightning counts it as ``step()`` would."""
    optimizer._on_before_step()
    yield
    optimizer._on_after_step()


def saves_within_epochs(callback: ModelCheckpoint) -> bool:
    """Whether a ModelCheckpoint saves every N training steps or every interval of time."""
    return bool(callback._every_n_train_steps or callback._train_time_interval)
