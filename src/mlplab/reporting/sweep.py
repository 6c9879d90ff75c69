"""Summary of a Hydra multirun: one row per job, the best job by validation, a heatmap of a 2-key grid.

    logs/multiruns/<time>/  0/ 1/ …  summary.csv  summary.md  best.json  [heatmap.png]
                                     [summary_seeds.csv]  (a sweep that varies seed)

Model selection as d2l 4.4 does it: the winner is the finished job with the best *validation*
value (max for an accuracy, min for a loss); the test set only reports how the winner does, it
never ranks. A sweep that varies ``seed`` is also summarized per configuration (its overrides but
the seed; ``reporting.seeds`` says how): ``summary.md`` gets a second table, "over seeds", with
``mean ± std (n)`` of every number over each configuration's finished seeds (sample std, ddof=1),
``summary_seeds.csv`` the same at full precision (``<metric> mean``/``std``/``n`` columns;
``summary.csv`` keeps one row per job), ``best.json`` adds ``best_configuration`` (the best mean
validation value among the configurations whose every seed finished: overrides, monitor, mode,
mean, std, n, jobs, seeds, the other metrics' spreads), and the heatmap shows those means over the
two keys other than seed. Runs by itself (``python -m mlplab.reporting.sweep <multirun dir>``) or,
as the Hydra callback ``SweepSummary``, when a multirun ends.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra.experimental.callback import Callback
from matplotlib.figure import Figure  # a bare Figure renders PNGs with Agg; no pyplot, no display
from omegaconf import DictConfig

from mlplab.config.monitor import better_mode, validation_metrics
from mlplab.errors import UserError, describe_os_error
from mlplab.files import atomic_path, holder, write_json, write_text
from mlplab.outcomes import BUSY_EXIT, FAILED_EXIT, USER_EXIT, fail, report
from mlplab.records import RunStatus
from mlplab.reporting.seeds import (
    Configuration,
    best_configuration,
    configurations,
    csv_rows,
    is_seed,
    markdown_rows,
    seeds_vary,
)

log = logging.getLogger(__name__)

BEST_KEYS = ("job", "overrides", "monitor", "mode", "val", "test")


# ---- reading the jobs -------------------------------------------------------------------------

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


def read_overrides(job_dir: Path) -> list[str]:
    """The job's command-line overrides as Hydra recorded them, e.g. ``regularizer.dropout=0.2``."""
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
    return [str(o) for o in overrides]


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


# ---- choosing the best ------------------------------------------------------------------------

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


# ---- the table --------------------------------------------------------------------------------

def unique(values: list[Any]) -> list[Any]:
    """``values`` without repeats, in order of first appearance (the order of the sweep)."""
    return list(dict.fromkeys(values))


def override_keys(rows: list[dict[str, Any]]) -> list[str]:
    return unique([key for r in rows for key in override_values(r)])


def varying_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Override keys that take more than one value across the jobs (the axes of the grid)."""
    return [k for k in override_keys(rows) if len({override_values(r).get(k) for r in rows}) > 1]


def heatmap_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The varying keys a heatmap can have as axes: all of them, but the seed where means are shown."""
    keys = varying_keys(rows)
    return [k for k in keys if not is_seed(k)] if seeds_vary(rows) else keys


def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and body: job, one column per override key, val metric, test metric, weight norm,
    epochs, seconds, status. A sweep that mixes metrics (accuracy and loss) gets a column for each."""
    keys = override_keys(rows)
    vals = unique([r["monitor"] for r in rows if r["monitor"]]) or [validation_metrics()[0]]
    tests = [matching_test_metric(v) for v in vals]
    header = ["job", *keys, *vals, *tests, "weights/l2_norm", "epochs", "seconds", "status"]
    body = [[r["job"], *(override_values(r).get(k) for k in keys),
             *(r["val"] if r["monitor"] == v else None for v in vals),
             *(r["test"].get(t) for t in tests),
             r["weights/l2_norm"], r["epochs"], r["seconds"], r["status"]] for r in rows]
    return header, body


def to_csv(header: list[str], body: list[list[Any]]) -> str:
    """Full-precision values; a missing one is an empty field."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *body])
    return buffer.getvalue()


def cell(column: str, value: Any) -> str:
    """A Markdown cell: metrics to 4 decimals, seconds to 1, nothing for a missing value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if column == "seconds" else f"{value:.4f}"
    return str(value).replace("|", r"\|")


def to_markdown(header: list[str], body: list[list[Any]]) -> str:
    lines = [header, ["---"] * len(header), *([cell(c, v) for c, v in zip(header, row)] for row in body)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def seeds_markdown(keys: list[str], configs: list[Configuration], best: Configuration | None,
                   metric: str) -> str:
    """summary.md's part "over seeds": a row per configuration (its ``keys``), the best one's line."""
    header, body = markdown_rows(configs, keys)
    return (f"over seeds: mean ± sample std (n finished seeds) of each configuration\n\n"
            f"{to_markdown(header, body)}\n{best_configuration_line(best, metric)}\n")


def best_configuration_line(best: Configuration | None, metric: str) -> str:
    """``best configuration by mean val/acc: a=1 (jobs 0 2 4): val/acc 0.8512 ± 0.0031 (3), test/acc …``."""
    if best is None:
        return f"best configuration by mean {metric}: none (no configuration whose every seed finished)"
    names = [best.monitor, matching_test_metric(best.monitor)]
    scores = ", ".join(f"{name} {best.metrics[name]}" for name in names if name in best.metrics)
    return (f"best configuration by mean {best.monitor}: {' '.join(best.overrides) or 'no overrides'} "
            f"(jobs {' '.join(map(str, best.jobs))}): {scores}")


def best_line(best: dict[str, Any] | None, metric: str) -> str:
    """``best by val/acc: job 3 (a=1 b=2): val/acc 0.8710, test/acc 0.8655``."""
    if best is None:
        return f"best by {metric}: none (no finished job with a finite {metric})"
    test = matching_test_metric(metric)
    score = best["test"].get(test)
    return (f"best by {metric}: job {best['job']} ({' '.join(best['overrides']) or 'no overrides'}): "
            f"{metric} {best['val']:.4f}, {test} {'n/a' if score is None else f'{score:.4f}'}")


# ---- the heatmap ------------------------------------------------------------------------------

def heatmap_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``overrides``, ``value``, ``label`` of each cell: a job's validation value, or, in a sweep that
    varies the seed, a configuration's mean over its seeds (labelled ``mean ± std``).

    NaN (no colour) for a job that did not finish, labelled with its status, and for a configuration
    with a seed that did not, labelled with how many did: it does not compete for best either."""
    if not seeds_vary(rows):
        return [{"overrides": r["overrides"], "value": r["val"], "label": f"{r['val']:.4f}"}
                if r["status"] == RunStatus.FINISHED and r["val"] is not None else
                {"overrides": r["overrides"], "value": math.nan, "label": r["status"]} for r in rows]
    return [{"overrides": c.overrides, "value": c.val.mean,
             "label": f"{c.val.mean:.4f}" + ("" if c.val.std is None else f" ± {c.val.std:.4f}")}
            if c.complete and c.val.mean is not None else
            {"overrides": c.overrides, "value": math.nan, "label": f"{c.finished} of {len(c.jobs)} finished"}
            for c in configurations(rows)]


def heatmap_grid(rows: list[dict[str, Any]], keys: list[str]) -> tuple[list, list, np.ndarray, list]:
    """(y values, x values, validation values, cell labels) over the grid of two override keys, one
    cell per job, or per configuration where the seed varies (``heatmap_cells``)."""
    ykey, xkey = keys
    cells = heatmap_cells(rows)
    ys = unique([override_values(c).get(ykey) for c in cells])
    xs = unique([override_values(c).get(xkey) for c in cells])
    values = np.full((len(ys), len(xs)), np.nan)
    labels = [[""] * len(xs) for _ in ys]
    for c in cells:
        i, j = ys.index(override_values(c).get(ykey)), xs.index(override_values(c).get(xkey))
        values[i, j], labels[i][j] = c["value"], c["label"]
    return ys, xs, values, labels


def plot_heatmap(rows: list[dict[str, Any]], keys: list[str], metric: str, mode: str, path: Path) -> None:
    """The validation metric over the grid, each cell annotated; brighter is better in either mode."""
    ys, xs, values, labels = heatmap_grid(rows, keys)
    fig = Figure(figsize=(1.4 * len(xs) + 2.5, 1.0 * len(ys) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis" if mode == "max" else "viridis_r", aspect="auto")
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(keys[1])
    ax.set_ylabel(keys[0])
    what = f"mean {metric} over seeds" if seeds_vary(rows) else metric
    ax.set_title(f"{what}, {'higher' if mode == 'max' else 'lower'} is better")
    for (i, j), label in np.ndenumerate(np.array(labels, dtype=object)):
        ax.text(j, i, label, ha="center", va="center",
                bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0})
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


# ---- writing ----------------------------------------------------------------------------------

def summarize(sweep_dir: Path | str) -> dict[str, Any] | None:
    """Write ``summary.csv``, ``summary.md``, ``best.json``, for a sweep that varies the seed
    ``summary_seeds.csv``, and, for a grid over exactly two varying override keys (the seed not
    counted where it varies), ``heatmap.png`` into ``sweep_dir``; return the best row (None: nothing
    finished)."""
    return write_summary(Path(sweep_dir), collect(sweep_dir))


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``summarize`` for the jobs' rows already collected."""
    best = best_row(rows)
    metric = sweep_metric(rows, best)
    header, body = table(rows)
    write_text(sweep_dir / "summary.csv", to_csv(header, body))
    # the blank line ends the table; without it Markdown reads the best line as one more row
    markdown = to_markdown(header, body) + "\n" + best_line(best, metric) + "\n"
    chosen = {k: (best or {}).get(k) for k in BEST_KEYS}
    if seeds_vary(rows):
        configs = configurations(rows)
        best_config = best_configuration(configs)
        keys = [k for k in override_keys(rows) if not is_seed(k)]
        write_text(sweep_dir / "summary_seeds.csv", to_csv(*csv_rows(configs, keys)))
        markdown += "\n" + seeds_markdown(keys, configs, best_config, metric)
        chosen["best_configuration"] = best_config and best_config.as_json()
    write_text(sweep_dir / "summary.md", markdown)
    write_json(sweep_dir / "best.json", chosen)
    keys = heatmap_keys(rows)
    if len(keys) == 2:
        mode = (best or {}).get("mode") or better_mode(metric) or "max"
        plot_heatmap(rows, keys, metric, mode, sweep_dir / "heatmap.png")
    return best


class SweepSummary(Callback):
    """Hydra callback: once every job of a multirun has returned, summarize it beside the jobs;
    then exit non-zero if any job diverged or failed (the others have finished by then)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:  # one reading of the jobs for the summary and the exit line: a busy job may end between two
            rows = collect(sweep_dir)
            best = write_summary(sweep_dir, rows)
        except UserError as err:  # the jobs' own results stand; only the summary is missing
            log.error("no sweep summary: %s", err)
            return
        except OSError as err:  # the disk: the jobs' results stand, the summary can be written later
            if describe_os_error(err) is None:
                raise
            fail(f"no sweep summary: {describe_os_error(err)}", code=USER_EXIT,
                 then=f"the jobs' results stand; once that is fixed, write the summary with: "
                      f"python -m mlplab.reporting.sweep {sweep_dir}")
        log.info("sweep summary in %s (best: %s)", sweep_dir / "summary.md",
                 "none finished" if best is None else f"job {best['job']}")
        ended = (RunStatus.FINISHED, RunStatus.PRUNED, RunStatus.BUSY)
        busy = ", ".join(f"job {r['job']} (process {r['pid'] or 'unknown'})"
                         for r in rows if r["status"] == RunStatus.BUSY)
        unfinished = [r for r in rows if r["status"] not in ended]
        if unfinished:
            jobs = ", ".join(f"job {r['job']} {r['status']}" for r in unfinished)
            fail(f"{len(unfinished)} of the sweep's jobs did not finish ({jobs}); see "
                 f"{sweep_dir / 'summary.md'} and each job's metrics.json"
                 + (f"; still running in another process: {busy}" if busy else ""), code=FAILED_EXIT)
        if busy:
            print(f"busy: still running in another process: {busy}; once they end, run this command "
                  f"again: it picks up what they leave and completes the summary", file=sys.stderr)
            raise SystemExit(BUSY_EXIT)


def main(argv: list[str] | None = None) -> None:
    """``python -m mlplab.reporting.sweep <multirun dir>``: write the summary, print the table and
    the best line."""
    parser = argparse.ArgumentParser(prog="python -m mlplab.reporting.sweep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. logs/multiruns/<time>")
    sweep_dir = parser.parse_args(argv).sweep_dir
    try:
        summarize(sweep_dir)
    except (UserError, OSError) as err:  # OSError: the disk; report keeps a bug's traceback
        report(err)
    print((sweep_dir / "summary.md").read_text(), end="")


if __name__ == "__main__":
    main()
