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

The rows and the best of them: ``reporting.sweep_rows``; the tables: ``reporting.sweep_tables``;
the picture: ``reporting.heatmap``; the spreads over seeds: ``reporting.seeds``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mlplab.config.monitor import better_mode
from mlplab.errors import UserError, describe_os_error
from mlplab.files import write_json, write_text
from mlplab.outcomes import BUSY_EXIT, FAILED_EXIT, USER_EXIT, fail, report
from mlplab.records import RunStatus
from mlplab.reporting.heatmap import fills_a_grid, heatmap_keys, plot_heatmap
from mlplab.reporting.seeds import (
    best_configuration,
    configurations,
    csv_rows,
    is_seed,
    seeds_vary,
)
from mlplab.reporting.sweep_rows import best_row, collect, override_keys, sweep_metric
from mlplab.reporting.sweep_tables import (
    best_line,
    seeds_markdown,
    table,
    to_csv,
    to_markdown,
)

log = logging.getLogger(__name__)

BEST_KEYS = ("job", "overrides", "monitor", "mode", "val", "test")


def summarize(sweep_dir: Path | str) -> dict[str, Any] | None:
    """Write ``summary.csv``, ``summary.md``, ``best.json``, for a sweep that varies the seed
    ``summary_seeds.csv``, and, for a grid over exactly two varying override keys (the seed not
    counted where it varies) whose jobs fill that grid, ``heatmap.png`` into ``sweep_dir``; return
    the best row (None: nothing finished)."""
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
    if len(keys) == 2 and fills_a_grid(rows, keys):
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
