"""d2l's synthetic regression sets, drawn from a seed and served from memory.

Polynomial fitting (d2l 4.4.4): feature i is ``xⁱ / i!`` (i = 0..max_degree−1) and
``y = 5 + 1.2x − 3.4x²/2! + 5.6x³/3! + ε``; keeping 2, 4 or 20 features under-, well- or over-fits.
High-dimensional linear regression (d2l 4.5.2): ``y = 0.05 + Σᵢ 0.01·xᵢ + ε`` with 200 inputs and
only 20 training examples, the setting that weight decay rescues.
Both draw ``x ~ N(0, 1)`` and ``ε ~ N(0, noise²)`` from a private generator seeded with ``seed``
(the global RNG is never touched), and validate on the test set, as d2l does every epoch.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor

from mlplab.data.batches import TensorBatches
from mlplab.data.checks import check

TRUE_W = (5.0, 1.2, -3.4, 5.6)  # d2l's cubic; the weights of degree 4 and up are 0
TRUE_B, TRUE_W_EACH = 0.05, 0.01  # high-dim: y = 0.05 + 0.01·Σx


def check_sizes(n_train: int, n_test: int, batch_size: int, noise: float) -> None:
    for key, value in (("n_train", n_train), ("n_test", n_test), ("batch_size", batch_size)):
        check(key, value, 1)
    check("noise", noise, 0, integer=False)


def polynomial_features(x: Tensor, max_degree: int) -> Tensor:
    """``[N] → [N, max_degree]``, column i = ``xⁱ / i!``; the factorial keeps x¹⁹ from swamping the fit."""
    degrees = range(max_degree)
    powers = torch.tensor(degrees, dtype=x.dtype)
    factorials = torch.tensor([math.gamma(i + 1) for i in degrees], dtype=x.dtype)
    return x.unsqueeze(1) ** powers / factorials


class SyntheticRegression(L.LightningDataModule):
    """Regression tensors in memory: train reshuffled each epoch from the seed; val = test."""

    validates_on_test = True  # as in d2l: these sets have no separate validation split

    def _keep(self, x: Tensor, y: Tensor, n_train: int) -> None:
        """The first ``n_train`` rows train, the rest test; float32, ``x`` as [N, d], ``y`` as [N, 1]."""
        x, y = x.float(), y.float().reshape(-1, 1)
        self.train = x[:n_train], y[:n_train]
        self.test = self.val = x[n_train:], y[n_train:]
        self.shape = {"num_inputs": x.shape[1], "num_outputs": 1, "task": "regression"}

    def _batches(self, split: tuple[Tensor, Tensor], shuffle: bool) -> TensorBatches:
        return TensorBatches(*split, batch_size=self.hparams.batch_size, shuffle=shuffle,
                             seed=self.hparams.seed)

    def train_dataloader(self) -> TensorBatches:
        return self._batches(self.train, shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self._batches(self.val, shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches(self.test, shuffle=False)


class PolynomialDataModule(SyntheticRegression):
    """``y = Σᵢ true_wᵢ · xⁱ/i! + ε``, true_w = [5, 1.2, −3.4, 5.6, 0, …] (max_degree weights).

    Labels always use all max_degree features; the model sees only the first ``num_features``
    (2: linear, underfits; 4: the true degree; 20: overfits), so every choice gets the same data.
    """

    def __init__(self, max_degree: int = 20, num_features: int = 4, n_train: int = 100,
                 n_test: int = 100, noise: float = 0.1, batch_size: int = 10, seed: int = 42) -> None:
        super().__init__()
        self.save_hyperparameters()
        check("max_degree", max_degree, len(TRUE_W), note=" (the true polynomial has 4 weights)")
        check("num_features", num_features, 1, max_degree, note=" (max_degree)")
        check_sizes(n_train, n_test, batch_size, noise)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(n_train + n_test, generator=generator, dtype=torch.float64)
        features = polynomial_features(x, max_degree)
        true_w = torch.zeros(max_degree, dtype=torch.float64)
        true_w[: len(TRUE_W)] = torch.tensor(TRUE_W)
        y = features @ true_w + noise * torch.randn(len(x), generator=generator, dtype=torch.float64)
        self.true_w = true_w.float()
        self._keep(features[:, :num_features], y, n_train)


class HighDimLinearDataModule(SyntheticRegression):
    """``y = 0.05 + Σᵢ 0.01·xᵢ + ε`` over ``num_inputs`` inputs: few examples, many weights."""

    def __init__(self, num_inputs: int = 200, n_train: int = 20, n_test: int = 100,
                 noise: float = 0.01, batch_size: int = 5, seed: int = 42) -> None:
        super().__init__()
        self.save_hyperparameters()
        check("num_inputs", num_inputs, 1)
        check_sizes(n_train, n_test, batch_size, noise)
        generator = torch.Generator().manual_seed(seed)
        n = n_train + n_test
        x = torch.randn(n, num_inputs, generator=generator, dtype=torch.float64)
        y = TRUE_B + TRUE_W_EACH * x.sum(1) + noise * torch.randn(n, generator=generator,
                                                                  dtype=torch.float64)
        self.true_w, self.true_b = torch.full((num_inputs,), TRUE_W_EACH), TRUE_B
        self._keep(x, y, n_train)
