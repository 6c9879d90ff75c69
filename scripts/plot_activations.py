"""The figures of d2l 4.1.2: ReLU, sigmoid and tanh with their derivatives, one PNG each.

The derivatives come from autograd, as in the notes: ``y.backward(torch.ones_like(x))``.

    python scripts/plot_activations.py [--out logs/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from mlplab.reporting.dashboard import activation_figure

NAMES = ("relu", "sigmoid", "tanh")


def plot_activation(name: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.png``: the function and its derivative on [−8, 8)."""
    fig = activation_figure(name)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("logs/figures"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        print(plot_activation(name, args.out))


if __name__ == "__main__":
    main()
