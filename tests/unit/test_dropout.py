"""Inverted dropout by hand (d2l 4.6.4): h' = 0 with probability p, else h / (1 − p)."""

import pytest
import torch
from helpers import copy_scratch_weights
from torch import nn

from mlplab.nets.concise import ConciseMLP
from mlplab.nets.dropout import dropout
from mlplab.nets.scratch import ScratchMLP


def test_identity_in_eval_mode_and_for_p_zero():
    torch.manual_seed(0)
    x = torch.randn(100, 50)
    assert torch.equal(dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout(x, 0.0), x)


def test_p_one_drops_everything():
    x = torch.randn(100, 50)
    out = dropout(x, 1.0)
    assert out.shape == x.shape and torch.count_nonzero(out) == 0


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_fraction_dropped_is_p_and_survivors_are_scaled(p):
    torch.manual_seed(0)
    x = torch.rand(200_000) + 1  # no zeros of its own
    out = dropout(x, p)
    kept = out != 0
    assert (1 - kept.float().mean().item()) == pytest.approx(p, abs=0.01)
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_expectation_over_masks_is_the_input(p):
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 40)
    mean = dropout(x.repeat(20_000, 1), p).mean(dim=0)
    torch.testing.assert_close(mean, x, atol=0.05, rtol=0)


def scratch_and_concise(p):
    torch.manual_seed(0)
    scratch = ScratchMLP(hidden=[64, 32], dropout=p, init_std=0.1)
    concise = ConciseMLP(hidden=[64, 32], dropout=p)
    copy_scratch_weights(scratch, concise)
    return scratch, concise


def test_mlps_with_dropout_agree_in_eval_mode():
    scratch, concise = scratch_and_concise([0.3, 0.6])
    assert sum(isinstance(m, nn.Dropout) for m in concise) == 2
    x = torch.randn(16, 784)
    with torch.no_grad():
        torch.testing.assert_close(scratch.eval()(x), concise.eval()(x))
        assert torch.equal(scratch(x), scratch(x))


@pytest.mark.parametrize("which", [0, 1])
def test_mlps_drop_in_train_mode(which):
    net = scratch_and_concise(0.5)[which].train()
    x = torch.randn(16, 784)
    with torch.no_grad():
        assert not torch.allclose(net(x), net(x))
