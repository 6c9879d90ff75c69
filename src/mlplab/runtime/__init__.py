"""Running a job: build it from the config and fit it (``run``), score a checkpoint
(``evaluate``), check every setting before anything loads (``preflight``), checkpoints written
atomically and found again (``checkpoints``), stopping cleanly on a signal (``interrupt``),
``ddp_spawn``'s workers: a port per stage, an orderly end (``spawned``), and CPU threads per job
(``threads``).

May import: ``mlplab.training``, ``mlplab.data``, ``mlplab.config``, ``mlplab.reporting``,
``mlplab.files``, ``mlplab.errors``; Lightning, Hydra. Not ``mlplab.cli``, except for the one error
path that a Hydra callback must take (``preflight``).
"""
