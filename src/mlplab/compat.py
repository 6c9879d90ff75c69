"""The one module that touches private names of Lightning or Hydra. Each use says why no public
API serves; ``tests/unit/test_compat.py`` fails, naming the name, when a supported version drops
or changes it (supported: the versions pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch.core.optimizer import LightningOptimizer

# LightningOptimizer.step() brackets the torch step with these two callbacks, which the manual
# optimization loop sets to count the step (global_step, max_steps, checkpoint names) and to open
# the profiler's "optimizer_step" section. mlplab's direct update (mlplab.training.updates) steps
# the torch optimizer itself to skip Lightning's per-update hook dispatch, and must still be
# counted. Lightning offers no public "count one manual step" call.
PRIVATE_NAMES = {LightningOptimizer: ("_on_before_step", "_on_after_step")}


@contextmanager
def counted_step(optimizer: LightningOptimizer) -> Iterator[None]:
    """Around a direct ``optimizer.optimizer.step()``: Lightning counts it as ``step()`` would."""
    optimizer._on_before_step()
    yield
    optimizer._on_after_step()
