"""The knobs beyond the chapter (d2l's later chapters): momentum/Nesterov and AdamW, learning-rate
schedules, label smoothing and on-device augmentation. Each checked against its formula."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from helpers import mlp_module, write_fake_fashion_mnist

from mlplab.config.optimization import scheduler_settings
from mlplab.config.signature import locate
from mlplab.data.augment import ShiftFlip
from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.errors import ConfigError

# ---- schedules --------------------------------------------------------------------------------

COSINE, ONECYCLE = "mlplab.training.schedules.Cosine", "mlplab.training.schedules.OneCycle"


def learning_rates(target: str, steps: int, **kwargs) -> list[float]:
    """The learning rate of updates 0 … steps − 1 under the scheduler ``target`` (base lr 1)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = locate(target)(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(("target", "kwargs", "update", "factor"), [
    (COSINE, {"total_steps": 100}, 0, 1.0),
    (COSINE, {"total_steps": 100}, 50, 0.5),
    (COSINE, {"total_steps": 100, "min_ratio": 0.1}, 0, 1.0),
    (COSINE, {"total_steps": 100, "min_ratio": 0.1}, 50, 0.55),  # r + (1 − r)·(1 + cos πt)/2
    (COSINE, {"total_steps": 100, "min_ratio": 0.1}, 100, 0.1),
    (COSINE, {"total_steps": 100, "min_ratio": 0.1}, 150, 0.1),  # past its end (total_steps shorter
    (ONECYCLE, {"total_steps": 100}, 150, 1 / 25 / 1e4),         # than the run): it stays at its end
    (ONECYCLE, {"total_steps": 100}, 0, 1 / 25),
    (ONECYCLE, {"total_steps": 100}, 30, 1.0),  # the peak at pct_start = 0.3
    (ONECYCLE, {"total_steps": 100}, 65, (1 / 25 / 1e4) + (1 - 1 / 25 / 1e4) / 2),  # half way down
    (ONECYCLE, {"total_steps": 100}, 100, 1 / 25 / 1e4),
    ("torch.optim.lr_scheduler.StepLR", {"step_size": 10}, 9, 1.0),  # the step preset, per epoch
    ("torch.optim.lr_scheduler.StepLR", {"step_size": 10}, 10, 0.1),
    ("torch.optim.lr_scheduler.StepLR", {"step_size": 10}, 25, 0.01),
])
def test_schedule_follows_its_formula(target, kwargs, update, factor):
    assert learning_rates(target, update + 1, **kwargs)[update] == pytest.approx(factor)


def test_a_schedule_over_no_updates_is_refused():
    with pytest.raises(ConfigError, match=r"scheduler: total_steps=0: the number of updates"):
        scheduler_settings({"_target_": COSINE, "total_steps": 0})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake"), 100, 30)


def fit(data_dir, epochs=2, callbacks=(), **module_kwargs):
    """A 16-unit MLP fit on the fake set: 80 training images, batch 8, so 10 updates an epoch."""
    torch.manual_seed(0)
    module = mlp_module(hidden=[16], **module_kwargs)
    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=8, val_size=20,
                                        download=False, check_counts=False)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=list(callbacks))
    trainer.fit(module, datamodule=datamodule)
    return module, trainer


class RecordLearningRates(L.Callback):
    """The learning rate each update was made with."""

    def __init__(self) -> None:
        self.rates = []

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.rates.append(optimizer.param_groups[0]["lr"])


def test_the_schedule_sets_the_learning_rate_of_every_update(data_dir):
    record = RecordLearningRates()
    _, trainer = fit(data_dir, 2, [record], lr=0.5, scheduler={"_target_": COSINE, "interval": "step"})
    total = trainer.global_step
    assert total == 2 * 10  # 80 images, batch 8, 2 epochs: the schedule's total_steps, filled in
    cosine = [0.5 * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)]
    assert record.rates == pytest.approx(cosine)
    # train/lr is the step size of the epoch's last update, not the one the schedule has moved on to
    assert trainer.callback_metrics["train/lr"] == pytest.approx(cosine[-1]) and cosine[-1] > 1e-3


class LoggedLearningRates(L.Callback):
    """``train/lr`` as each epoch logged it."""

    def __init__(self) -> None:
        self.logged = []

    def on_train_epoch_start(self, trainer, module):
        if "train/lr" in trainer.callback_metrics:
            self.logged.append(float(trainer.callback_metrics["train/lr"]))

    def on_fit_end(self, trainer, module):
        self.logged.append(float(trainer.callback_metrics["train/lr"]))


def test_train_lr_of_an_epoch_interval_schedule_is_the_step_size_that_epoch_used(data_dir):
    """StepLR halves the rate after every epoch; Lightning steps it at the epoch's last batch, before
    on_train_epoch_end logs, so reading the optimizer there would give the next epoch's rate."""
    record, logged = RecordLearningRates(), LoggedLearningRates()
    fit(data_dir, 3, [record, logged], lr=0.5, scheduler={
        "_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 1, "gamma": 0.5, "interval": "epoch"})
    assert record.rates == [0.5] * 10 + [0.25] * 10 + [0.125] * 10  # 10 updates an epoch
    assert logged.logged == [0.5, 0.25, 0.125]


def test_a_schedule_stepped_every_epoch_spans_the_epochs_not_the_updates(data_dir):
    record = RecordLearningRates()
    module, _ = fit(data_dir, 4, [record], lr=0.5, scheduler={"_target_": COSINE, "interval": "epoch"})
    per_epoch = [0.5 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]  # t = epoch / max_epochs
    assert record.rates == pytest.approx([rate for rate in per_epoch for _ in range(10)])
    unbounded = L.Trainer(max_epochs=-1, max_steps=5, accelerator="cpu", devices=1, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    module.trainer = unbounded
    with pytest.raises(ConfigError, match=r"scheduler.interval=epoch with trainer.max_epochs=-1: .* "
                                          r"e.g. scheduler.total_steps=10"):
        module.schedule_length("epoch")


# ---- optimizers and label smoothing -----------------------------------------------------------

def test_adamw_decays_weights_not_biases_and_sgd_takes_nesterov(data_dir):
    adamw, trainer = fit(data_dir, epochs=1, net="concise",
                         optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3}, weight_decay=0.01)
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]
    assert all(p.dim() == 1 for p in optimizer.param_groups[1]["params"])  # the biases
    _, trainer = fit(data_dir, epochs=1, momentum=0.9, nesterov=True)
    group = trainer.optimizers[0].param_groups[0]
    assert isinstance(trainer.optimizers[0], torch.optim.SGD)
    assert group["nesterov"] and group["momentum"] == 0.9


def test_torchs_own_checks_speak_before_any_data_loads():
    with pytest.raises(ConfigError, match=r"optimizer: Nesterov momentum requires a momentum"):
        mlp_module(nesterov=True, momentum=0.0)
    with pytest.raises(ConfigError, match=r"optimizer.lr=0 must be a finite number > 0"):
        mlp_module(lr=0.0)


def test_label_smoothing_shapes_the_training_loss_only():
    torch.manual_seed(0)
    eps = 0.1
    module = mlp_module(hidden=[8], label_smoothing=eps)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    log_p = F.log_softmax(module(x), dim=1)
    nll = F.nll_loss(log_p, y)
    smoothed = (1 - eps) * nll + eps * (-log_p.mean(dim=1)).mean()  # target 1−ε+ε/K on y, ε/K elsewhere
    output = module(x)
    assert module.objective.loss(output, y, training=True).item() == pytest.approx(smoothed.item(), rel=1e-5)
    assert module.objective.loss(output, y).item() == pytest.approx(nll.item(), rel=1e-5)


def test_label_smoothing_of_a_regression_is_refused():
    with pytest.raises(ConfigError, match=r"regularizer.label_smoothing=0.1 smooths class labels, but this "
                                          r"data set is a regression"):
        mlp_module(hidden=[], label_smoothing=0.1, num_inputs=4, num_outputs=1, task="regression")


def test_label_smoothing_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match=r"regularizer.label_smoothing=1 must be in \[0, 1\)"):
        mlp_module(label_smoothing=1.0)


# ---- augmentation -----------------------------------------------------------------------------

def shifted(image, dy, dx):
    """``image`` moved by (dy, dx), the uncovered border zero: the formula, written the slow way."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = image[..., i - dy, j - dx]
    return out


def test_shift_moves_each_image_by_at_most_s_pixels_with_a_black_border():
    x = torch.rand(40, 1, 10, 10)
    out = ShiftFlip(max_shift=2, flip=False)(x, torch.Generator().manual_seed(0))
    moves = []
    for a, b in zip(x, out, strict=True):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(shifted(a, dy, dx), b)]
        assert matches, "not a shift of its image"
        moves.append(matches[0])
    assert len(set(moves)) > 3  # each image draws its own shift
    # every shift from −s to s, both ends included, each way
    assert {dy for dy, _ in moves} == {dx for _, dx in moves} == set(range(-2, 3))


def test_a_normalised_images_uncovered_border_is_its_black_background_not_grey():
    """Normalised, black is (0 − mean)/std (−0.81), not 0 (grey): the shift's border is the
    background the data module's scaling gives a black pixel."""
    from mlplab.data.fashion_mnist import FashionMNISTDataModule

    module = FashionMNISTDataModule(normalize=True, augment=True, augment_flip=False, augment_shift=2)
    black = module.scale(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    assert module.augment.background == pytest.approx(black.flatten()[0].item()) and black.max() < -0.8
    out = module.augment(black.expand(16, 1, 28, 28).clone(), torch.Generator().manual_seed(0))
    assert torch.equal(out, black.expand(16, 1, 28, 28))  # a black image stays black wherever it moves


def test_flip_mirrors_about_half_the_images():
    x = torch.rand(64, 1, 6, 6)
    out = ShiftFlip(max_shift=0, flip=True)(x, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(b, a.flip(-1)) for a, b in zip(x, out, strict=True)]
    kept = [torch.equal(b, a) for a, b in zip(x, out, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 16 < sum(mirrored) < 48


def test_every_seed_draws_its_own_augmentation_and_small_seeds_draw_as_they_always_did():
    def draw(seed, epoch=3, step=7):
        return torch.rand(4, generator=ShiftFlip(seed=seed).generator(torch.device("cpu"), epoch, step))
    for seed in (0, 42, 18_446_633):  # below ~1.8e7 the mixed seed needs no wrap: the old formula's number
        old = torch.rand(4, generator=torch.Generator().manual_seed((seed * 1_000_003 + 3) * 1_000_003 + 7))
        assert torch.equal(draw(seed), old)
    largest = 2**32 - 1  # the schema's bound (Lightning's): its mixed seed is past 64 bits
    assert not torch.equal(draw(largest), draw(largest - 1)) and torch.equal(draw(largest), draw(largest))


def batches(loader):
    return [x.clone() for x, _ in loader]


def same(first, second):
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_augmentation_touches_training_batches_only_and_follows_seed_and_epoch(data_dir):
    def module(augment):
        dm = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=8, val_size=20, download=False,
                                    check_counts=False, augment=augment)
        dm.setup("fit")
        return dm

    plain, aug, again = module(False), module(True), module(True)
    assert same(batches(plain.val_dataloader()), batches(aug.val_dataloader()))
    assert same(batches(plain.test_dataloader()), batches(aug.test_dataloader()))
    first = batches(aug.train_dataloader())
    assert not same(batches(plain.train_dataloader()), first)
    assert same(first, batches(again.train_dataloader()))  # the same seed, the same draws
    loader = aug.train_dataloader()
    loader.sampler.set_epoch(1)
    assert not same(first, batches(loader))
