"""Shared test set-up: one data folder for every test and subprocess, and the `gpu` marker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Subprocesses run in temporary folders; they find the unpacked data here instead of
# unpacking it again into each of them.
os.environ.setdefault("MLPLAB_DATA_DIR", str(REPO / "data"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is visible here")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Run an installed console script (``mlplab-train``, …) as a user would."""
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def cli():
    return run_cli


def copy_scratch_weights(scratch, concise) -> list:
    """Give ``concise`` the weights of ``scratch``; returns its ``nn.Linear`` layers in order."""
    from torch import nn

    linears = [m for m in concise if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for (w, b), lin in zip(scratch.layers(), linears, strict=True):
            lin.weight.copy_(w.T)  # nn.Linear keeps W as [outputs, inputs]
            lin.bias.copy_(b)
    return linears


def event_dir(run_dir: Path) -> Path:
    """The folder holding a run's TensorBoard event file (named after the run's overrides)."""
    (folder,) = {events.parent for events in (run_dir / "tensorboard").rglob("events.out.tfevents.*")}
    return folder


def idx_bytes(data: torch.Tensor) -> bytes:
    """A uint8 tensor as an IDX file: magic 0x0000 08 ndim, big-endian sizes, then the bytes."""
    import struct

    return struct.pack(f">I{data.dim()}I", 0x800 + data.dim(), *data.shape) + data.numpy().tobytes()


def write_fake_fashion_mnist(root: Path, n_train: int, n_test: int) -> Path:
    """Tiny IDX files in Fashion-MNIST's layout under ``root``; training image i carries its
    index in pixel (0, 0) (so n_train ≤ 256), so tests can tell which images a batch holds."""
    from mlplab.data.fashion_mnist import FILES

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        images[:, 0, 0] = torch.arange(n)
        images_name, labels_name = FILES[split]
        (raw / images_name).write_bytes(idx_bytes(images))
        (raw / labels_name).write_bytes(idx_bytes(torch.arange(n, dtype=torch.uint8) % 10))
    return root
