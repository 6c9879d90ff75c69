"""d2l's synthetic regression sets: shapes, seeds, the generating formulas, batches, bad arguments."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mlplab.config.store import config_dir
from mlplab.data.synthetic import TRUE_W, HighDimLinearDataModule, PolynomialDataModule
from mlplab.errors import ConfigError

MODULES = [PolynomialDataModule, HighDimLinearDataModule]


def tensors(dm):
    return [t for split in (dm.train, dm.test) for t in split]


@pytest.mark.parametrize(("cls", "kwargs", "d", "n_train", "n_test"), [
    (PolynomialDataModule, {}, 4, 100, 100),
    (PolynomialDataModule, {"num_features": 2}, 2, 100, 100),
    (PolynomialDataModule, {"num_features": 20, "n_train": 7, "n_test": 3}, 20, 7, 3),
    (HighDimLinearDataModule, {}, 200, 20, 100),
    (HighDimLinearDataModule, {"num_inputs": 3, "n_test": 9}, 3, 20, 9),
])
def test_shapes_dtypes_and_model_shape(cls, kwargs, d, n_train, n_test):
    dm = cls(**kwargs)
    (x, y), (xt, yt) = dm.train, dm.test
    assert (x.shape, y.shape, xt.shape, yt.shape) == ((n_train, d), (n_train, 1), (n_test, d), (n_test, 1))
    assert all(t.dtype == torch.float32 for t in tensors(dm))
    assert dm.shape == {"num_inputs": d, "num_outputs": 1, "task": "regression"}


@pytest.mark.parametrize("cls", MODULES)
def test_data_follow_the_seed_and_leave_the_global_rng_alone(cls):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = tensors(cls(seed=1))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first, tensors(cls(seed=1))))
    assert not any(torch.equal(a, b) for a, b in zip(first, tensors(cls(seed=2))))


def test_polynomial_features_are_powers_over_factorials():
    x_all, _ = PolynomialDataModule(num_features=20, seed=3).train
    x = x_all[:, 1].double()  # x¹/1! is x itself
    for i in range(20):
        expected = (x**i / math.factorial(i)).float()
        torch.testing.assert_close(x_all[:, i], expected, rtol=1e-5, atol=1e-30)


def test_fewer_features_see_the_same_data():
    small, full = PolynomialDataModule(num_features=2), PolynomialDataModule(num_features=20)
    assert torch.equal(small.train[0], full.train[0][:, :2])
    assert torch.equal(small.train[1], full.train[1])


@pytest.mark.parametrize("seed", [0, 42])
def test_least_squares_on_four_features_recovers_true_w(seed):
    x, y = PolynomialDataModule(num_features=4, seed=seed).train
    w = torch.linalg.lstsq(x.double(), y.double()).solution.squeeze(1)
    assert (w - torch.tensor(TRUE_W, dtype=torch.float64)).abs().max() < 0.1


def test_polynomial_residual_is_the_noise():
    dm = PolynomialDataModule(num_features=20, noise=0.1, n_train=500, n_test=500)
    for x, y in (dm.train, dm.test):
        residual = y.squeeze(1) - x @ dm.true_w
        assert abs(residual.mean()) < 0.03
        assert 0.08 < residual.std() < 0.12


def test_highdim_labels_are_the_linear_rule_within_noise():
    dm = HighDimLinearDataModule()
    for x, y in (dm.train, dm.test):
        residual = y.squeeze(1) - (0.05 + 0.01 * x.sum(1))
        assert abs(residual.mean()) < 0.01
        assert 0.007 < residual.std() < 0.013
    assert torch.equal(dm.true_w, torch.full((200,), 0.01)) and dm.true_b == 0.05


def test_noise_zero_gives_exact_labels():
    x, y = HighDimLinearDataModule(noise=0.0).train
    torch.testing.assert_close(y.squeeze(1), 0.05 + 0.01 * x.double().sum(1).float())


@pytest.mark.parametrize(("cls", "kwargs", "sizes"), [
    (PolynomialDataModule, {}, [10] * 10),
    (HighDimLinearDataModule, {}, [5] * 4),
    (HighDimLinearDataModule, {"n_train": 23}, [5, 5, 5, 5, 3]),
])
def test_train_batches_cover_the_train_set_once_per_epoch(cls, kwargs, sizes):
    dm = cls(**kwargs)
    loader = dm.train_dataloader()
    x, y = dm.train
    orders = []
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        batches = list(loader)
        assert [len(b[0]) for b in batches] == sizes == [len(b[1]) for b in batches]
        xb, yb = (torch.cat(t) for t in zip(*batches))
        i, j = xb[:, 1].argsort(), x[:, 1].argsort()  # column 1 is continuous: a row's identity
        assert torch.equal(xb[i], x[j]) and torch.equal(yb[i], y[j])  # every row once, with its label
        orders.append(xb)
    assert not torch.equal(orders[0], x)  # shuffled
    assert not torch.equal(orders[0], orders[1])  # reshuffled each epoch


@pytest.mark.parametrize("cls", MODULES)
def test_val_is_test_unshuffled(cls):
    dm = cls()
    xv, yv = (torch.cat(t) for t in zip(*dm.val_dataloader()))
    xt, yt = (torch.cat(t) for t in zip(*dm.test_dataloader()))
    assert torch.equal(xv, dm.test[0]) and torch.equal(yv, dm.test[1])
    assert torch.equal(xt, xv) and torch.equal(yt, yv)


@pytest.mark.parametrize(("cls", "kwargs", "message"), [
    (PolynomialDataModule, {"num_features": 25}, "data.num_features=25 exceeds data.max_degree=20"),
    (PolynomialDataModule, {"num_features": 0}, "data.num_features=0 must be ≥ 1"),
    (PolynomialDataModule, {"max_degree": 3}, "data.max_degree=3 must be ≥ 4"),
    (PolynomialDataModule, {"n_train": 0}, "data.n_train=0 must be ≥ 1"),
    (PolynomialDataModule, {"n_test": -5}, "data.n_test=-5 must be ≥ 1"),
    (PolynomialDataModule, {"batch_size": 0}, "data.batch_size=0 must be ≥ 1"),
    (PolynomialDataModule, {"batch_size": 2.5}, "data.batch_size=2.5 is not an integer"),
    (PolynomialDataModule, {"noise": -0.1}, "data.noise=-0.1 must be ≥ 0"),
    (HighDimLinearDataModule, {"num_inputs": 0}, "data.num_inputs=0 must be ≥ 1"),
    (HighDimLinearDataModule, {"n_train": 0}, "data.n_train=0 must be ≥ 1"),
    (HighDimLinearDataModule, {"noise": "high"}, "data.noise=high is not a number"),
])
def test_bad_arguments_name_the_key_and_the_fix(cls, kwargs, message):
    with pytest.raises(ConfigError, match=r"^" + re.escape(message) + r".*; e\.g\. data\."):
        cls(**kwargs)


@pytest.mark.parametrize(("option", "cls"), [("polynomial", PolynomialDataModule),
                                             ("highdim_linear", HighDimLinearDataModule)])
def test_config_defaults_match_the_constructor(option, cls):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"data={option}", "seed=7"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, cls)
    assert dict(dm.hparams) == {**dict(cls().hparams), "seed": 7}


@pytest.mark.parametrize("cls", MODULES)
def test_under_ddp_each_process_trains_on_its_own_share_as_fashion_mnist_does(cls):
    """The trainer's rank and world size (what Lightning sets on every DDP process) split the
    training set into disjoint shares that cover it; overfit_batches turns the shuffle off."""
    from types import SimpleNamespace

    seen = []
    for rank in (0, 1):
        dm = cls(seed=3)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2, overfit_batches=0)
        seen.append(torch.cat([x for x, _ in dm.train_dataloader()]))
    whole = dm.train[0]
    assert len(seen[0]) == len(seen[1]) == len(whole) // 2
    rows = {tuple(r.tolist()) for r in torch.cat(seen)}
    assert len(rows) == len(whole) and rows == {tuple(r.tolist()) for r in whole}
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1, overfit_batches=2)
    first, second = ([x for x, _ in dm.train_dataloader()] for _ in range(2))
    assert torch.equal(torch.cat(first), whole) and torch.equal(torch.cat(second), whole)  # file order
