"""Running a job: the data, module and Trainer built from the config (``build``), what it continues
from (``resume``), fit and tested once (``run``), what it leaves (``record``), its train.log
(``job_log``), score a checkpoint (``evaluate``), check every setting before anything loads
(``preflight``), checkpoints written atomically and found again (``checkpoints``), one process per
run folder (``folder_lock``), a sweep's earlier results and resume line (``sweep_jobs``), stopping
cleanly on a signal (``interrupt``), ``ddp_spawn``'s workers (``spawned``), CPU threads per job
(``threads``), the job's side of an Optuna search (``trial``), bf16 on this CPU (``precision``) and
third-party noise hidden (``quiet``).

May import: ``mlplab.reporting`` and everything below it (``training``, ``data``, ``outcomes``,
``config``, ``nets``, ``errors``, ``files``, ``records``); Lightning, Hydra. Never ``mlplab.cli``:
its Hydra callbacks end the process through ``mlplab.outcomes``, as the entry points do.
"""
