"""The data sets (``data``): each DataModule's settings, picked by ``data._target_`` (``DATA``).
Fashion-MNIST for the chapter's classifiers; d2l's two regression sets (4.4's polynomial, 4.5's
high-dimensional linear model) for model selection and weight decay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from mlplab.config.settings import AT_LEAST_ONE, NON_NEGATIVE, SEEDS, Range, Settings, setting
from mlplab.errors import ConfigError

FASHION_MNIST_IMAGES = {"train": 60000, "test": 10000}  # the official files' counts
TRAIN_IMAGES = FASHION_MNIST_IMAGES["train"]

@dataclass
class FashionMNISTSettings(Settings):
    group: ClassVar[str] = "data"
    task: ClassVar[str] = "classification"
    _target_: str = "mlplab.data.fashion_mnist.FashionMNISTDataModule"
    # conf/data/fashion_mnist.yaml gives it ${paths.data_dir}; this default serves a DataModule
    # built in Python, outside a composed config
    data_dir: str = setting(os.environ.get("MLPLAB_DATA_DIR", "data"), "holds FashionMNIST/raw/*-ubyte, "
                            "unpacked on first use (default paths.data_dir: $MLPLAB_DATA_DIR, else "
                            "<paths.root_dir>/data)", where=True, example="/data")
    batch_size: int = setting(256, "training minibatch size (d2l: 256)", within=AT_LEAST_ONE, example=256)
    val_size: int = setting(5000, "training images held out for validation; 0 = validate on the test "
                            "set (d2l)", within=Range(0, TRAIN_IMAGES - 1), example=5000)
    train_subset: int | None = setting(None, "train on the first N shuffled images only (null = all)",
                                       within=Range(1, TRAIN_IMAGES), example=1000)
    normalize: bool = setting(False, "(x − mean) / std after scaling to [0, 1]")
    drop_last: bool = setting(False, "skip the short last training batch")
    eval_batch_size: int | None = setting(1024, "val/test batch size; the averages do not depend on "
                                          "it (null = batch_size)", within=AT_LEAST_ONE, example=1024)
    augment: bool = setting(False, "random shifts and left-right flips of training batches, on the device")
    augment_shift: int = setting(2, "shifts of up to this many pixels each way", within=Range(0, 8),
                                 example=2)
    augment_flip: bool = setting(True, "mirror half of the augmented images")
    seed: int = setting(42, "the validation split and the batch order (the run's seed)", example=42,
                        within=SEEDS)
    download: bool = setting(True, "allow torchvision's download when no local copy is found", where=True)
    debian_dir: str = setting("/usr/share/datasets/fashion-mnist", "where Debian's "
                              "dataset-fashion-mnist puts its .gz files", where=True)
    check_counts: bool = setting(True, "refuse files without Fashion-MNIST's 60000/10000 images "
                                 "(false: small test files)")

    def rules(self) -> None:
        left = TRAIN_IMAGES - self.val_size
        if self.check_counts and self.train_subset and self.train_subset > left:
            self.fail("train_subset", f"exceeds the {left} training images data.val_size={self.val_size} "
                      f"leaves", example=left)
        training = self.train_subset or left
        if self.check_counts and self.drop_last and training < self.batch_size:  # not one batch: no update
            self.fail("drop_last", f"with data.batch_size={self.batch_size} leaves no training batch of "
                      f"the {training} training images", example="false")

    @property
    def validates_on_test(self) -> bool:
        """``val_size=0``: the test set is the validation set (d2l's train_ch3)."""
        return self.val_size == 0


@dataclass
class SyntheticSettings(Settings):
    """What both regression sets of d2l share."""

    group: ClassVar[str] = "data"
    task: ClassVar[str] = "regression"
    n_train: int = setting(100, "training examples", within=AT_LEAST_ONE, example=100)
    n_test: int = setting(100, "test examples; also the validation set, as in d2l", within=AT_LEAST_ONE,
                          example=100)
    noise: float = setting(0.1, "ε ~ N(0, noise²) added to every label", within=NON_NEGATIVE, example=0.1)
    batch_size: int = setting(10, "minibatch size", within=AT_LEAST_ONE, example=10)
    seed: int = setting(42, "draws the data and the batch order (the run's seed)", example=42,
                        within=SEEDS)
    validates_on_test: ClassVar[bool] = True  # as in d2l: no separate validation split


@dataclass
class PolynomialSettings(SyntheticSettings):
    _target_: str = "mlplab.data.synthetic.PolynomialDataModule"
    max_degree: int = setting(20, "features generated: xⁱ/i! for i < max_degree", within=Range(4),
                              example=20)
    num_features: int = setting(4, "features the model sees: 2 underfit, 4 are the true degree's, 20 "
                                "more than the data pin down", within=AT_LEAST_ONE, example=4)

    def rules(self) -> None:
        if self.num_features > self.max_degree:
            self.fail("num_features", f"exceeds data.max_degree={self.max_degree}")


@dataclass
class HighDimLinearSettings(SyntheticSettings):
    _target_: str = "mlplab.data.synthetic.HighDimLinearDataModule"
    num_inputs: int = setting(200, "input dimension d: many weights, few examples", within=AT_LEAST_ONE,
                              example=200)
    n_train: int = setting(20, "training examples: far fewer than weights", within=AT_LEAST_ONE, example=20)
    noise: float = setting(0.01, "ε ~ N(0, noise²) added to every label", within=NON_NEGATIVE, example=0.01)
    batch_size: int = setting(5, "minibatch size (d2l: 5)", within=AT_LEAST_ONE, example=5)


DATA: dict[str, type[Settings]] = {"fashion_mnist": FashionMNISTSettings, "polynomial": PolynomialSettings,
                                   "highdim_linear": HighDimLinearSettings}


def data_settings_class(target: str) -> type[Settings]:
    """The settings class of the DataModule ``target`` (``data._target_``)."""
    for kind in DATA.values():
        if kind._target_ == target:  # type: ignore[attr-defined]
            return kind
    raise ConfigError(f"data._target_={target} is not a data set of mlplab; choose data="
                      f"{' or data='.join(DATA)}")

