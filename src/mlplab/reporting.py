"""A run's lasting outputs: ``metrics.json`` and ``curves.png`` (the picture d2l's train_ch3 draws)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling to write; renamed over ``path`` only once written, so a crash never
    leaves half a file under the final name."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Train loss, train acc, val acc and val loss per epoch on one axis, as in d2l's animator
    (curves a run does not have, such as accuracy for regression, are left out)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [row["epoch"] + 1 for row in history]
    for key, style in (("train/loss", "-"), ("train/acc", "--"), ("val/acc", "-."),
                       ("val/loss", ":")):
        values = [row.get(key) for row in history]
        if values and all(v is not None for v in values):
            ax.plot(epochs, values, style, label=key)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
