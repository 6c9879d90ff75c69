"""Hydra plugins of mlplab's own: the Optuna sweeper (``optuna_sweeper``, on Optuna's ask-and-tell
API, with a persistent study and pruning) and the job's side of a search (``trial``).

May import: ``mlplab.errors``, ``mlplab.files``; Hydra, Lightning, Optuna (imported only by a
search: an ordinary run never loads Optuna).
"""
