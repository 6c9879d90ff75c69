"""The scratch and concise MLPs: one function, two spellings; init; the affine collapse; bad shapes."""

import pytest
import torch
import torch.nn.functional as F
from helpers import copy_scratch_weights

from mlplab.nets.activations import ACTIVATIONS
from mlplab.nets.concise import ConciseMLP
from mlplab.nets.scratch import ScratchMLP

HIDDEN = [[256], [64, 32]]
MODELS = [ScratchMLP, ConciseMLP]


def scratch_with_random_biases(**kwargs):
    torch.manual_seed(0)
    net = ScratchMLP(**kwargs)
    with torch.no_grad():
        for _, b in net.layers():
            b.normal_(0, 0.1)  # non-zero, so a bias that goes astray shows in the output
    return net


def concise_copy_of(scratch, **kwargs):
    concise = ConciseMLP(**kwargs)
    return concise, copy_scratch_weights(scratch, concise)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_scratch_and_concise_agree_in_output_and_gradient(activation, hidden):
    scratch = scratch_with_random_biases(hidden=hidden, activation=activation)
    concise, linears = concise_copy_of(scratch, hidden=hidden, activation=activation)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    outputs = [net(x) for net in (scratch, concise)]
    torch.testing.assert_close(outputs[0], outputs[1])
    for out in outputs:
        F.cross_entropy(out, y).backward()
    for (w, b), lin in zip(scratch.layers(), linears):
        assert w.grad.abs().sum() > 0
        torch.testing.assert_close(w.grad, lin.weight.grad.T)
        torch.testing.assert_close(b.grad, lin.bias.grad)


@pytest.mark.parametrize("model", MODELS)
def test_init_weights_normal_with_init_std_and_zero_biases(model):
    torch.manual_seed(0)
    net = model(hidden=[256, 128], init_std=0.05)
    params = list(net.parameters())
    assert len(params) == 6
    for p in params:
        if p.dim() >= 2:
            assert p.std().item() == pytest.approx(0.05, rel=0.1)
            assert abs(p.mean().item()) < 0.005
        else:
            assert torch.count_nonzero(p) == 0


def collapsed_affine_map(net):
    """With identity activations, O = X W₁ + b₁ … collapses to X W + b (d2l 4.1.1.3)."""
    w, b = torch.eye(net.num_inputs), torch.zeros(net.num_inputs)
    for w_k, b_k in net.layers():
        w, b = w @ w_k, b @ w_k + b_k
    return w, b


@pytest.mark.parametrize("hidden", HIDDEN)
def test_identity_activation_collapses_to_one_affine_map(hidden):
    net = scratch_with_random_biases(hidden=hidden, activation="identity")
    w, b = collapsed_affine_map(net)
    x = torch.randn(8, 784)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x @ w + b)


def test_relu_net_is_not_one_affine_map():
    net = scratch_with_random_biases(hidden=[256], activation="relu")
    w, b = collapsed_affine_map(net)
    x = torch.randn(8, 784)
    with torch.no_grad():
        assert not torch.allclose(net(x), x @ w + b, atol=1e-3)
