"""SGD with a learning rate, momentum and weight decay of its own for every member of a stack.

One ``torch.optim.SGD`` has one ``lr`` per parameter group, and a stacked parameter holds every
member; this optimizer keeps them as tensors over the member dimension instead. For member k,
exactly ``torch.optim.SGD``'s step (dampening 0):

    g ← ∇w + λₖ·w            (λₖ: weights only; biases are never decayed)
    v ← μₖ·v + g              (first step: v ← g)
    w ← w − ηₖ·(g + μₖ·v  if nesterov  else  v)

``member_dim`` of a parameter says which of its dimensions runs over members (0, or 1 for the
stacked first layer, ``mlplab.batched.net``). A member whose ``lr`` is set to 0 and whose
gradient is zeroed (``freeze``) stays as it is: a member that diverged stops updating.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def along(values: Tensor, param: Tensor, member_dim: int) -> Tensor:
    """``values`` [K] shaped to broadcast over ``param``'s member dimension."""
    shape = [1] * param.dim()
    shape[member_dim] = -1
    return values.view(shape)


class MemberSGD(torch.optim.Optimizer):
    """``params``: dicts of ``params``, ``member_dims`` and ``decayed`` (whether λ applies)."""

    def __init__(self, params: Sequence[dict], lr: Tensor, momentum: Tensor, weight_decay: Tensor,
                 nesterov: bool = False) -> None:
        self.lr, self.momentum, self.weight_decay = lr.clone(), momentum.clone(), weight_decay.clone()
        self.nesterov = nesterov
        self._on_device: dict[torch.device, tuple[Tensor, Tensor, Tensor]] = {}
        super().__init__(params, {"member_dims": None, "decayed": False})

    def freeze(self, member: int) -> None:
        """Member ``member`` makes no more updates."""
        self.lr[member] = 0.0
        self._on_device.clear()

    def settings_on(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """(lr, momentum, λ) on ``device``, copied there once (again after a ``freeze``): a copy
        from host memory in every step would wait for the GPU's queue, once per parameter. On the
        CPU a copy too (``copy=True``): the CPU then takes the GPU's path, and its tests see a
        freeze reach the copies."""
        if device not in self._on_device:
            self._on_device[device] = tuple(t.to(device, copy=True)
                                            for t in (self.lr, self.momentum, self.weight_decay))
        return self._on_device[device]

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 (torch's signature)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # read on the host copies: a test of a GPU tensor would wait for the GPU
        uses_momentum = bool((self.momentum != 0).any())
        frozen = bool((self.lr == 0).any())
        decays = bool((self.weight_decay != 0).any())
        for group in self.param_groups:
            for param, dim in zip(group["params"], group["member_dims"]):
                if param.grad is None:
                    continue
                lrs, momenta, decays_k = self.settings_on(param.device)
                lr = along(lrs, param, dim)
                g = param.grad
                if frozen:
                    # a frozen member's gradient may be NaN or inf: zero it, it must not spread
                    g = torch.where(lr != 0, g, torch.zeros_like(g))
                decay = along(decays_k, param, dim) if group["decayed"] and decays else None
                if not uses_momentum:  # w ← w·(1 − ηλ) − η·g: two passes over w, no temporaries
                    if decay is not None:
                        param.mul_(1 - lr * decay)
                    param.addcmul_(g, lr, value=-1)
                    continue
                if decay is not None:
                    g = g.add(param * decay)
                if uses_momentum:
                    mu = along(momenta, param, dim)
                    state = self.state[param]
                    buf = state.get("momentum_buffer")
                    buf = g.clone() if buf is None else buf.mul_(mu).add_(g)
                    state["momentum_buffer"] = buf
                    g = g.add(buf * mu) if self.nesterov else buf
                param.sub_(g * lr)
        return loss

    def member_state(self, param: Tensor, member: int, dim: int) -> Tensor | None:
        """Member ``member``'s momentum buffer of ``param``, as its own ``SGD`` would hold it."""
        buf = self.state.get(param, {}).get("momentum_buffer")
        return None if buf is None else buf.select(dim, member).clone()
