"""A job's log file, ``<run>/train.log`` (Hydra's job logging, set up by
``conf/hydra/job_logging/mlplab.yaml``): mlplab's log lines, Lightning's own (``GPU available …``,
```Trainer.fit` stopped …``, a checkpoint restored) and the lines that end the job on the terminal:
its result, ``error: …``, ``resume with: …``.

A resumed run's log goes on in its own folder's train.log (``move_job_log``). The lines that
end the job are printed as they are (a result on stdout, an error on stderr, no time stamp); ``say``
prints one and writes it to the file alone, through the ``mlplab.outcome`` logger, which the job's
logging config hands the file handler only. Outside a job (no such config) they are printed alone.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

OUTCOME = logging.getLogger("mlplab.outcome")
OUTCOME.propagate = False  # the terminal has the printed line: never again through the root's handlers
OUTCOME.addHandler(logging.NullHandler())  # until a job's config gives it the file
# the loggers conf/hydra/job_logging/mlplab.yaml gives the job's file to
JOB_LOGGERS = (logging.getLogger(), OUTCOME, logging.getLogger("lightning.pytorch"))


def say(line: str, error: bool = False) -> None:
    """Print ``line`` (an ``error`` on stderr) and keep it in the job's log file."""
    print(line, file=sys.stderr if error else sys.stdout)
    keep(line, error)


def keep(line: str, error: bool = False) -> None:
    """Write ``line`` to the job's log file alone (the terminal shows it already)."""
    OUTCOME.log(logging.ERROR if error else logging.INFO, "%s", line)


def close_job_log() -> None:
    """At the job's end, its log file (the one the job's logging config gave ``mlplab.outcome``)
    taken off every logger that has it (the root, mlplab's, Lightning's) and closed: a later line
    in this process (the launcher's line for a sweep's next job, a sweep's summary, a notebook's
    next command) does not land in this run's train.log, nor fail: a handler left on a logger
    reopens its file for the next line, and raises FileNotFoundError from whatever logged it once
    the folder is gone. A log file of one's own logging config (``hydra/job_logging=none`` and
    ``logging.basicConfig``, say) is left as it is."""
    job_files = [h for h in OUTCOME.handlers if isinstance(h, logging.FileHandler)]
    for logger in JOB_LOGGERS:
        for handler in job_files:
            if handler in logger.handlers:
                logger.removeHandler(handler)
    for handler in job_files:
        handler.close()


def move_job_log(folder: Path) -> None:
    """The job's log goes on in ``folder`` (a resumed run's own), appended to the train.log there
    after what this job wrote so far; the file Hydra opened in the job's new folder is removed. Only
    files in that folder move: a log file of one's own logging config elsewhere stays where it is."""
    if not HydraConfig.initialized():
        return
    made = Path(HydraConfig.get().runtime.output_dir).resolve()
    handlers = {h for logger in JOB_LOGGERS for h in logger.handlers if isinstance(h, logging.FileHandler)}
    for handler in handlers:
        written = Path(handler.baseFilename)
        moved = Path(folder) / written.name
        if written.resolve().parent != made or moved.resolve() == written.resolve():
            continue
        handler.flush()
        with moved.open("a", encoding=handler.encoding) as log_file:
            log_file.write(written.read_text(encoding=handler.encoding) if written.is_file() else "")
        continued = logging.FileHandler(moved, mode="a", encoding=handler.encoding)
        continued.setFormatter(handler.formatter)
        continued.setLevel(handler.level)
        for logger in JOB_LOGGERS:
            if handler in logger.handlers:
                logger.removeHandler(handler)
                logger.addHandler(continued)
        handler.close()
        written.unlink(missing_ok=True)
