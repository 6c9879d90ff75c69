"""Hydra plugins of mlplab's own: the Optuna sweeper (``optuna_sweeper``, on Optuna's ask-and-tell
API, with a persistent study and pruning), the job's side of a search (``trial``), and the batched
launcher (``batched``, with ``calibrate``: stacked against separate steps on this device).

May import: ``mlplab.errors``, ``mlplab.files``, ``mlplab.nets``, ``mlplab.training``; Hydra,
Lightning, Optuna (imported only by a search: an ordinary run never loads Optuna). The batched
launcher calls ``mlplab.runtime`` (the group's fit, the pre-flight's composed jobs) from inside its
functions: ``mlplab.runtime.run`` imports this package, not the other way round at import time.
"""
