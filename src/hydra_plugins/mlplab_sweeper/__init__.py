"""Hydra finds sweepers and launchers only in the ``hydra_plugins`` namespace package, by the
module that defines them: this is where it finds mlplab's
(``_target_: hydra_plugins.mlplab_sweeper.OptunaSweeper``). The code lives in ``mlplab.sweeps``."""

from mlplab.sweeps import optuna_sweeper


class OptunaSweeper(optuna_sweeper.OptunaSweeper):
    """mlplab's Optuna sweeper (``mlplab.sweeps.optuna_sweeper``), where Hydra looks for it."""
