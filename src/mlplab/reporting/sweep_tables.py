"""A multirun's summary as tables: ``summary.csv`` (full precision), ``summary.md`` (rounded: the
table, then the best job's line, and a table over seeds when the sweep varies ``seed``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from mlplab.config.monitor import validation_metrics
from mlplab.reporting.seeds import Configuration, markdown_rows
from mlplab.reporting.sweep_rows import matching_test_metric, override_keys, override_values, unique


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
