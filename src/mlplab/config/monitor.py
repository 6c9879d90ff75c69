"""What a run watches (``monitor``): the metrics a fit logs, which way each improves, and the
checks that a monitor (``monitor``, a callback's, ``scheduler.monitor``) names one of them the
right way round.

    best = max over epochs of val/acc   (mode=max; a loss: min)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import ClassVar

from mlplab.config.settings import Settings, setting

# What a fit logs every epoch, by the data's task (MLPModule: train/ and val/ of EpochAverages'
# loss and accuracy, weights/l2_norm, train/lr; test/ only after fit): what a monitor can watch.
FIT_METRICS = {"classification": ("val/acc", "val/loss", "train/acc", "train/loss", "weights/l2_norm",
                                  "train/lr"),
               "regression": ("val/loss", "train/loss", "weights/l2_norm", "train/lr")}


# Which way each kind of logged metric improves (the part of its name after the stage: val/acc):
# a monitor watching it the other way would keep the worst epoch, stop early on improvements and
# make a search seek the worst runs. weights/l2_norm and train/lr have no better direction.
BETTER = {"acc": ("max", "an accuracy is best when largest"), "loss": ("min", "a loss is best when smallest")}


STUDY_DIRECTIONS = {"max": "maximize", "min": "minimize"}  # a monitor's mode, in Optuna's words


def better_mode(metric: str) -> str | None:
    """``max`` for an accuracy, ``min`` for a loss, None for a metric with no better direction."""
    return BETTER.get(metric.rpartition("/")[2], (None,))[0]


def validation_metrics(task: str = "classification") -> tuple[str, ...]:
    """The validation metrics a fit of ``task`` logs, the one a monitor watches by default first:
    ``val/acc``, ``val/loss`` (a regression: ``val/loss``)."""
    return tuple(name for name in FIT_METRICS[task] if name.startswith("val/"))


@dataclass
class MonitorSettings(Settings):
    group: ClassVar[str] = "monitor"
    name: str = setting("val/acc", "the validation metric that picks best.ckpt", example="val/loss")
    mode: str = setting("max", "max for an accuracy, min for a loss", choices=tuple(STUDY_DIRECTIONS))


def check_mode(owner: Settings, name: str, mode: str) -> None:
    """``owner.mode`` must rank ``owner.name`` the way it improves (``BETTER``)."""
    metric, given = getattr(owner, name), getattr(owner, mode)
    if given not in STUDY_DIRECTIONS:  # a typo (maxx), not a direction: its own line, not "backwards"
        owner.fail(mode, "is not one of max, min", example=better_mode(str(metric)) or "max")
    wanted = better_mode(str(metric))
    if wanted is not None and given != wanted:
        owner.fail(mode, f"ranks {owner.key(name)}={metric} backwards: "
                   f"{BETTER[metric.rpartition('/')[2]][1]}", example=wanted)


# Where mlplab's metrics live: a name here that a fit does not log is a typo of one of them.
OWN_NAMESPACES = ("train/", "val/", "test/", "weights/", "hp/")


def check_logged(owner: Settings, name: str, task: str) -> None:
    """``owner.name`` must be a metric a fit of ``task`` logs (monitor.name, scheduler.monitor): a
    name the fit never logs would end the run at its first validation (Lightning's ModelCheckpoint
    cannot find it), so it is refused now, with the names there are. A name outside mlplab's
    namespaces and unlike its names (``my/score``) is one the user's own code logs (a callback, a
    subclass of the module), as Lightning lets any logged key be monitored: it passes."""
    metric = str(getattr(owner, name))
    logged = FIT_METRICS[task]
    if metric in logged:
        return
    close = difflib.get_close_matches(metric, logged, n=1, cutoff=0.75)
    if not metric.startswith(OWN_NAMESPACES) and not close:
        return
    guess = f"; did you mean {close[0]}?" if close else ""
    owner.fail(name, f"is not a metric a {task} run logs{guess} (those are: {', '.join(logged)}; one your "
               f"own code logs takes a name outside {', '.join(OWN_NAMESPACES)})",
               example=close[0] if close else logged[0])

