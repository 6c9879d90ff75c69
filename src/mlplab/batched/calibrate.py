"""How a group's steps run fastest on this device: stacked or one member after another, and, for bf16
on a CPU without bf16 instructions, whether bf16 at all.

Measured, not assumed: on a GPU a 784-256-10 step uses a sliver of the device, so K members in
one pass cost little more than one; on a CPU both ways do the same arithmetic and either may win
(``make bench --sweep`` shows it). A few SGD steps of the group's shape, batch size, device and
precision, both ways (stacked: ``StackedMLP`` + ``MemberSGD``; separate: K networks, K SGDs):

    stacking pays  ⇔  t_stacked < 1.1 · t_separate

The 10 % margin is for what timing the arithmetic leaves out: a group fit also saves K − 1 data
loads and Lightning set-ups. The engine's step is t(p) = t_stacked where stacking pays, else
t_separate, in precision p.

bf16 where the CPU has no bf16 instructions (``mlplab.runtime.precision``) can cost over ten times
fp32 (0.07× fp32's speed measured on an AVX2 EPYC), stacked or not; there the fp32 steps are timed
too, and the group keeps its bf16 only where that is not slower:

    bf16 kept  ⇔  t(bf16) ≤ t(fp32)

else it runs in fp32 (``trainer.precision=32-true`` in every member's record), with a warning
that gives both timings. Each timing is made once per shape and precision in a process.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig

from mlplab.batched.member_sgd import MemberSGD
from mlplab.batched.net import StackedMLP
from mlplab.nets import ScratchMLP
from mlplab.nets.activations import ACTIVATIONS
from mlplab.runtime.precision import FIX, FP32, bf16_is_slow

log = logging.getLogger(__name__)
STEPS, WARMUP = 12, 3
MARGIN = 1.1  # stacking pays below MARGIN × the separate steps (module docstring)


@dataclass(frozen=True)
class GroupPath:
    """How a group runs: its engine (``stacked``, ``looped``) and, where ``auto`` replaced the
    jobs' own precision, the trainer precision it runs in (None: the jobs' own)."""

    engine: str
    precision: str | None = None


def device_and_dtype(trainer: DictConfig) -> tuple[torch.device, torch.dtype | None]:
    """Where the trainer settings put the fit, and the autocast dtype of their precision."""
    wants_gpu = str(trainer.get("accelerator", "cpu")) in ("gpu", "cuda", "auto")
    device = torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
    precision = str(trainer.get("precision", "32-true"))
    dtypes = {"bf16": torch.bfloat16, "16": torch.float16}
    dtype = next((d for prefix, d in dtypes.items() if precision.startswith(prefix)), None)
    return device, dtype


def fastest_engine(stacked_s: float, separate_s: float) -> tuple[str, float]:
    """The engine for these step times (stacked where stacking pays) and its seconds per step."""
    return ("stacked", stacked_s) if stacked_s < MARGIN * separate_s else ("looped", separate_s)


def fastest_path(cfg: DictConfig, members: int) -> GroupPath:
    """The engine (and, for bf16 on a CPU without it, the precision: module docstring) that runs
    ``members`` jobs of ``cfg``'s shape fastest on this device."""
    shape = instantiate(cfg.data, _convert_="all").shape
    device, dtype = device_and_dtype(cfg.trainer)
    batch = int(cfg.data.get("batch_size", 256))
    group = (shape["num_inputs"], tuple(cfg.model.net.hidden), shape["num_outputs"], members, batch,
             str(device))
    engine, step = fastest_engine(*_measure(*group, dtype))
    if not bf16_is_slow(cfg.trainer):
        return GroupPath(engine)
    fp32_engine, fp32_step = fastest_engine(*_measure(*group, None))
    if step <= fp32_step:
        return GroupPath(engine)
    log.warning("a %s step of %d members takes %.1f ms (%s), an fp32 one %.1f ms (%s): this CPU has no "
                "bf16 instructions, so the group runs in fp32 (%s), %s; hydra.launcher.mode=stacked or "
                "looped keeps %s", cfg.trainer.precision, members, step * 1e3, engine, fp32_step * 1e3,
                fp32_engine, FIX, fp32_engine, cfg.trainer.precision)
    return GroupPath(fp32_engine, FP32)


@functools.cache
def _measure(inputs: int, hidden: tuple[int, ...], outputs: int, members: int, batch: int, device: str,
             dtype: torch.dtype | None) -> tuple[float, float]:
    stacked_s, separate_s = step_times(inputs, hidden, outputs, members, batch, torch.device(device), dtype)
    log.info("stacking %d members of %d-%s-%d on %s in %s: %.2f ms per step, %.2f ms one after another: %s",
             members, inputs, "-".join(map(str, hidden)), outputs, device, dtype or torch.float32,
             stacked_s * 1e3, separate_s * 1e3,
             "stacked" if fastest_engine(stacked_s, separate_s)[0] == "stacked" else "one after another")
    return stacked_s, separate_s


def step_times(inputs: int, hidden: tuple[int, ...], outputs: int, members: int, batch: int,
               device: torch.device, dtype: torch.dtype | None) -> tuple[float, float]:
    """Seconds per SGD step of all ``members``: stacked, and one network after another."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, inputs, generator=generator).to(device)
    y = torch.randint(0, outputs, (batch,), generator=generator).to(device)
    nets = [ScratchMLP(num_inputs=inputs, hidden=list(hidden), num_outputs=outputs).to(device)
            for _ in range(members)]
    no_dropout = [[0.0] * len(hidden)] * members
    stacked = StackedMLP.from_nets(nets, ACTIVATIONS["relu"].scratch, no_dropout).to(device)
    every = torch.full((members,), 0.1)
    sgd = MemberSGD([{"params": list(stacked.parameters()), "member_dims": [1] + [0] * (2 * len(hidden) + 1),
                      "decayed": False}], every, torch.zeros(members), torch.zeros(members))
    singles = [torch.optim.SGD(net.parameters(), lr=0.1) for net in nets]

    def stacked_step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = stacked(x)
            loss = F.cross_entropy(out.reshape(-1, outputs), y.repeat(members))
        sgd.zero_grad()
        loss.backward()
        sgd.step()

    def separate_step() -> None:
        for net, optimizer in zip(nets, singles):
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return timed(stacked_step, device), timed(separate_step, device)


def timed(step, device: torch.device) -> float:  # noqa: ANN001
    """Median seconds of ``STEPS`` calls after ``WARMUP``."""
    times = []
    for i in range(WARMUP + STEPS):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
