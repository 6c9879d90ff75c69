"""What several tests share: running the installed entry points, fake IDX files, TensorBoard
folders, and a module built from flat keyword arguments."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def local_defaults_note(repo: Path) -> str | None:
    """The closing note when this checkout has its own ``conf/local/default.yaml`` (git-ignored,
    loaded by every mlplab-train run, so by every one a test starts): a result CI does not see may come
    from it."""
    if not (repo / "conf" / "local" / "default.yaml").is_file():
        return None
    return ("conf/local/default.yaml (this machine's own defaults) was loaded by every mlplab-train run "
            "these tests started; CI runs without it: move it aside to test as CI does")


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Run an installed console script (``mlplab-train``, …) as a user would."""
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


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


def mlp_module(**flat):
    """``MLPModule`` from flat settings, each found in its group by name: ``mlp_module(hidden=[16],
    dropout=0.3, lr=0.5)`` is ``MLPModule(model={"net": {"_target_": "mlplab.nets.ScratchMLP",
    "hidden": [16]}}, regularizer={"dropout": 0.3}, optimizer={"lr": 0.5})``; ``net="concise"`` (or
    a class's dotted name) picks the network. Groups can also be given whole:
    ``optimizer={"_target_": "torch.optim.AdamW"}``."""
    from mlplab.config.module_settings import MODULE_GROUPS
    from mlplab.config.network import NET_PRESETS, net_class_settings
    from mlplab.config.settings import specs
    from mlplab.training.module import MLPModule

    groups = {name: dict(flat.pop(name, None) or {}) for name in MODULE_GROUPS}
    extra = {k: flat.pop(k) for k in ("max_loss", "num_inputs", "num_outputs", "task") if k in flat}
    target = flat.pop("net", None) or groups["model"].get("net", {}).get("_target_", "scratch")
    net = {**groups["model"].get("net", {}), "_target_": NET_PRESETS.get(target, target)}
    net_keys = {s.name for s in specs(net_class_settings(net["_target_"]))}
    for key in [k for k in flat if k in net_keys]:
        net[key] = flat.pop(key)
    groups["model"]["net"] = net
    for key, value in flat.items():
        owners = [g for g in groups if key in {s.name for s in specs(group_class(g, groups[g]))}]
        if not owners:
            raise TypeError(f"no group of MLPModule has a setting {key!r}")
        groups[owners[0]][key] = value
    return MLPModule(**groups, **extra)


def run_main(main, *args: str, cwd: Path):
    """Call an entry point's ``main()`` in this process as its console script would, with
    ``args`` on the command line: ``(exit status, stdout, stderr)``. Saves a process start (about
    6 s of imports here) wherever the shell around the entry point is not what is tested."""
    import contextlib
    import io

    out, err, argv, here = io.StringIO(), io.StringIO(), sys.argv, os.getcwd()
    sys.argv = [main.__module__, *args]
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def run_main_as(program: list[str], main, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``run_main`` with its outcome as the process ``program + args`` would report it (what a user
    types: ``["mlplab-train"]``, ``["python", "-m", "mlplab.reporting.sweep"]``)."""
    code, out, err = run_main(main, *args, cwd=cwd)
    return subprocess.CompletedProcess([*program, *args], code, out, err)


def build_net(name: str, **kwargs):
    """One of the chapter's two networks by its preset's name: ``build_net("scratch", hidden=[8])``."""
    from mlplab.config.network import NET_PRESETS
    from mlplab.config.signature import locate

    return locate(NET_PRESETS[name])(**kwargs)


def unavailable(reason: str) -> None:
    """A feature's test cannot run here: a skip with the reason for a developer, a failure in CI
    (``CI=true``), where ``.ci/run`` starts every service and a skip would hide a broken feature."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and {reason}")
    pytest.skip(reason)


def group_class(group: str, values: dict | None) -> type:
    """The settings class of one of the module's groups (for the optimizer and the scheduler:
    that of the class its ``_target_`` names, SGD by default)."""
    import typing

    from mlplab.config.module_settings import ModuleSettings
    from mlplab.config.optimization import optimizer_settings, preset_class, scheduler_settings

    if group == "optimizer":
        return type(optimizer_settings(values))
    if group == "scheduler":
        return type(scheduler_settings(values)) if values else preset_class("scheduler", "cosine")
    return typing.get_type_hints(ModuleSettings)[group]
