"""The figures of d2l 4.1.2: ReLU, sigmoid and tanh with their derivatives, one PNG each.

The derivatives come from autograd, as in the notes: ``y.backward(torch.ones_like(x))``.

    python scripts/plot_activations.py [--out logs/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mlplab.models.activations import ACTIVATIONS, autograd_derivative  # noqa: E402

NAMES = ("relu", "sigmoid", "tanh")


def plot_activation(name: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.png``: the function and its derivative on [−8, 8)."""
    fn = ACTIVATIONS[name].scratch
    x = torch.arange(-8.0, 8.0, 0.1)
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.plot(x, fn(x), label=f"{name}(x)")
    ax.plot(x, autograd_derivative(fn, x), "--", label=f"grad of {name}")
    ax.set_xlabel("x")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
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
