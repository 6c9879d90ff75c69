"""The members of a batched sweep trained at once: one LightningModule over K ``MLPModule``\\ s.

Each member is the ``MLPModule`` its own run would build (same settings, same seed, so the same
initial weights); its weights train inside one ``StackedMLP`` (``mlplab.nets.stacked``) with
``MemberSGD`` (``mlplab.training.member_sgd``: its own λ, lr and momentum). The objective is the
sum of the members' losses, so member k's gradient is exactly the gradient of its own loss:

    objective = Σₖ aliveₖ · lossₖ,        ∂objective/∂wₖ = ∂lossₖ/∂wₖ

Everything a member's run records goes under its own name: the module logs ``m<k>/val/acc`` …
(``member_key``), ``mlplab.runtime.members`` hands each member's run its own metrics, TensorBoard
run and checkpoints. The loop is the grouped one (``mlplab.training.loop``): the batched launcher
groups only jobs on which nothing acts per Lightning step. A member whose loss blows up is frozen
(``diverged``) and the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.stacked import StackedMLP, params_of
from mlplab.training.member_sgd import MemberSGD
from mlplab.training.metrics import EpochAverages
from mlplab.training.module import STAGES, Batch, MLPModule, divergence, is_group
from mlplab.training.regularization import l2_penalty, weight_l2_norm
from mlplab.training.updates import hooks_are_silent, update

ENGINES = ("stacked", "looped")


class SeparateSGD(torch.optim.Optimizer):
    """The members' own optimizers as one: ``step`` steps each living member's in turn."""

    def __init__(self, members: Sequence[torch.optim.Optimizer]) -> None:
        self.members, self.frozen = list(members), set()
        super().__init__([p for o in members for g in o.param_groups for p in g["params"]], {})

    def freeze(self, member: int) -> None:
        self.frozen.add(member)

    def step(self, closure=None):  # noqa: ANN001, ANN201 (torch's signature)
        loss = closure() if closure is not None else None
        for k, optimizer in enumerate(self.members):
            if k not in self.frozen:
                optimizer.step()
        return loss


# The settings members may differ in; everything else about them must be equal to share a pass.
PER_MEMBER = ("regularizer.weight_decay", "regularizer.dropout", "optimizer.lr", "optimizer.momentum",
              "seed")


def member_key(k: int, name: str) -> str:
    """``m3/val/acc``: member 3's ``val/acc``."""
    return f"m{k}/{name}"


def members_of(key: str) -> tuple[int, str] | None:
    """``m3/val/acc`` → (3, ``val/acc``); None for a key of no member."""
    head, _, name = key.partition("/")
    return (int(head[1:]), name) if head[:1] == "m" and head[1:].isdigit() and name else None


class StackedModule(L.LightningModule):
    """``members``: the ``MLPModule`` of each job, as its run builds it: their settings, hparams
    and history. ``engine`` says how their steps run:

        stacked  one ``StackedMLP`` holds every member's weights, ``MemberSGD`` steps them;
                 ``sync_members`` copies them into the members' networks when one is read alone
        looped   the members' own networks, one after another in each step, each with its own
                 torch SGD (``SeparateSGD``): the same arithmetic as their runs alone, where
                 stacking is not faster (``mlplab.sweeps.calibrate``)

    Either way one process, one data load, one Lightning fit, and the same outputs."""

    def __init__(self, members: Sequence[MLPModule], engine: str = "stacked") -> None:
        super().__init__()
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: one of {', '.join(ENGINES)}")
        first = members[0].settings
        self.members, self.engine = list(members), engine
        if engine == "looped":
            self.nets = torch.nn.ModuleList([m.net for m in members])
        activation = ACTIVATIONS[first.activation.name]
        # each member's own σ (to the last bit), except ReLU: torch's fused relu has the same values
        # and gradient, 1[x > 0], as the hand-written x·1[x > 0], in one pass instead of two
        fused = first.model.name == "concise" or first.activation.name == "relu"
        act = activation.builtin() if fused else activation.scratch
        self.net = None if engine == "looped" else StackedMLP.from_nets(
            [m.net for m in members], act,
            [m.settings.regularizer.probabilities(len(first.model.hidden)) for m in members],
            first.regularizer.dropout_style)
        self.save_hyperparameters(dict(members[0].hparams))  # a single model's form; each member's on save
        self.register_buffer("alive", torch.ones(len(members), dtype=torch.bool))
        self.max_loss = torch.tensor([m.max_loss for m in members])
        self.label_smoothing = first.regularizer.label_smoothing
        classifies = members[0].hparams.task == "classification"
        self.epoch_metrics = {stage: EpochAverages(with_accuracy=classifies) for stage in STAGES}
        self.divergence: dict[int, str] = {}  # member → the message its own run would have printed
        self.loop: dict[str, Any] = {"name": "grouped"}
        self._last_val: list[dict[str, float]] = [{} for _ in members]
        self._direct_updates = False

    @property
    def takes_groups(self) -> bool:
        return True

    def setup(self, stage: str) -> None:
        if stage == "fit":
            group = getattr(getattr(self.trainer.datamodule, "settings", None), "batches_per_step", 1)
            self.loop = {"name": "grouped", "minibatches_per_step": group, "members": len(self.members),
                         "engine": self.engine}
        self.automatic_optimization = False

    def forward(self, x: Tensor) -> Tensor:
        """``x`` → every member's outputs [K, B, q]."""
        if self.net is None:
            return torch.stack([net(x) for net in self.nets])
        return self.net(x)

    def losses(self, output: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
        """Each member's mean loss over the minibatch: [K, B, q] outputs → [K]."""
        k, b, q = output.shape
        if self.hparams.task == "classification":
            each = F.cross_entropy(output.reshape(k * b, q), y.repeat(k), reduction="none",
                                   label_smoothing=label_smoothing)
        else:
            target = y.reshape(b, q).repeat(k, 1)
            each = F.mse_loss(output.reshape(k * b, q), target, reduction="none").mean(1) / 2
        return each.view(k, b).mean(dim=1)

    def _step(self, batch: Batch, stage: str) -> Tensor:
        x, y = batch
        output = self(x)
        losses = self.losses(output, y, self.label_smoothing if stage == "train" else 0.0)
        self.epoch_metrics[stage].update(losses, output, y)
        return losses

    def training_step(self, batch: Batch | list[Batch], batch_idx: int) -> None:
        """One update per minibatch for every living member; then the members whose loss blew up
        in this step are frozen, each with the message its own run would have stopped with."""
        optimizer = self.optimizers()
        losses = []
        for minibatch in batch if is_group(batch) else [batch]:
            each = self._step(minibatch, "train") + self.penalties()
            update(self, optimizer, torch.where(self.alive, each, torch.zeros_like(each)).sum(),
                   direct=self._direct_updates)
            losses.append(each.detach())
        self.check_finite(torch.stack(losses), first_update=self.trainer.global_step - len(losses) + 1)

    def check_finite(self, losses: Tensor, first_update: int) -> None:
        """``losses`` [updates, K]: freeze each living member with a loss that is NaN, ±inf or
        above its ``max_loss`` (one host sync per step)."""
        bad = ~(losses.abs() <= self.max_loss.to(losses.device)) & self.alive
        if not bool(bad.any()):
            return
        for k in bad.any(dim=0).nonzero().flatten().tolist():
            first = int(bad[:, k].nonzero()[0])
            self.divergence[k] = divergence(float(losses[first, k]), first_update + first, self.current_epoch,
                                            self.members[k].settings.optimizer.lr)
            self.alive[k] = False
            self.optimizers().optimizer.freeze(k)
        if not bool(self.alive.any()):  # nothing is left to train
            self.trainer.should_stop = True

    def penalties(self) -> Tensor | float:
        """λₖ/2·‖wₖ‖² of each looped member whose λ is a penalty (the scratch model's, as its run
        adds it, ``MLPModule.objective``); 0 for the stack, whose ``MemberSGD`` applies every λ."""
        if self.net is not None:
            return 0.0
        terms = [l2_penalty(m.net, m.settings.regularizer.weight_decay)
                 if m.decay_mode == "penalty" and m.settings.regularizer.weight_decay > 0
                 else torch.zeros((), device=self.device) for m in self.members]
        return torch.stack(terms)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_epoch(self, stage: str) -> list[dict[str, float]]:
        """Each living member's averages, logged as ``m<k>/<stage>/…``."""
        metrics = self.epoch_metrics[stage]
        values = metrics.compute()
        metrics.reset()
        rows = []
        for k in range(len(self.members)):
            row = {f"{stage}/{name}": float(v[k]) for name, v in values.items()}
            rows.append(row)
            if bool(self.alive[k]):  # a frozen member's run ended when it diverged
                self.log_dict({member_key(k, name): v for name, v in row.items()}, prog_bar=False)
        return rows

    def on_validation_epoch_end(self) -> None:
        rows = self._log_epoch("val")
        if not self.trainer.sanity_checking:
            self._last_val = rows

    def on_train_epoch_end(self) -> None:
        rows = self._log_epoch("train")
        norms = self.weight_norms()
        for k, member in enumerate(self.members):
            if not bool(self.alive[k]):
                continue
            lr = member.settings.optimizer.lr
            self.log(member_key(k, "weights/l2_norm"), norms[k])
            self.log(member_key(k, "train/lr"), lr)
            member.history.append({"epoch": self.current_epoch, **rows[k], **self._last_val[k],
                                   "weights/l2_norm": float(norms[k])})
        self._last_val = [{} for _ in self.members]

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    @torch.no_grad()
    def weight_norms(self) -> Tensor:
        """‖wₖ‖ = sqrt(Σ ‖Wₖ‖²) of every member (``mlplab.training.regularization.weight_l2_norm``)."""
        if self.net is None:
            return torch.stack([weight_l2_norm(net) for net in self.nets])
        total = torch.zeros(len(self.members), device=self.net.W1.device)
        for i, (w, _) in enumerate(self.net.layers()):
            total += w.pow(2).sum(dim=(0, 2) if i == 0 else (1, 2))
        return total.sqrt()

    def configure_optimizers(self) -> MemberSGD | SeparateSGD:
        """SGD with each member's lr, momentum and λ (weights only; penalty and optimizer modes of
        λ give the same SGD step, ``mlplab.training.regularization``)."""
        if self.net is None:  # each member's own optimizer, as its MLPModule builds it
            return SeparateSGD([m.configure_optimizers() for m in self.members])
        s = [m.settings for m in self.members]
        layers = self.net.layers()
        dims = [1] + [0] * (len(layers) - 1)
        groups = [{"params": [w for w, _ in layers], "member_dims": dims, "decayed": True},
                  {"params": [b for _, b in layers], "member_dims": [0] * len(layers), "decayed": False}]
        return MemberSGD(groups, lr=torch.tensor([m.optimizer.lr for m in s]),
                         momentum=torch.tensor([float(getattr(m.optimizer, "momentum", 0.0)) for m in s]),
                         weight_decay=torch.tensor([m.regularizer.weight_decay for m in s]),
                         nesterov=bool(getattr(s[0].optimizer, "nesterov", False)))

    def on_fit_start(self) -> None:
        # each member where the fit runs, as its own run's module would be (its network is read
        # there: checkpoints, histograms, the validation pictures)
        for member in self.members:
            member.to(self.device)

    def on_train_start(self) -> None:
        self._direct_updates = hooks_are_silent(self.trainer, self)

    # ---- each member as a single model ------------------------------------------------------

    def sync_members(self) -> None:
        """Every member's network ← its stacked weights."""
        for k in range(len(self.members)):
            self.sync_member(k)

    def sync_member(self, k: int) -> None:
        """Member k's network ← its stacked weights (looped: they are its network already)."""
        if self.net is not None:
            self.net.copy_into(k, self.members[k].net)

    def load_members(self, nets: dict[int, torch.nn.Module]) -> None:
        """Stacked weights of member k ← ``nets[k]`` (e.g. its best checkpoint, for the test)."""
        for k, net in nets.items():
            if self.net is None:
                self.nets[k].load_state_dict(net.state_dict())
            else:
                self.net.load_member(k, net)

    def member_optimizer_state(self, k: int) -> dict[str, Any]:
        """What member k's own ``SGD`` would save: built by its ``MLPModule`` on its network, with
        member k's momentum buffers."""
        if self.net is None:
            return self.optimizers().optimizer.members[k].state_dict()
        member = self.members[k]
        optimizer = member.configure_optimizers()
        if not getattr(member.settings.optimizer, "momentum", 0.0):  # SGD keeps no state then
            return optimizer.state_dict()
        sgd: MemberSGD = self.optimizers().optimizer
        layers = zip(params_of(member.net), self.net.layers())
        for i, ((w_own, transposed, b_own), (w, b)) in enumerate(layers):
            for own, param, dim, flip in ((w_own, w, 1 if i == 0 else 0, transposed), (b_own, b, 0, False)):
                buf = sgd.member_state(param, k, dim)
                if buf is not None:
                    optimizer.state[own]["momentum_buffer"] = (buf.T if flip else buf).to(own.device)
        return optimizer.state_dict()
