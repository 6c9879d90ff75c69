"""``heatmap.png`` of a sweep over a grid of two keys: each cell the validation value of its job
(or, when the sweep varies ``seed``, the mean over the cell's seeds), the best cell outlined. A search's
trials, a value each, fill no grid: no heatmap (``fills_a_grid``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # a bare Figure renders PNGs with Agg; no pyplot, no display
from matplotlib.patches import Rectangle

from mlplab.files import atomic_path
from mlplab.records import RunStatus
from mlplab.reporting.seeds import configurations, is_seed, seeds_vary
from mlplab.reporting.sweep_rows import override_values, unique, varying_keys


def heatmap_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The varying keys a heatmap can have as axes: all of them, but the seed where means are shown."""
    keys = varying_keys(rows)
    return [k for k in keys if not is_seed(k)] if seeds_vary(rows) else keys


def fills_a_grid(rows: list[dict[str, Any]], keys: list[str]) -> bool:
    """Whether the cells (jobs, or configurations over seeds) fill the grid of the two keys' values,
    as a grid sweep's do: an Optuna search draws new values each trial, a diagonal of a grid
    that would be mostly empty."""
    cells = {tuple(override_values(c).get(k) for k in keys) for c in heatmap_cells(rows)}
    return len(cells) == len({y for y, _ in cells}) * len({x for _, x in cells})


def best_cell(values: np.ndarray, mode: str) -> tuple[int, int] | None:
    """The (row, column) of the best value (``mode``: max or min), None when no cell finished."""
    if np.isnan(values).all():
        return None
    flat = np.nanargmax(values) if mode == "max" else np.nanargmin(values)
    return tuple(int(i) for i in np.unravel_index(flat, values.shape))


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
    """The validation metric over the grid, each cell annotated, the best one outlined; brighter is
    better in either mode."""
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
    if (best := best_cell(values, mode)) is not None:
        i, j = best
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=3))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
