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
from abc import ABC, abstractmethod
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from mlplab.config.datasets import HighDimLinearSettings, PolynomialSettings
from mlplab.config.settings import Settings
from mlplab.data.batches import MovesMinibatches, minibatch_loader, trainer_share

TRUE_W = (5.0, 1.2, -3.4, 5.6)  # d2l's cubic; the weights of degree 4 and up are 0
TRUE_B, TRUE_W_EACH = 0.05, 0.01  # high-dim: y = 0.05 + 0.01·Σx


def polynomial_features(x: Tensor, max_degree: int) -> Tensor:
    """``[N] → [N, max_degree]``, column i = ``xⁱ / i!``; the factorial keeps x¹⁹ from swamping the fit."""
    degrees = range(max_degree)
    powers = torch.tensor(degrees, dtype=x.dtype)
    factorials = torch.tensor([math.gamma(i + 1) for i in degrees], dtype=x.dtype)
    return x.unsqueeze(1) ** powers / factorials


class SyntheticRegression(MovesMinibatches, L.LightningDataModule, ABC):
    """Regression tensors in memory: train reshuffled each epoch from the seed; val = test."""

    validates_on_test = True  # as in d2l: these sets have no separate validation split
    settings_class: type[Settings]

    def __init__(self, settings: Settings | None = None, **values: Any) -> None:
        """``settings`` already parsed (``mlplab.runtime.preflight.check_run``), or ``values``."""
        super().__init__()
        self.settings = settings or self.settings_class.parse(values)
        self.save_hyperparameters(self.settings.as_dict())
        x, y = self.draw(torch.Generator().manual_seed(self.settings.seed))
        self._keep(x, y, self.settings.n_train)

    @abstractmethod
    def draw(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n_train + n_test`` examples (float64 inputs and labels) from ``generator``."""

    def _keep(self, x: Tensor, y: Tensor, n_train: int) -> None:
        """The first ``n_train`` rows train, the rest test; float32, ``x`` as [N, d], ``y`` as [N, 1]."""
        x, y = x.float(), y.float().reshape(-1, 1)
        self.train = x[:n_train], y[:n_train]
        self.test = self.val = x[n_train:], y[n_train:]
        self.shape = {"num_inputs": x.shape[1], "num_outputs": 1, "task": self.settings_class.task}

    def _loader(self, split: tuple[Tensor, Tensor], training: bool) -> DataLoader:
        return minibatch_loader(*split, batch_size=self.settings.batch_size, seed=self.settings.seed,
                                **trainer_share(self.trainer, training))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, training=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, training=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, training=False)


class PolynomialDataModule(SyntheticRegression):
    """``y = Σᵢ true_wᵢ · xⁱ/i! + ε``, true_w = [5, 1.2, −3.4, 5.6, 0, …] (max_degree weights).

    Labels always use all max_degree features; the model sees only the first ``num_features``
    (2: linear, underfits; 4: the true degree; 20: overfits), so every choice gets the same data.
    """

    settings_class = PolynomialSettings

    def draw(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        s = self.settings
        x = torch.randn(s.n_train + s.n_test, generator=generator, dtype=torch.float64)
        features = polynomial_features(x, s.max_degree)
        true_w = torch.zeros(s.max_degree, dtype=torch.float64)
        true_w[: len(TRUE_W)] = torch.tensor(TRUE_W)
        y = features @ true_w + s.noise * torch.randn(len(x), generator=generator, dtype=torch.float64)
        self.true_w = true_w.float()
        return features[:, : s.num_features], y


class HighDimLinearDataModule(SyntheticRegression):
    """``y = 0.05 + Σᵢ 0.01·xᵢ + ε`` over ``num_inputs`` inputs: few examples, many weights."""

    settings_class = HighDimLinearSettings

    def draw(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        s = self.settings
        n = s.n_train + s.n_test
        x = torch.randn(n, s.num_inputs, generator=generator, dtype=torch.float64)
        noise = s.noise * torch.randn(n, generator=generator, dtype=torch.float64)
        y = TRUE_B + TRUE_W_EACH * x.sum(1) + noise
        self.true_w, self.true_b = torch.full((s.num_inputs,), TRUE_W_EACH), TRUE_B
        return x, y
