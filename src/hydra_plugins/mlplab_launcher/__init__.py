"""Hydra finds launchers only in the ``hydra_plugins`` namespace package: this is where it finds
mlplab's batched launcher (``hydra/launcher=batched``). The code lives in ``mlplab.batched``."""

from mlplab.batched import launcher


class BatchedLauncher(launcher.BatchedLauncher):
    """mlplab's batched launcher (``mlplab.batched.launcher``), where Hydra looks for it."""
