"""``curves.png``: train loss, train acc, val acc and val loss per epoch, the picture d2l's
``train_ch3`` animates. Drawn on a bare matplotlib ``Figure`` (rendered by Agg when saved), so
no pyplot state and no display backend is touched."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from mlplab.files import atomic_path


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """One line per metric over the epochs (metrics a run does not have, such as accuracy for
    regression, are left out)."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
