"""Dropout by hand, both styles of d2l 4.6: inverted (the book's code: h' = 0 with probability p,
else h / (1 − p); identity at evaluation) and classic (the notes, 4.6.3: h' = 0 with probability
p, else h; (1 − p)·h at evaluation)."""

import pytest
import torch
from helpers import copy_scratch_weights
from torch import nn

from mlplab.nets.concise import ConciseMLP
from mlplab.nets.dropout import ClassicDropout, dropout
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


@pytest.mark.parametrize("style", ["inverted", "classic"])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_the_training_time_expectation_is_the_evaluation_output(style, p):
    """Monte-Carlo over n masks: each mean has standard error σ/√n, σ² = Var[h'] = h²·p/(1−p)
    (inverted) or h²·p(1−p) (classic); the tolerance is 5 standard errors at the largest |h|."""
    torch.manual_seed(0)
    n, x = 40_000, torch.linspace(-2, 2, 41)
    mean = dropout(x.repeat(n, 1), p, training=True, style=style).mean(dim=0)
    evaluation = dropout(x, p, training=False, style=style)
    variance = p / (1 - p) if style == "inverted" else p * (1 - p)
    tolerance = 5 * 2 * (variance / n) ** 0.5
    torch.testing.assert_close(mean, evaluation, atol=tolerance, rtol=0)
    if style == "classic":
        torch.testing.assert_close(evaluation, (1 - p) * x)


def test_classic_dropout_keeps_units_unscaled_while_training():
    torch.manual_seed(0)
    x = torch.rand(100_000) + 1
    out = dropout(x, 0.3, style="classic")
    kept = out != 0
    assert torch.equal(out[kept], x[kept])
    assert (1 - kept.float().mean().item()) == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("model", [ScratchMLP, ConciseMLP])
def test_classic_with_p_zero_is_the_plain_network(model):
    torch.manual_seed(0)
    plain = model(hidden=[32, 16], init_std=0.1)
    torch.manual_seed(0)
    classic = model(hidden=[32, 16], init_std=0.1, dropout=0.0, dropout_style="classic")
    x = torch.randn(8, 784)
    for mode in (True, False):
        plain.train(mode), classic.train(mode)
        assert torch.equal(plain(x), classic(x))


def test_both_mlps_scale_at_evaluation_in_the_classic_style():
    torch.manual_seed(0)
    scratch = ScratchMLP(hidden=[64, 32], dropout=[0.3, 0.6], init_std=0.1, dropout_style="classic")
    concise = ConciseMLP(hidden=[64, 32], dropout=[0.3, 0.6], dropout_style="classic")
    copy_scratch_weights(scratch, concise)
    assert sum(isinstance(m, ClassicDropout) for m in concise) == 2
    x = torch.randn(16, 784)
    with torch.no_grad():
        torch.testing.assert_close(scratch.eval()(x), concise.eval()(x))
        inverted = ScratchMLP(hidden=[64, 32], dropout=[0.3, 0.6], init_std=0.1)
        inverted.load_state_dict(scratch.state_dict())
        assert not torch.allclose(inverted.eval()(x), scratch(x))  # the styles differ at evaluation


@pytest.mark.parametrize("net", [ScratchMLP, ConciseMLP])
@pytest.mark.parametrize(("argument", "value", "message"), [
    ("dropout_style", "clasic", "dropout_style 'clasic' is not one of inverted, classic"),
    ("activation", "swish", "activation 'swish' is not one of relu, sigmoid, tanh, identity"),
])
def test_a_name_the_networks_do_not_know_is_refused_not_read_as_another(net, argument, value, message):
    """Built in Python (not through a config, which checks its choices first), a typo of ``classic``
    must not train inverted dropout; the message starts with the argument, as the config words it."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        net(dropout=0.5, **{argument: value})
