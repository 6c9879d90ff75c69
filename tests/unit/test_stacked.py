"""The stack of a batched sweep against its members one by one: the forward pass of every member
(scratch and concise, linear and deep, both dropout styles at evaluation), dropout's edge cases,
MemberSGD's step against torch's SGD for each member's own lr, momentum and λ (and a member frozen
on the way), and every member's loss from one call against its own run's."""

from __future__ import annotations

import pytest
import torch
from helpers import build_net, mlp_module

from mlplab.batched.member_sgd import MemberSGD
from mlplab.batched.module import StackedModule
from mlplab.batched.net import StackedMLP, stacked_dropout
from mlplab.nets.activations import ACTIVATIONS
from mlplab.training.objective import Objective


def members(name: str, hidden: list[int], count: int, dropout: list | None = None,
            style: str = "inverted") -> list[torch.nn.Module]:
    """``count`` networks, each seeded as its own run would be (``dropout[k]``: member k's p)."""
    nets = []
    for seed in range(count):
        torch.manual_seed(seed)
        nets.append(build_net(name, num_inputs=12, hidden=hidden, num_outputs=5, activation="tanh",
                              init_std=0.3, dropout=dropout[seed] if dropout else 0.0, dropout_style=style))
    return nets


@pytest.mark.parametrize("name", ["scratch", "concise"])
@pytest.mark.parametrize("hidden", [[], [8], [8, 6]], ids=["linear", "one", "two"])
@pytest.mark.parametrize("style", ["inverted", "classic"])
def test_every_member_of_the_stack_computes_what_its_own_network_does(name, hidden, style):
    p = [[0.0] * len(hidden), [0.3] * len(hidden), [0.6] * len(hidden)]
    nets = members(name, hidden, count=3, dropout=p, style=style)  # concise: a Dropout layer when p > 0
    activation = ACTIVATIONS["tanh"]
    stacked = StackedMLP.from_nets(nets, activation.scratch if name == "scratch" else activation.builtin(),
                                   p, style).eval()
    x = torch.randn(7, 12)
    out = stacked(x)
    assert out.shape == (3, 7, 5)
    for k, net in enumerate(nets):
        torch.testing.assert_close(out[k], net.eval()(x), atol=1e-6, rtol=1e-5)


def test_copy_into_gives_a_member_back_as_a_single_network():
    nets = members("concise", [8], count=2)
    stacked = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].builtin(), [[0.0], [0.0]])
    with torch.no_grad():
        stacked.W1.mul_(2)  # train it a little
    fresh = members("concise", [8], count=1)[0]
    stacked.copy_into(1, fresh)
    torch.testing.assert_close(fresh[1].weight, 2 * nets[1][1].weight)  # nn.Linear keeps Wᵀ
    torch.testing.assert_close(fresh[3].weight, nets[1][3].weight)


def test_stacked_dropout_keeps_p0_exactly_zeros_p1_and_keeps_the_expectation():
    torch.manual_seed(0)
    h = torch.rand(3, 4000, 16) + 0.5
    out = stacked_dropout(h, torch.tensor([0.0, 1.0, 0.5]), training=True, style="inverted")
    assert torch.equal(out[0], h[0])
    assert torch.equal(out[1], torch.zeros_like(h[1]))
    assert set((out[2] / h[2]).unique().tolist()) == {0.0, 2.0}
    assert float(out[2].mean()) == pytest.approx(float(h[2].mean()), rel=0.02)
    classic = stacked_dropout(h, torch.tensor([0.0, 0.25, 0.5]), training=False, style="classic")
    torch.testing.assert_close(classic[1], 0.75 * h[1])


@pytest.mark.parametrize("decay", [[0.0, 1e-3, 0.1], [0.0, 0.0, 0.0]], ids=["decayed", "no-decay"])
@pytest.mark.parametrize(("nesterov", "with_momentum"), [(False, True), (True, True), (False, False)],
                         ids=["momentum", "nesterov", "plain"])
def test_member_sgd_takes_each_members_own_sgd_step(nesterov, with_momentum, decay):
    """Three members with their own lr, momentum and λ: five steps of MemberSGD on the stack equal
    five steps of torch's SGD on each member (λ on weights only, as mlplab's param groups), to the
    rounding of a fused multiply-add (torch's ``add(x, alpha=λ)``; a per-member λ is a tensor).
    ``plain``: no member has momentum, the step MemberSGD takes in place (w·(1 − ηλ) − η·g)."""
    lr, momentum = [0.1, 0.05, 0.2], [0.9, 0.5, 0.0 if not nesterov else 0.3]
    if not with_momentum:
        momentum = [0.0, 0.0, 0.0]
    nets = members("scratch", [8], count=3)
    stacked = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].scratch, [[0.0]] * 3)
    layers = stacked.layers()
    sgd = MemberSGD([{"params": [w for w, _ in layers], "member_dims": [1, 0], "decayed": True},
                     {"params": [b for _, b in layers], "member_dims": [0, 0], "decayed": False}],
                    torch.tensor(lr), torch.tensor(momentum), torch.tensor(decay), nesterov=nesterov)
    singles = [torch.optim.SGD([{"params": [net.W1, net.W2], "weight_decay": decay[k]},
                                {"params": [net.b1, net.b2], "weight_decay": 0.0}],
                               lr=lr[k], momentum=momentum[k], nesterov=nesterov and momentum[k] > 0)
               for k, net in enumerate(nets)]
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        for param in stacked.parameters():
            param.grad = torch.randn(param.shape, generator=generator)
        for k, net in enumerate(nets):  # member k's share of each stacked gradient
            net.W1.grad, net.b1.grad = stacked.W1.grad[:, k].clone(), stacked.b1.grad[k].clone()
            net.W2.grad, net.b2.grad = stacked.W2.grad[k].clone(), stacked.b2.grad[k].clone()
            singles[k].step()
        sgd.step()
    for k, net in enumerate(nets):
        for (w, b), (w_net, b_net) in zip(stacked.member_layers(k), net.layers()):
            torch.testing.assert_close(w, w_net, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(b, b_net, atol=1e-6, rtol=1e-5)


def two_members_with_sgd() -> tuple[list[torch.nn.Module], StackedMLP, MemberSGD]:
    """Two scratch members stacked, with MemberSGD (lr 0.1, momentum 0.9, λ 1e-3 on weights)."""
    nets = members("scratch", [8], count=2)
    stacked = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].scratch, [[0.0]] * 2)
    layers = stacked.layers()
    sgd = MemberSGD([{"params": [w for w, _ in layers], "member_dims": [1, 0], "decayed": True},
                     {"params": [b for _, b in layers], "member_dims": [0, 0], "decayed": False}],
                    torch.tensor([0.1, 0.1]), torch.tensor([0.9, 0.9]), torch.tensor([1e-3, 1e-3]))
    return nets, stacked, sgd


def test_a_frozen_member_stays_as_it_is_and_its_nan_gradient_reaches_no_one():
    nets, stacked, sgd = two_members_with_sgd()
    before = [t.detach().clone() for t in stacked.parameters()]
    sgd.freeze(0)
    for param in stacked.parameters():
        param.grad = torch.ones_like(param)
    stacked.W1.grad[:, 0] = float("nan")
    sgd.step()
    untouched = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].scratch, [[0.0]] * 2)
    for (w, b), (w0, b0) in zip(stacked.member_layers(0), untouched.member_layers(0)):
        assert torch.equal(w, w0) and torch.equal(b, b0)
    assert all(torch.isfinite(t).all() for t in stacked.parameters())
    assert not torch.equal(stacked.W2[1], before[2][1])  # member 1 moved


def test_a_member_frozen_between_steps_makes_no_more_updates_and_the_others_go_on():
    """Freezing after steps were taken (as a member that diverges mid-fit is): the step after it
    leaves the member as it was, momentum and λ notwithstanding."""
    _, stacked, sgd = two_members_with_sgd()
    for param in stacked.parameters():
        param.grad = torch.ones_like(param)
    sgd.step()
    frozen_at = [t.detach().clone() for t in stacked.member_layers(0)[0]]
    other_at = stacked.W2[1].detach().clone()
    sgd.freeze(0)
    sgd.step()
    assert all(torch.equal(now, then) for now, then in zip(stacked.member_layers(0)[0], frozen_at))
    assert not torch.equal(stacked.W2[1], other_at)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("task, smoothing, target_shape", [
    ("classification", 0.0, (7,)), ("classification", 0.2, (7,)),
    ("regression", 0.0, (7, 5)), ("regression", 0.0, (7,))], ids=["ce", "ce-smoothed", "mse", "mse-flat"])
def test_member_losses_are_each_members_own_loss(task, smoothing, target_shape, training):
    """``Objective.member_losses`` over K members' outputs [K, B, q] gives, for each k, what
    ``loss`` gives on ``outputs[k]`` alone (label smoothing only in training, as there)."""
    objective = Objective(task, label_smoothing=smoothing)
    generator = torch.Generator().manual_seed(0)
    q = 5 if target_shape != (7,) or task == "classification" else 1
    outputs = torch.randn(4, 7, q, generator=generator)
    y = (torch.randint(0, q, target_shape, generator=generator) if task == "classification"
         else torch.randn(target_shape, generator=generator))
    want = torch.stack([objective.loss(outputs[k], y, training) for k in range(4)])
    torch.testing.assert_close(objective.member_losses(outputs, y, training), want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("engine", ["stacked", "looped"])
def test_a_stacks_losses_are_its_members_own_and_members_of_different_losses_are_refused(engine):
    """Every member's training and evaluation loss is its own run's. In training the stacked
    engine's objective is the loss (MemberSGD applies λ), the looped engine's adds each member's
    own penalty (scratch members: λ in the loss); members whose data losses differ (label
    smoothing is not a per-member setting) cannot share one stack."""
    stack_members = [mlp_module(hidden=[8], weight_decay=decay, label_smoothing=0.1)
                     for decay in [0.0, 1e-3, 1e-2]]
    stack = StackedModule(stack_members, engine=engine)
    output = torch.randn(3, 6, 10, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 4, 9])
    for training in (True, False):
        own = [m.objective(output[k], y, m.net if engine == "looped" else None) if training
               else (m.objective.loss(output[k], y),) * 2 for k, m in enumerate(stack_members)]
        losses, objectives = stack._losses(output, y, training=training)
        torch.testing.assert_close(losses, torch.stack([loss for loss, _ in own]), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(objectives, torch.stack([obj for _, obj in own]), atol=1e-6, rtol=1e-6)
        assert bool((objectives > losses).any()) == (training and engine == "looped")  # the penalties
    with pytest.raises(ValueError, match="share one data loss"):
        StackedModule([mlp_module(hidden=[8], label_smoothing=0.1), mlp_module(hidden=[8])], engine=engine)


def test_a_stack_loaded_with_another_stacks_dropout_drops_as_that_one_does():
    """Which layers drop units is read when the dropout rates are set, built or loaded."""
    nets = members("scratch", [8, 6], count=2)
    plain = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].scratch, [[0.0, 0.0]] * 2)
    dropped = StackedMLP.from_nets(nets, ACTIVATIONS["tanh"].scratch, [[0.0, 0.5]] * 2)
    assert (plain.drops, dropped.drops) == ([False, False], [False, True])
    plain.load_state_dict(dropped.state_dict())
    assert plain.drops == [False, True]
    torch.manual_seed(0)
    x = torch.randn(64, 12)
    assert not torch.equal(plain.train()(x), plain.eval()(x))  # training drops units now
