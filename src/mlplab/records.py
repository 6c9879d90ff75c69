"""What a run leaves in its ``metrics.json``: how it ended (``RunStatus``) and its record
(``RunRecord``), one type for a run alone, a member of a batched group, a failed sweep job, and a
sweep job read back from an earlier run of its sweep.

    finished     fit to its end and tested
    diverged     the loss blew up (NaN, inf, above max_loss): stopped, not tested
    interrupted  a signal stopped it (resume with ckpt_path=last, or the sweep's command)
    pruned       a search's pruner stopped it: an outcome, not an error
    failed       it raised before it could finish (the error is recorded, the sweep goes on)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    FINISHED = "finished"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"
    FAILED = "failed"
    BUSY = "busy"  # a sweep's job another live process is running: left to it, never written

    @property
    def to_retry(self) -> bool:
        """Run again on a resumed sweep only with ``retry_failed=true``."""
        return self in (RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.PRUNED)


# a job that raised before its fit has no timings, loop or checkpoints: its record says what is known
FAILURE_KEYS = ("status", "error", "epochs", "monitor", "metrics", "history", "hparams")


@dataclass
class RunRecord:
    """One run's outcome, as ``metrics.json`` holds it (``as_json``; ``from_json`` reads it back)."""

    status: RunStatus
    hparams: dict[str, Any]
    error: str | None = None
    resume: str | None = None  # the command that continues an interrupted run
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    seconds: float | None = None
    fit_seconds: float | None = None
    threads: int | None = None
    device: str | None = None  # where the model trained: "cpu", "cuda:0", "mps:0" (the fit's root device)
    batched: dict[str, Any] | None = None  # a batched member's group: members, engine, its seconds
    resumed_from: str | None = None
    test_checkpoint: str | None = None
    monitor: dict[str, Any] | None = None  # the metric that chose best.ckpt, its mode, its best value
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: bool = False  # read back from an earlier run of its sweep, not run again (not written)

    @property
    def epochs(self) -> int:
        return len(self.history)

    def as_json(self) -> dict[str, Any]:
        values = {"status": str(self.status), "epochs": self.epochs,
                  **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                     if f.name not in ("status", "skipped")}}
        if self.status is RunStatus.FAILED and self.seconds is None:
            return {key: values[key] for key in FAILURE_KEYS}
        order = ("status", "error", "resume", "epochs", "seconds", "fit_seconds", "threads", "device",
                 "batched", "resumed_from", "test_checkpoint", "monitor", "metrics", "history", "hparams")
        return {key: values[key] for key in order if key not in ("error", "resume") or values[key]}

    @classmethod
    def from_json(cls, values: dict[str, Any], skipped: bool = False) -> RunRecord:
        """A record read back from ``metrics.json`` (keys it does not know are left out)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"status", "skipped"}
        fields = {"hparams": {}, **{k: v for k, v in values.items() if k in known}}
        return cls(status=RunStatus(values.get("status", RunStatus.FAILED)), skipped=skipped, **fields)
