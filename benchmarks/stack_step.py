"""``python -m benchmarks.stack_step``: one training step of a batched group, at K members, where a
GPU spends its time on such small networks: per-step overhead (kernel launches, waits for the
device), not arithmetic.

The step is ``StackedModule``'s (forward, every member's loss, the epoch averages, the divergence
check, backward, the optimizer), on one minibatch of random images, for K members of 784-16-10 by
default (λ differing per member, as in a sweep). Both engines side by side: ``stacked`` (one
``StackedMLP``, ``MemberSGD``) and ``looped`` (each member's network and SGD in turn). On a CPU,
tiny members show the overhead a GPU sees at any width; ``scripts/gpu_check.sh`` runs it on the
device.

    python -m benchmarks.stack_step [--device cpu|cuda] [--members 1 10 100] [--hidden 16] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.common import BATCH_SIZE, LR, clock, pick_device
from mlplab.batched.module import StackedModule
from mlplab.training.module import MLPModule

WARMUP = 5


def group(members: int, hidden: list[int], engine: str, device: torch.device) -> StackedModule:
    """``members`` scratch MLPs as a sweep over λ makes them, stacked or looped, on ``device``."""
    nets = []
    for k in range(members):
        torch.manual_seed(k)
        nets.append(MLPModule(model={"net": {"_target_": "mlplab.nets.ScratchMLP", "hidden": hidden}},
                              regularizer={"weight_decay": 1e-4 * k}, optimizer={"lr": LR}))
    stack = StackedModule(nets, engine=engine).to(device)
    for net in nets:  # as on_fit_start does
        net.to(device)
    return stack


def step_ms(stack: StackedModule, device: torch.device, steps: int) -> float:
    """Median milliseconds of one training step, the device's queue drained at each end. No
    Trainer: nothing here diverges at lr 0.1 (a divergence would ask the module for its trainer)."""
    optimizer = stack.configure_optimizers()
    x = torch.rand(BATCH_SIZE, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (BATCH_SIZE,), device=device)
    times = []
    for i in range(WARMUP + steps):
        start = clock(device)
        objective = stack.training_step((x, y), i)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        if i >= WARMUP:
            times.append(clock(device) - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--hidden", type=int, nargs="*", default=[16])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    device = pick_device(args.device)
    shape = "-".join(map(str, [784, *args.hidden, 10]))
    print(f"one training step of K members of {shape}, batch {BATCH_SIZE}, on {device} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads): median ms of {args.steps}")
    print(f"{'K':>5} {'stacked':>10} {'looped':>10} {'looped/stacked':>15} {'stacked per member':>19}")
    for n, members in enumerate(args.members):
        engines = ("stacked", "looped") if n % 2 == 0 else ("looped", "stacked")  # neither always first
        ms = {engine: step_ms(group(members, args.hidden, engine, device), device, args.steps)
              for engine in engines}
        stacked, looped = ms["stacked"], ms["looped"]
        print(f"{members:>5} {stacked:>10.2f} {looped:>10.2f} {looped / stacked:>15.2f} "
              f"{stacked / members:>19.3f}")


if __name__ == "__main__":
    main()
