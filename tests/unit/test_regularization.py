"""Weight decay as a penalty and as SGD's weight_decay: the same step, weights only."""

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import build_net, mlp_module
from torch import nn

from mlplab.config.module_settings import RegularizerSettings
from mlplab.nets import ConciseMLP, ScratchMLP
from mlplab.training.regularization import l2_penalty, param_groups, weight_l2_norm, weights

LR, LAM = 0.5, 0.1


def make_model(name):
    torch.manual_seed(0)
    net = build_net(name, hidden=[32, 16], init_std=0.1)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 1:
                p.fill_(1.0)  # non-zero biases, so decaying them would show
    return net


def sgd_step(net, mode, lam, data_loss):
    """One SGD step with weight decay λ applied either way."""
    groups = param_groups(net, lam if mode == "optimizer" else 0.0)
    opt = torch.optim.SGD(groups, lr=LR)
    loss = data_loss(net)
    if mode == "penalty":
        loss = loss + l2_penalty(net, lam)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return [p.detach().clone() for p in net.parameters()]


def cross_entropy(net):
    torch.manual_seed(1)
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    return F.cross_entropy(net(x), y)


@pytest.mark.parametrize("name", ["scratch", "concise"])
def test_penalty_and_optimizer_give_the_same_step(name):
    net = make_model(name)
    by_penalty = sgd_step(copy.deepcopy(net), "penalty", LAM, cross_entropy)
    by_optimizer = sgd_step(copy.deepcopy(net), "optimizer", LAM, cross_entropy)
    undecayed = sgd_step(copy.deepcopy(net), "penalty", 0.0, cross_entropy)
    for a, b in zip(by_penalty, by_optimizer, strict=True):
        torch.testing.assert_close(a, b)
    weights = [(a, c) for a, c in zip(by_penalty, undecayed) if a.dim() >= 2]
    assert weights and all(not torch.allclose(a, c) for a, c in weights)


@pytest.mark.parametrize("mode", ["penalty", "optimizer"])
@pytest.mark.parametrize("name", ["scratch", "concise"])
def test_weights_shrink_and_biases_stay_without_data_gradient(name, mode):
    net = make_model(name)
    before = [p.detach().clone() for p in net.parameters()]
    after = sgd_step(net, mode, LAM, lambda n: 0 * n(torch.randn(4, 784)).sum())
    assert sum(p.dim() == 1 for p in before) == 3
    for p0, p1 in zip(before, after, strict=True):
        expected = p0 * (1 - LR * LAM) if p0.dim() >= 2 else p0
        torch.testing.assert_close(p1, expected)


@pytest.mark.parametrize("name", ["scratch", "concise"])
def test_weight_l2_norm_over_weight_matrices(name):
    net = make_model(name)
    matrices = [p for p in net.parameters() if p.dim() == 2]
    assert len(matrices) == 3
    expected = torch.cat([w.flatten() for w in matrices]).norm()
    torch.testing.assert_close(weight_l2_norm(net), expected)
    torch.testing.assert_close(l2_penalty(net, LAM), LAM / 2 * expected**2)


def test_auto_decay_mode_follows_the_book():
    auto = RegularizerSettings()
    assert auto.decay_mode(ScratchMLP) == "penalty" and auto.decay_mode(ConciseMLP) == "optimizer"
    assert auto.decay_mode(torch.nn.Linear) == "optimizer"  # any other network: the optimizer's λ
    assert RegularizerSettings(weight_decay_mode="optimizer").decay_mode(ScratchMLP) == "optimizer"
    assert RegularizerSettings(weight_decay_mode="penalty").decay_mode(ConciseMLP) == "penalty"


@pytest.mark.parametrize(("optimizer", "mode", "penalty", "optimizer_decay"), [
    ({"_target_": "torch.optim.AdamW"}, "auto", 0.0, 0.01),  # decoupled, as conf/optimizer/adamw.yaml says
    ({"_target_": "torch.optim.Adam", "decoupled_weight_decay": True}, "auto", 0.0, 0.01),
    ({"_target_": "torch.optim.Adam"}, "auto", 0.01, 0.0),  # the scratch model's penalty, as with SGD
    ({}, "auto", 0.01, 0.0),
    ({"_target_": "torch.optim.AdamW"}, "penalty", 0.01, 0.0)])  # asked for by name: as asked
def test_a_decoupled_optimizer_decays_the_scratch_model_itself_unless_told_otherwise(
        optimizer, mode, penalty, optimizer_decay):
    from mlplab.training.module import MLPModule

    module = MLPModule(optimizer=optimizer, regularizer={"weight_decay": 0.01, "weight_decay_mode": mode})
    assert (module.objective.penalty, module.objective.optimizer_decay) == (penalty, optimizer_decay)


@pytest.mark.parametrize("optimizer", ["torch.optim.Rprop", "torch.optim.SparseAdam"])
def test_an_optimizer_without_weight_decay_gets_lambda_as_the_penalty(optimizer):
    """torch ignores a parameter group's ``weight_decay`` where the optimizer has no such argument:
    ``auto`` puts λ into the loss instead (even for the concise model, whose book recipe asks the
    optimizer), so λ acts on the weights, as a step with a zero data gradient shows."""
    from mlplab.training.module import MLPModule

    module = MLPModule(model={"net": {"_target_": "mlplab.nets.ConciseMLP", "hidden": [8]}},
                       optimizer={"_target_": optimizer, "lr": 0.01}, regularizer={"weight_decay": 10})
    assert (module.objective.penalty, module.objective.optimizer_decay) == (10, 0.0)
    if optimizer.endswith("SparseAdam"):  # dense gradients: it cannot step this net, only be asked
        return
    w = weights(module.net)[0]
    before = w.detach().clone()
    x, y = torch.zeros(4, 784), torch.zeros(4, dtype=torch.long)
    optimizer_object = module.configure_optimizers()

    def closure():
        optimizer_object.zero_grad()
        objective = module.objective(module(x), y, module.net)[1]
        objective.backward()
        return objective

    optimizer_object.step(closure)
    assert w.norm() < before.norm()  # λ shrank it


def test_an_optimizer_that_takes_no_parameter_groups_gets_the_parameters_alone():
    """LBFGS refuses parameter groups (``ValueError``), and has no ``weight_decay`` to give them:
    it gets the network's parameters as one list, and a step on a fixed batch lowers the objective."""
    from mlplab.training.module import MLPModule

    module = MLPModule(model={"net": {"_target_": "mlplab.nets.ConciseMLP", "hidden": [8]}},
                       optimizer={"_target_": "torch.optim.LBFGS", "lr": 0.1})
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.LBFGS) and len(optimizer.param_groups) == 1
    x, y = torch.randn(32, 784, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 10

    def closure():
        optimizer.zero_grad()
        objective = module.objective(module(x), y, module.net)[1]
        objective.backward()
        return objective

    before = closure().item()
    optimizer.step(closure)
    assert closure().item() < before


def test_the_regression_loss_is_half_the_mean_squared_error():
    """d2l 3.1's squared loss, l = ½(ŷ − y)², averaged over the minibatch (and the K members of a stack)."""
    from mlplab.training.objective import Objective

    generator = torch.Generator().manual_seed(0)
    output, y = torch.randn(8, 1, generator=generator), torch.randn(8, generator=generator)
    expected = ((output.squeeze(1) - y) ** 2).mean() / 2
    objective = Objective("regression")
    torch.testing.assert_close(objective.loss(output, y), expected)
    torch.testing.assert_close(objective.member_losses(torch.stack([output, 2 * output]), y),
                               torch.stack([expected, ((2 * output.squeeze(1) - y) ** 2).mean() / 2]))


def test_the_mse_regression_loss_is_torchs_mse_loss():
    """``model.regression_loss=mse``: d2l 4.4's ``nn.MSELoss``, (ŷ − y)² averaged, for one model and
    for each member of a stack; its gradient is twice the squared loss's."""
    from mlplab.training.objective import Objective

    generator = torch.Generator().manual_seed(0)
    output = torch.randn(8, 1, generator=generator, requires_grad=True)
    y = torch.randn(8, generator=generator)
    mse = Objective("regression", regression_loss="mse")
    torch.testing.assert_close(mse.loss(output, y), nn.MSELoss()(output, y.reshape(8, 1)))
    torch.testing.assert_close(mse.member_losses(torch.stack([output, 2 * output]), y),
                               torch.stack([nn.MSELoss()(k * output, y.reshape(8, 1)) for k in (1, 2)]))
    (grad_mse,) = torch.autograd.grad(mse.loss(output, y), output)
    (grad_squared,) = torch.autograd.grad(Objective("regression").loss(output, y), output)
    torch.testing.assert_close(grad_mse, 2 * grad_squared)


def test_the_regression_loss_is_read_from_the_model_settings():
    module = mlp_module(hidden=[], num_inputs=4, num_outputs=1, task="regression",
                        model={"regression_loss": "mse"})
    assert module.objective.regression_loss == "mse"
    assert mlp_module(hidden=[], num_inputs=4, num_outputs=1, task="regression").objective.regression_loss \
        == "squared"
