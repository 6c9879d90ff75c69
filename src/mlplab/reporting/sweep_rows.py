"""The jobs of a multirun as rows, and the best of them (d2l 4.4's model selection): each job's
overrides, status and metrics from its folder, and the finished job with the best *validation*
value (max for an accuracy, min for a loss); the test set never ranks.

    row = {job, overrides, status, error, monitor, mode, val, test, weights/l2_norm, epochs, seconds, pid}
    best = argmax over finished rows of sign(mode) · val
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from mlplab.config.monitor import better_mode, validation_metrics
from mlplab.errors import UserError
from mlplab.files import holder
from mlplab.records import RunStatus


def job_number(folder: Path) -> int | None:
    """The job a folder of a multirun holds: its name (``hydra.sweep.subdir``'s default,
    ``${hydra.job.num}``), else ``hydra.job.num`` in its ``.hydra/hydra.yaml`` (a subdir named
    otherwise, ``job${hydra.job.num}``); None for a folder that is no job's."""
    if folder.name.isdecimal():
        return int(folder.name)
    try:
        return int(yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job folders of a multirun (``0/``, ``1/``, …), in job-number order (10 after 9)."""
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir} is not a folder; give a multirun folder such as "
                        f"logs/multiruns/<time>/ written by `mlplab-train -m …`")
    jobs = sorted((number, p) for p in sweep_dir.iterdir()
                  if p.is_dir() and (number := job_number(p)) is not None)
    if not jobs:
        raise UserError(f"{sweep_dir} holds no job folders (0/, 1/, …); give a multirun folder "
                        f"such as logs/multiruns/<time>/ written by `mlplab-train -m …`")
    return [p for _, p in jobs]


# How a sweep was resumed, not what a job computed: Hydra records it in every job's overrides.yaml
# (those skipped too) when the resume gives it, but it is no column of the summary, nor in best.json.
RESUME_FLAGS = ("retry_failed",)


def read_overrides(job_dir: Path) -> list[str]:
    """The job's command-line overrides as Hydra recorded them, e.g. ``regularizer.dropout=0.2``
    (but ``RESUME_FLAGS``)."""
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    try:
        overrides = yaml.safe_load(path.read_text()) or []
        if not isinstance(overrides, list):
            raise ValueError(f"a list of overrides was expected, found {type(overrides).__name__}")
    except (yaml.YAMLError, ValueError) as err:
        first_line = str(err).splitlines()[0]
        raise UserError(f"{path} is damaged ({first_line}); restore it (the sweep's sweep.json lists "
                        f"every job's overrides) or delete {job_dir} to run the job again") from None
    return [str(o) for o in overrides if str(o).lstrip("+~").partition("=")[0] not in RESUME_FLAGS]


def override_values(row: dict[str, Any]) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` → ``{"a.b": "1", "c": "x"}``; values stay the strings that were given."""
    return dict(o.partition("=")[::2] for o in row["overrides"])


def read_result(job_dir: Path) -> dict[str, Any]:
    """The job's ``metrics.json``; a job that wrote none (it crashed or was killed) counts as failed;
    a job whose folder a live process holds is ``busy`` (it runs elsewhere: what it has written so
    far is not its result)."""
    if (pid := holder(job_dir)) is not None:
        return {"status": RunStatus.BUSY, "error": f"running in process {pid or 'unknown'}", "pid": pid}
    path = job_dir / "metrics.json"
    if not path.is_file():
        return {"status": RunStatus.FAILED, "error": "no metrics.json"}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        return {"status": RunStatus.FAILED, "error": f"unreadable metrics.json: {err}"}


def validation(result: dict[str, Any]) -> tuple[str | None, str | None, float | None]:
    """(metric, mode, value) that ranks the job: the checkpoint monitor's best value, else the
    final ``val/acc`` (max) or ``val/loss`` (min); all ``None`` for a job that left no metrics."""
    monitor = result.get("monitor")
    if monitor:
        return monitor["name"], monitor["mode"], monitor.get("best")
    metrics = result.get("metrics") or {}
    for name in validation_metrics():  # the job recorded no checkpoint monitor
        if name in metrics:
            return name, better_mode(name), metrics[name]
    return None, None, None


def matching_test_metric(val_metric: str) -> str:
    """The test-set score of the same quantity: ``val/acc`` → ``test/acc``, ``val/loss`` → ``test/loss``."""
    return "test/" + val_metric.rpartition("/")[2]


def job_row(job_dir: Path) -> dict[str, Any]:
    """One job, as the summary needs it."""
    result = read_result(job_dir)
    metrics = result.get("metrics") or {}
    monitor, mode, val = validation(result)
    return {
        "job": job_number(job_dir),
        "overrides": read_overrides(job_dir),
        "status": result.get("status", RunStatus.FAILED),
        "monitor": monitor,
        "mode": mode,
        "val": val,
        "test": {k: v for k, v in metrics.items() if k.startswith("test/")},
        "weights/l2_norm": metrics.get("weights/l2_norm"),
        "epochs": result.get("epochs"),
        "seconds": result.get("seconds"),
        "error": result.get("error"),
        "pid": result.get("pid"),
    }


def collect(sweep_dir: Path | str) -> list[dict[str, Any]]:
    """One row per job, in job order: ``job``, ``overrides`` (list, as given), ``status``,
    ``monitor``/``mode``/``val`` (the validation metric that ranks it), ``test`` (every ``test/*``
    metric), ``weights/l2_norm``, ``epochs``, ``seconds`` and ``error`` (None unless it failed)."""
    return [job_row(d) for d in job_dirs(Path(sweep_dir))]


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """argmax (mode max) or argmin (mode min) of the validation value over the finished jobs.

    Only jobs monitoring the same metric as the first finished one compete (an accuracy and a
    loss do not compare); ties go to the lower job number. Test scores are never looked at.
    """
    finished = [r for r in rows if r["status"] == RunStatus.FINISHED and r["val"] is not None
                and math.isfinite(r["val"])]
    if not finished:
        return None
    rivals = [r for r in finished if r["monitor"] == finished[0]["monitor"]]
    sign = 1.0 if rivals[0]["mode"] == "max" else -1.0
    return max(rivals, key=lambda r: sign * r["val"])


def sweep_metric(rows: list[dict[str, Any]], best: dict[str, Any] | None) -> str:
    """The validation metric the summary names: the winner's, else the first one any job recorded."""
    names = [r["monitor"] for r in ([best] if best else []) + rows if r["monitor"]]
    return names[0] if names else validation_metrics()[0]


def unique(values: list[Any]) -> list[Any]:
    """``values`` without repeats, in order of first appearance (the order of the sweep)."""
    return list(dict.fromkeys(values))


def override_keys(rows: list[dict[str, Any]]) -> list[str]:
    return unique([key for r in rows for key in override_values(r)])


def varying_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Override keys that take more than one value across the jobs (the axes of the grid)."""
    return [k for k in override_keys(rows) if len({override_values(r).get(k) for r in rows}) > 1]
