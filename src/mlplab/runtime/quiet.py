"""Third-party noise that every run would print, hidden unless ``ignore_warnings=false`` (as
lightning-hydra-template's ``extras.ignore_warnings``):

    torch's FutureWarning   `isinstance(treespec, LeafSpec)` is deprecated …  (Lightning's _pytree
                            still builds a LeafSpec on every fit)
    Lightning's tip         💡 Tip: For seamless cloud logging … litlogger     (on every Trainer)
    Lightning's info        Trainer already configured with model summary callbacks … (the
                            ``model_summary`` callback preset is the summary it asks for)
    Lightning's hint        The `srun` command is available on your system but is not used …
                            (on any machine with SLURM installed; mlplab's jobs are started by
                            submitit or sbatch, and a run outside them is meant to be one process)
    Lightning's warning     Checkpoint directory … exists and is not empty (every resume: the run's
                            own folder holds its checkpoints by design)
    Lightning's hint        The '…_dataloader' does not have many workers … (on every loader:
                            mlplab's data sets are in memory, where worker processes would only copy them)

Only these, by their text: any other warning or log line still shows. And one line for each of
submitit's warnings in a SLURM sweep (``submitit_lines_once``), which it would print three times.
"""

from __future__ import annotations

import logging
import warnings

NOISY_WARNINGS = ((r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
                  (r"The `srun` command is available on your system but is not used", Warning),
                  (r"Checkpoint directory .* exists and is not empty", Warning),
                  (r".*does not have many workers", Warning),
                  # an estimate of the summary's MB column, at 32 bits for a bf16-mixed run
                  (r"Precision .* is not supported by the model summary", Warning))
NOISY_LOG_LINES = ("💡 Tip: For seamless cloud logging",
                   "Trainer already configured with model summary callbacks")
# the loggers of Lightning's rank_zero_info (lightning.pytorch's, or fabric's where it was imported last)
LIGHTNING_INFO = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NOISY_LOG_LINES)


_FILTER = DropNoise()


def quiet_third_party(ignore: bool) -> None:
    """Hide (``ignore``) or show the noise above; safe to call once per run."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_INFO]
    if not ignore:
        for logger in loggers:
            logger.removeFilter(_FILTER)
        return
    for logger in loggers:
        logger.addFilter(_FILTER)  # a logging.Filter added twice is kept once
    for pattern, category in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)


class BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def submitit_lines_once() -> None:
    """submitit's logging config prints a warning (``Bypassing sacct error …`` where SLURM keeps no
    accounting) on stdout and on stderr, and Hydra's root handler printed it a third time: its stdout
    handler now takes its lower lines only, and its lines stay in its own handlers."""
    try:
        import submitit  # noqa: F401  (an optional package; importing it sets up its logger)
    except ImportError:  # Hydra's own error for the launcher follows
        return
    logger = logging.getLogger("submitit")
    logger.propagate = False
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.level < logging.WARNING:
            handler.addFilter(BelowWarning())  # a Filter added twice is kept once
