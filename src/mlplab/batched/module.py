"""The members of a batched sweep trained at once: one LightningModule over K ``MLPModule``\\ s.

Each member is the ``MLPModule`` its own run would build (same settings, same seed, so the same
initial weights); its weights train inside one ``StackedMLP`` (``mlplab.batched.net``) with
``MemberSGD`` (``mlplab.batched.member_sgd``: its own λ, lr and momentum). The objective is the
sum of the members' losses, so member k's gradient is exactly the gradient of its own loss:

    objective = Σₖ aliveₖ · lossₖ,        ∂objective/∂wₖ = ∂lossₖ/∂wₖ

Everything a member's run records goes under its own name: the module logs ``m<k>/val/acc`` …
(``member_key``), ``mlplab.batched.members`` hands each member's run its own metrics, TensorBoard
run and checkpoints. The loop is Lightning's own, with automatic optimization: ``training_step``
returns the objective of one minibatch and Lightning steps the members' optimizer. Each member's
loss is its own run's (``mlplab.training.objective``): the stack's, and every evaluation's, in one
call over all members' outputs, since the members share their data loss; the looped engine's
training losses one member at a time, each with its own penalty. A member whose loss blows up is
frozen (``diverged``) and the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor

from mlplab.batched.member_sgd import MemberSGD
from mlplab.batched.net import StackedMLP, params_of
from mlplab.nets import ConciseMLP
from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.shapes import per_layer
from mlplab.training.metrics import EpochAverages
from mlplab.training.module import STAGES, Minibatch, MLPModule, divergence
from mlplab.training.regularization import weight_l2_norm

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
                 stacking is not faster (``mlplab.batched.calibrate``)

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
        fused = isinstance(members[0].net, ConciseMLP) or first.activation.name == "relu"
        act = activation.builtin() if fused else activation.scratch
        hidden_layers = len(params_of(members[0].net)) - 1 if engine == "stacked" else 0
        self.net = None if engine == "looped" else StackedMLP.from_nets(
            [m.net for m in members], act,
            [per_layer(m.settings.regularizer.dropout, hidden_layers) for m in members],
            first.regularizer.dropout_style)
        self.save_hyperparameters(dict(members[0].hparams))  # a single model's form; each member's on save
        self.register_buffer("alive", torch.ones(len(members), dtype=torch.bool))
        self.alive_members = [True] * len(members)  # ``alive`` on the host: reading it there costs no wait
        self.max_loss = [m.max_loss for m in members]
        data_losses = {member.objective.same_data_loss() for member in members}
        if len(data_losses) > 1:  # mlplab.batched.plan groups jobs by every setting not per member
            raise ValueError(f"the members of a stack share one data loss, not {len(data_losses)}: "
                             f"{sorted(map(repr, data_losses))}")
        (self.data_loss,) = data_losses
        classifies = members[0].hparams.task == "classification"
        self.epoch_metrics = {stage: EpochAverages(with_accuracy=classifies) for stage in STAGES}
        self.divergence: dict[int, str] = {}  # member → the message its own run would have printed
        self.batched: dict[str, Any] = {"members": len(members), "engine": engine}
        self._last_val: list[dict[str, float]] = [{} for _ in members]

    def forward(self, x: Tensor) -> Tensor:
        """``x`` → every member's outputs [K, B, q]."""
        if self.net is None:
            return torch.stack([net(x) for net in self.nets])
        return self.net(x)

    def _losses(self, output: Tensor, y: Tensor, training: bool) -> tuple[Tensor, Tensor]:
        """Each member's (loss, objective) on the minibatch: [K, B, q] outputs → two [K]. Member
        k's are its own run's (``Objective``), its λ added as a penalty only where its own network
        trains (looped); the stack's ``MemberSGD`` applies every λ itself, so there the objective
        is the loss, and all members' losses come from one call (in evaluation too)."""
        if self.net is not None or not training:
            losses = self.data_loss.member_losses(output, y, training)
            return losses, losses
        pairs = [member.objective(output[k], y, member.net) for k, member in enumerate(self.members)]
        losses, objectives = zip(*pairs)
        return torch.stack(losses), torch.stack(objectives)

    def _evaluate(self, batch: Minibatch, stage: str) -> Tensor:
        x, y = batch
        output = self(x)
        losses, objectives = self._losses(output, y, training=stage == "train")
        self.epoch_metrics[stage].update(losses, output, y)
        return objectives

    def training_step(self, batch: Minibatch, batch_idx: int) -> Tensor:
        """The sum of the living members' objectives (member k's gradient is its own objective's);
        a member whose objective blew up is frozen, with the message its own run would have
        stopped with, and the others go on."""
        objectives = self._evaluate(batch, "train")
        self.check_finite(objectives.detach())
        return torch.where(self.alive, objectives, torch.zeros_like(objectives)).sum()

    def check_finite(self, objectives: Tensor) -> None:
        """Freeze each living member whose objective is NaN, ±inf or above its ``max_loss`` (one
        host sync per step)."""
        values = objectives.tolist()
        bad = [k for k, value in enumerate(values)
               if self.alive_members[k] and not abs(value) <= self.max_loss[k]]  # False for NaN too
        for k in bad:
            self.divergence[k] = divergence(values[k], self.trainer.global_step + 1, self.current_epoch,
                                            self.members[k].settings.optimizer.lr)
            self.alive[k] = self.alive_members[k] = False
            self.optimizers().optimizer.freeze(k)
        if bad and not any(self.alive_members):  # nothing is left to train
            self.trainer.should_stop = True

    def validation_step(self, batch: Minibatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Minibatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_epoch(self, stage: str) -> list[dict[str, float]]:
        """Each living member's averages, logged as ``m<k>/<stage>/…``."""
        metrics = self.epoch_metrics[stage]
        values = {name: v.tolist() for name, v in metrics.compute().items()}  # one read per metric
        metrics.reset()
        rows = []
        for k in range(len(self.members)):
            row = {f"{stage}/{name}": v[k] for name, v in values.items()}
            rows.append(row)
            if self.alive_members[k]:  # a frozen member's run ended when it diverged
                self.log_dict({member_key(k, name): v for name, v in row.items()}, prog_bar=False)
        return rows

    def on_validation_epoch_end(self) -> None:
        rows = self._log_epoch("val")
        if not self.trainer.sanity_checking:
            self._last_val = rows

    def on_train_epoch_end(self) -> None:
        rows = self._log_epoch("train")
        norms = self.weight_norms().tolist()
        for k, member in enumerate(self.members):
            if not self.alive_members[k]:
                continue
            lr = member.settings.optimizer.lr
            self.log(member_key(k, "weights/l2_norm"), norms[k])
            self.log(member_key(k, "train/lr"), lr)
            member.history.append({"epoch": self.current_epoch, **rows[k], **self._last_val[k],
                                   "weights/l2_norm": norms[k]})
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
