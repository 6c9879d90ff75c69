"""K MLPs of one shape side by side: the members of a batched sweep, trained on the same minibatches.

Member k is the network ``W₁ᵏ, b₁ᵏ, …`` of d2l 4.2; all K run in one pass:

    H₁ = σ(X [W₁¹ … W₁ᴷ] + [b₁¹ … b₁ᴷ])     one GEMM [B, d] × [d, K·h]: the input is shared
    H_{l+1} = σ(H_l W_{l+1} + b_{l+1})       batched matmul over members [K, B, h] × [K, h, h']
    O = H_L W_out + b_out                    [K, B, q]: member k's outputs are O[k]

The first layer holds most of the weights (784·256 of 784·256 + 256·10), so most of the work is
one plain matrix product, the fast path of every BLAS (and of bf16 on a CPU with AVX-512-BF16),
where K separate products, or a batched one, are not. Each member has its own dropout p per
layer and its own masks (``mlplab.nets.dropout``'s two styles). ``from_nets`` stacks networks
built by ``ModuleSettings.build_net`` (ScratchMLP or ConciseMLP); ``copy_into`` writes member k back into
one, so a member's checkpoint is a single model's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from mlplab.nets.concise import ConciseMLP
from mlplab.nets.scratch import ScratchMLP


def layers_of(net: nn.Module) -> list[tuple[Tensor, Tensor]]:
    """``[(W [inputs, outputs], b [outputs]), …]`` of a scratch or concise MLP, input to output
    (a concise ``nn.Linear`` keeps ``W`` transposed; these are views of its parameters)."""
    return [(w.T if transposed else w, b) for w, transposed, b in params_of(net)]


def params_of(net: nn.Module) -> list[tuple[nn.Parameter, bool, nn.Parameter]]:
    """``[(W, transposed, b), …]``: the parameters behind ``layers_of`` (``transposed``: the
    parameter holds Wᵀ, as ``nn.Linear`` does)."""
    if isinstance(net, ScratchMLP):
        return [(w, False, b) for w, b in net.layers()]
    if isinstance(net, ConciseMLP):
        return [(m.weight, True, m.bias) for m in net if isinstance(m, nn.Linear)]
    raise TypeError(f"cannot stack a {type(net).__name__}: only ScratchMLP and ConciseMLP")


def keep_masks(shape: torch.Size, p: Tensor, device: torch.device) -> Tensor:
    """Bernoulli(1 − p) keep masks from 16 random bits per unit (a quarter of the generator calls
    of one float per unit, which dominated a stacked step): keep ⇔ r ≥ round(65536·p) − 32768 for
    r uniform on the int16 range, so P(keep) = 1 − p to within 2⁻¹⁷; p = 0 keeps every unit and
    p = 1 none, exactly."""
    count = 1
    for size in shape:
        count *= size
    words = torch.randint(-(2**63), 2**63 - 1, (-(-count // 4),), dtype=torch.int64, device=device)
    bits = words.view(torch.int16)[:count].view(shape)
    return bits >= (p * 65536).round().to(torch.int32) - 32768


def stacked_dropout(h: Tensor, p: Tensor, training: bool, style: str, member_dim: int = 0) -> Tensor:
    """Dropout of member k's units with probability ``p[k]`` (``p``: [K]; ``h``: [K, B, h], or
    [B, K, h] with ``member_dim=1``), each member as ``mlplab.nets.dropout.dropout`` would (inverted:
    kept units × 1/(1 − p); classic: × (1 − p) at evaluation); p = 0 keeps ``h`` exactly, p = 1
    gives zeros. The masks are drawn by ``keep_masks``."""
    shape = [1, 1, 1]
    shape[member_dim] = -1
    p = p.view(shape)
    if not training:
        return h if style == "inverted" else h * (1.0 - p).to(h.dtype)
    keep = keep_masks(h.shape, p, h.device)
    scale = torch.ones_like(p) if style == "classic" else \
        torch.where(p < 1, 1.0 / (1.0 - p).clamp_min(1e-12), torch.zeros_like(p))
    return h * torch.where(keep, scale.to(h.dtype), torch.zeros((), dtype=h.dtype, device=h.device))


class StackedMLP(nn.Module):
    """K members: ``W1`` is [d, K, h] (viewed as [d, K·h] for the shared GEMM), every later
    ``Wl`` is [K, in, out], every ``bl`` is [K, out]; ``dropout`` is [K, hidden layers]."""

    def __init__(self, sizes: Sequence[int], members: int, activation: Callable[[Tensor], Tensor],
                 dropout: Tensor, dropout_style: str = "inverted") -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError("a network needs an input and an output size")
        self.sizes, self.members = list(sizes), members
        self.act, self.dropout_style = activation, dropout_style
        self.register_buffer("dropout", dropout.reshape(members, len(sizes) - 2).float())
        self.read_drops()
        self.register_load_state_dict_post_hook(lambda module, _keys: module.read_drops())
        d, out = sizes[0], sizes[1]
        self.W1 = nn.Parameter(torch.zeros(d, members, out))
        self.b1 = nn.Parameter(torch.zeros(members, out))
        for k, (fan_in, fan_out) in enumerate(zip(sizes[1:], sizes[2:]), start=2):
            setattr(self, f"W{k}", nn.Parameter(torch.zeros(members, fan_in, fan_out)))
            setattr(self, f"b{k}", nn.Parameter(torch.zeros(members, fan_out)))
        self.num_layers = len(sizes) - 1

    @classmethod
    def from_nets(cls, nets: Sequence[nn.Module], activation: Callable[[Tensor], Tensor],
                  dropout: Sequence[Sequence[float]], dropout_style: str = "inverted") -> StackedMLP:
        """The members ``nets`` (same shape), their weights copied in."""
        first = layers_of(nets[0])
        sizes = [first[0][0].shape[0], *(w.shape[1] for w, _ in first)]
        stacked = cls(sizes, len(nets), activation, torch.tensor(dropout, dtype=torch.float32), dropout_style)
        with torch.no_grad():
            for k, net in enumerate(nets):
                stacked.load_member(k, net)
        return stacked

    def read_drops(self) -> None:
        """``drops[l]``: whether hidden layer l drops units for any member, read from ``dropout``
        when it is set (built or loaded), not in every step, where reading it would wait for a GPU."""
        self.drops = [bool(p.any()) for p in self.dropout.T.cpu()]

    def layers(self) -> list[tuple[Tensor, Tensor]]:
        return [(getattr(self, f"W{k}"), getattr(self, f"b{k}")) for k in range(1, self.num_layers + 1)]

    def member_layers(self, k: int) -> list[tuple[Tensor, Tensor]]:
        """Member k's ``(W [in, out], b)`` as views of the stacked parameters."""
        return [(w[:, k] if i == 0 else w[k], b[k]) for i, (w, b) in enumerate(self.layers())]

    @torch.no_grad()
    def load_member(self, k: int, net: nn.Module) -> None:
        """Member k ← the weights of ``net``."""
        for (w, b), (w_net, b_net) in zip(self.member_layers(k), layers_of(net)):
            w.copy_(w_net)
            b.copy_(b_net)

    @torch.no_grad()
    def copy_into(self, k: int, net: nn.Module) -> nn.Module:
        """``net`` ← member k's weights; returns ``net``."""
        for (w, b), (w_net, b_net) in zip(self.member_layers(k), layers_of(net)):
            w_net.copy_(w)
            b_net.copy_(b)
        return net

    def forward(self, x: Tensor) -> Tensor:
        """``x`` [B, …] → outputs [K, B, q]."""
        x = x.reshape(x.shape[0], self.sizes[0])
        (w1, b1), *rest = self.layers()
        d, batch = self.sizes[0], x.shape[0]
        h = torch.addmm(b1.reshape(-1), x, w1.reshape(d, -1)).view(batch, self.members, -1)
        member_dim = 1  # the first layer's output is [B, K, h]; elementwise work stays contiguous
        for layer, (w, b) in enumerate(rest):
            h = self.act(h)
            if self.drops[layer]:
                h = stacked_dropout(h, self.dropout[:, layer], self.training, self.dropout_style, member_dim)
            h = torch.baddbmm(b.unsqueeze(1), h.transpose(0, 1) if member_dim else h, w)  # [K, B, out]
            member_dim = 0
        return h.transpose(0, 1) if member_dim else h  # hidden=[] (a linear model): the GEMM is all
