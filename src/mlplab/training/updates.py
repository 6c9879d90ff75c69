"""One SGD update, with or without Lightning's per-update hook dispatch.

Under manual optimization an update is ``manual_backward(loss)`` then ``optimizer.step()``.
Lightning routes both through the strategy and the precision plugin, which call
``on_before_backward``, ``on_after_backward`` and ``on_before_optimizer_step`` on the module and on
every callback: about 15 Python dispatches per update, a tenth of a 784-256-10 update on a CPU.
When nobody overrides those hooks, the plugin adds nothing else (no grad scaler, one device),
and the module keeps Lightning's own ``backward``, the same update is ``loss.backward()`` then the
torch optimizer's ``step()`` — with Lightning's step counter still advanced (``mlplab.compat``),
so ``global_step``, checkpoints and ``max_steps`` see every update. Any callback that listens gets
the full path.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import Tensor

from mlplab.compat import counted_step

PER_UPDATE_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def overridden(obj: object, base: type, name: str) -> bool:
    """Whether ``obj``'s class replaces ``base.name``."""
    return getattr(type(obj), name, None) is not getattr(base, name)


def hooks_are_silent(trainer: L.Trainer, module: L.LightningModule) -> bool:
    """True when skipping Lightning's per-update dispatch changes nothing but the time taken."""
    plugin = trainer.precision_plugin
    return (type(trainer.strategy) is SingleDeviceStrategy
            and type(plugin) in (Precision, MixedPrecision)  # 32-true, bf16-mixed, 16-mixed
            and getattr(plugin, "scaler", None) is None  # 16-mixed scales the loss: full path
            and not overridden(module, L.LightningModule, "backward")
            and not any(overridden(module, L.LightningModule, name) for name in PER_UPDATE_HOOKS)
            and not any(overridden(callback, L.Callback, name)
                        for callback in trainer.callbacks for name in PER_UPDATE_HOOKS))


def update(module: L.LightningModule, optimizer: LightningOptimizer, loss: Tensor,
           direct: bool) -> None:
    """``w ← optimizer(w, ∇loss)``: through Lightning's hooks, or ``direct`` when they are silent."""
    optimizer.zero_grad(set_to_none=True)
    if not direct:
        module.manual_backward(loss)
        optimizer.step()
        return
    loss.backward()
    with counted_step(optimizer):
        optimizer.optimizer.step()
