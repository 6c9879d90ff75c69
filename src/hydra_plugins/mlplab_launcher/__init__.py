"""Hydra finds launchers only in the ``hydra_plugins`` namespace package: this is where it finds
mlplab's batched launcher (``hydra/launcher=batched``). The code lives in ``mlplab.sweeps.batched``."""

from mlplab.sweeps import batched


class BatchedLauncher(batched.BatchedLauncher):
    """mlplab's batched launcher (``mlplab.sweeps.batched``), where Hydra looks for it."""
