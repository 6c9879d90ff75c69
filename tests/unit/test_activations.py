"""Hand-written activations against torch's built-ins, and autograd against the closed forms."""

import pytest
import torch

from mlplab.nets.activations import ACTIVATIONS, autograd_derivative

# Exactly 0 and large |x| on purpose: a kink or an overflow there shows up as a wrong or NaN gradient.
EDGES = [-100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_hand_written_matches_builtin_in_value_and_gradient(name, dtype):
    x = torch.cat([torch.linspace(-10, 10, 201), torch.tensor(EDGES)]).to(dtype)
    act = ACTIVATIONS[name]
    builtin = act.builtin()
    torch.testing.assert_close(act.scratch(x), builtin(x))
    grad = autograd_derivative(act.scratch, x)
    assert grad.dtype == dtype and torch.isfinite(grad).all()
    torch.testing.assert_close(grad, autograd_derivative(builtin, x))


CLOSED_FORMS = {
    "relu": lambda x: (x > 0).to(x.dtype),
    "sigmoid": lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
    "tanh": lambda x: 1 - torch.tanh(x) ** 2,
    "identity": torch.ones_like,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_autograd_derivative_matches_closed_form(name):
    x = torch.arange(-8, 8, 0.1)
    torch.testing.assert_close(autograd_derivative(ACTIVATIONS[name].scratch, x), CLOSED_FORMS[name](x))


def test_autograd_derivative_leaves_input_untouched():
    x = torch.arange(-2, 2, 0.5)
    autograd_derivative(torch.sigmoid, x)
    assert not x.requires_grad and x.grad is None
