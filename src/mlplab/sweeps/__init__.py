"""mlplab's own Hydra sweeper: the Optuna sweeper (``optuna_sweeper``, on Optuna's ask-and-tell
API, with a persistent study and pruning), each worker's sampler seed (``worker_seeds``) and the
check of the study's storage (``storage``). The job's side of a search is ``mlplab.runtime.trial``.

May import: ``mlplab.runtime`` and everything below it; Hydra, Optuna and SQLAlchemy (imported where
a search uses them: Hydra imports the sweeper at every start, and an ordinary run never loads
Optuna).
"""
