"""Lightning's contract, flag by flag: mlplab does what a plain LightningModule does under the same
Trainer flag and callbacks — the same optimizer steps, validation points and batches, sanity-check
batches, logged metrics, checkpoints, learning rate, compute dtype, deterministic mode and final
weights. The reference is d2l's
scratch MLP in a plain LightningModule: automatic optimization, one minibatch per step, same seed,
same data, same batch order; mlplab's module trains on Lightning's own loop too, so every flag acts
as Lightning documents it.

Weights are judged against how far training moved them: ``‖ours − ref‖ ≤ tol · ‖ref − init‖`` per
tensor, with ``ref − init`` non-zero. An absolute tolerance alone would pass a row whose updates
are smaller than it (a tight clip, one step), and a row where nothing trained would compare two
copies of the initial weights. One more test trains the reference on plain ``DataLoader``s over
``TensorDataset``s read from the files, so that mlplab's data module is checked too, not assumed."""

from __future__ import annotations

import csv
import datetime

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from helpers import mlp_module, write_fake_fashion_mnist
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    StochasticWeightAveraging,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.data.idx import FILES, read_idx
from mlplab.nets.scratch import ScratchMLP

HIDDEN, LR = [16], 0.1
# 164 training images: ten batches of 16 and a short one of 4; 36 validation images: a short batch too
N_TRAIN, N_TEST, VAL_SIZE, BATCH, EVAL_BATCH, DATA_SEED = 200, 40, 36, 16, 8, 42
PLATEAU = "torch.optim.lr_scheduler.ReduceLROnPlateau"


class PlainMLP(L.LightningModule):
    """The reference: nothing of mlplab but the network. ``plateau``: ReduceLROnPlateau's arguments,
    the scheduler watching ``val/loss`` as Lightning's docs show it."""

    def __init__(self, plateau: dict | None = None) -> None:
        super().__init__()
        self.net = ScratchMLP(hidden=HIDDEN)
        self.plateau = plateau

    def forward(self, x):
        return self.net(x)

    def _log(self, stage, batch):
        x, y = batch
        output = self(x)
        loss = F.cross_entropy(output, y)
        self.log(f"{stage}/loss", loss, batch_size=len(y))
        self.log(f"{stage}/acc", (output.argmax(1) == y).float().mean(), batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self._log("val", batch)

    def test_step(self, batch, batch_idx):
        self._log("test", batch)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=LR)
        if self.plateau is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **self.plateau)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}


def logged(trainer, stage):
    """The epoch values the module logged for ``stage``, as a callback (EarlyStopping, …) sees them."""
    return [float(trainer.callback_metrics[f"{stage}/{name}"]) for name in ("loss", "acc")]


class Record(L.Callback):
    """What the loop did: whether torch ran in deterministic mode; each validation's (epoch, step,
    batches) and logged val/loss, val/acc; the sanity check's batches, counted apart (its metrics
    are discarded); the test's batches and metrics."""

    def __init__(self) -> None:
        self.validations, self.val_metrics, self.test_metrics = [], [], []
        self.sanity_batches = self.val_batches = self.test_batches = 0
        self.deterministic = None

    def on_train_start(self, trainer, module):
        self.deterministic = torch.are_deterministic_algorithms_enabled()

    def on_validation_start(self, trainer, module):
        self.val_batches = 0

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        if trainer.sanity_checking:
            self.sanity_batches += 1
        else:
            self.val_batches += 1

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.validations.append((trainer.current_epoch, trainer.global_step, self.val_batches))
            self.val_metrics.append(logged(trainer, "val"))

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.test_batches += 1

    def on_test_end(self, trainer, module):
        self.test_metrics = logged(trainer, "test")


def row(name, flags, callbacks=(), plateau=None, marks=()):
    """One row of the table: Trainer flags, callbacks to add (made fresh for each run), and
    ReduceLROnPlateau's arguments when both modules are to use that scheduler."""
    return pytest.param(flags, list(callbacks), plateau, id=name, marks=marks)


ROWS = [
    row("plain", {}),
    row("max_steps", {"max_steps": 7}),
    row("max_epochs=-1+max_steps", {"max_epochs": -1, "max_steps": 13}),
    # Lightning's Timer checks at fit start too: a zero budget trains nothing (in both), and
    # any positive one stops after the first step
    row("max_time=0", {"max_time": datetime.timedelta(0)}),
    row("max_time=1µs", {"max_time": datetime.timedelta(microseconds=1)}),
    row("limit_train_batches=3", {"limit_train_batches": 3}),
    row("limit_train_batches=0.5", {"limit_train_batches": 0.5}),
    row("limit_val_batches=1", {"limit_val_batches": 1}),
    row("limit_val_batches=0.5", {"limit_val_batches": 0.5}),
    row("limit_test_batches=1", {"limit_test_batches": 1}),
    row("limit_test_batches=0.5", {"limit_test_batches": 0.5}),
    row("overfit_batches=2", {"overfit_batches": 2}),
    row("overfit_batches=0.3", {"overfit_batches": 0.3}),
    row("val_check_interval=4", {"val_check_interval": 4}),
    row("val_check_interval=0.5", {"val_check_interval": 0.5}),
    row("check_val_every_n_epoch=2", {"check_val_every_n_epoch": 2, "max_epochs": 4}),
    row("fast_dev_run=True", {"fast_dev_run": True}),
    row("fast_dev_run=3", {"fast_dev_run": 3}),
    row("clip norm", {"gradient_clip_val": 0.05, "gradient_clip_algorithm": "norm"}),
    row("clip value", {"gradient_clip_val": 0.001, "gradient_clip_algorithm": "value"}),
    row("accumulate_grad_batches=3", {"accumulate_grad_batches": 3}),
    row("precision=32-true", {"precision": "32-true"}),
    row("precision=bf16-mixed", {"precision": "bf16-mixed"}),
    # fp16 autocast exists on CUDA only (and needs its GradScaler); the gpu marker skips it elsewhere
    row("precision=16-mixed", {"precision": "16-mixed", "accelerator": "cuda"}, marks=pytest.mark.gpu),
    row("deterministic", {"deterministic": True}),
    row("num_sanity_val_steps=0", {"num_sanity_val_steps": 0}),
    row("num_sanity_val_steps=1", {"num_sanity_val_steps": 1}),
    row("EarlyStopping", {"max_epochs": 6}, [lambda: EarlyStopping("val/loss", patience=0, min_delta=0.05)]),
    row("LearningRateMonitor", {}, [lambda: LearningRateMonitor()]),
    row("StochasticWeightAveraging", {"max_epochs": 3}, [lambda: StochasticWeightAveraging(swa_lrs=0.05)]),
    row("ModelCheckpoint(every_n_train_steps=3)", {}, [lambda: ModelCheckpoint(every_n_train_steps=3)]),
    # patience=0: the lr halves after each epoch whose val/loss is no better, so it moves in 4 epochs
    row("ReduceLROnPlateau", {"max_epochs": 4}, plateau={"factor": 0.5, "patience": 0}),
]

# ratio: ‖ours − ref‖ / ‖ref − init‖ per tensor; metrics: assert_close on the logged values. Mixed
# precision rounds every matmul, and the two modules compute the loss by different code paths. For
# a net this small a bf16-mixed run ends within 1% of the fp32 one, under 0.05: that the precision
# flag acted is seen in "dtypes" (what the network computed in), not in the weights.
TOLERANCE = {"32": {"ratio": 1e-4, "metrics": {"atol": 1e-5, "rtol": 1e-5}},
             "mixed": {"ratio": 0.05, "metrics": {"atol": 0.05, "rtol": 0.05}}}
COUNTED = ("steps", "epochs", "validations", "sanity_batches", "test_batches", "checkpoints", "lr",
           "monitored_lr", "deterministic", "dtypes")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake"), N_TRAIN, N_TEST)


def fashion(data_dir):
    return FashionMNISTDataModule(data_dir=str(data_dir), batch_size=BATCH, val_size=VAL_SIZE,
                                  eval_batch_size=EVAL_BATCH, seed=DATA_SEED, download=False,
                                  check_counts=False)


@pytest.fixture(autouse=True)
def deterministic_mode_as_found():
    """Trainer(deterministic=True) switches torch's mode for the whole process; later tests must
    not inherit it."""
    mode = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(mode)


def monitored_lr(log_dir):
    """What LearningRateMonitor wrote to the CSV log: the distinct (step, lr) of its lr-* columns.
    Distinct: mlplab keeps weights and biases in two param groups (λ decays weights only), which
    the monitor logs as lr-SGD/pg1 and lr-SGD/pg2, one lr."""
    entries = set()
    for path in log_dir.rglob("metrics.csv"):
        with path.open() as file:
            entries |= {(int(row["step"]), float(v)) for row in csv.DictReader(file)
                        for k, v in row.items() if k.startswith("lr-") and v}
    return sorted(entries)


def weights(module):
    """The network's tensors by name, on the CPU (the run may end on a GPU)."""
    return {name: p.detach().cpu().clone() for name, p in module.net.named_parameters()}


def fit(module, data, tmp_path, flags, callbacks, loggers):
    """Fit and test as a user would; what the contract compares. ``data``: a DataModule, or None
    when the module serves its own loaders."""
    init = weights(module)
    torch.use_deterministic_algorithms(False)  # each run starts from torch's default, not the last run's
    record, dtypes = Record(), set()  # dtypes: what the network computed in, the precision flag from inside
    module.net.register_forward_hook(lambda net, inputs, output: dtypes.add(str(output.dtype)))
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{epoch}-{step}", save_top_k=-1)
    trainer = L.Trainer(**{"max_epochs": 2, "accelerator": "cpu", "devices": 1, "logger": loggers,
                           "enable_progress_bar": False, "enable_model_summary": False, **flags},
                        callbacks=[record, checkpoints, *(make() for make in callbacks)],
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=data)
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    trainer.test(module, datamodule=data, verbose=False)
    saved = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.ckpt"))  # the rows' callbacks' too
    return {"steps": trainer.global_step, "epochs": trainer.current_epoch, "validations": record.validations,
            "sanity_batches": record.sanity_batches, "test_batches": record.test_batches,
            "checkpoints": saved, "lr": lr, "monitored_lr": monitored_lr(tmp_path),
            "deterministic": record.deterministic, "dtypes": sorted(dtypes),
            "val_metrics": record.val_metrics, "test_metrics": record.test_metrics,
            "init": init, "weights": weights(module)}


def assert_same_run(ours, reference, precision="32"):
    """Counts equal exactly; logged metrics and weights within ``TOLERANCE[precision]``."""
    tolerance = TOLERANCE["mixed" if "mixed" in str(precision) else "32"]
    for key in COUNTED:
        assert ours[key] == reference[key], key
    for key in ("val_metrics", "test_metrics"):
        torch.testing.assert_close(torch.tensor(ours[key]), torch.tensor(reference[key]),
                                   **tolerance["metrics"], msg=lambda m, key=key: f"{key}: {m}")
    for name, init in reference["init"].items():
        assert torch.equal(ours["init"][name], init), f"{name}: the same seed must give the same start"
        mine, theirs = ours["weights"][name], reference["weights"][name]
        if reference["steps"] == 0:  # nothing trained (max_time=0): neither may have moved at all
            assert torch.equal(mine, init) and torch.equal(theirs, init), name
            continue
        moved = (theirs - init).norm()
        assert moved > 0, f"{name} did not move in {reference['steps']} steps: the check would be empty"
        off = (mine - theirs).norm()
        assert off <= tolerance["ratio"] * moved, f"{name}: ‖ours − ref‖ {off:.3g}, ‖ref − init‖ {moved:.3g}"


@pytest.mark.parametrize(("flags", "callbacks", "plateau"), ROWS)
def test_mlplab_does_what_plain_lightning_does(flags, callbacks, plateau, data_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    reference = fit(PlainMLP(plateau), fashion(data_dir), tmp_path / "plain", flags, callbacks,
                    CSVLogger(tmp_path / "plain"))
    L.seed_everything(0, verbose=False)
    scheduler = {"scheduler": {"_target_": PLATEAU, "monitor": "val/loss", **plateau}} if plateau else {}
    module = mlp_module(hidden=HIDDEN, lr=LR, **scheduler)
    ours = fit(module, fashion(data_dir), tmp_path / "mlplab", flags, callbacks,
               CSVLogger(tmp_path / "mlplab"))

    assert_same_run(ours, reference, flags.get("precision", "32"))
    if plateau:  # the scheduler acted, in both: the lr fell below the optimizer's
        assert reference["lr"] < LR


def tensor_splits(data_dir):
    """The fake files read without mlplab's data module, preprocessed as its docs say: images
    ``[N, 1, 28, 28]`` as ``x / 255`` (no normalising), int64 labels; the validation split is the
    first ``VAL_SIZE`` of ``randperm(n, seed)``, training the rest in that order."""
    raw = data_dir / "FashionMNIST" / "raw"

    def read(split):
        images, labels = (read_idx(raw / name) for name in FILES[split])
        return images.unsqueeze(1).float() / 255, labels.long()

    (x, y), test = read("train"), read("test")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(DATA_SEED))
    val, train = order[:VAL_SIZE], order[VAL_SIZE:]
    return (x[train], y[train]), (x[val], y[val]), test


class PlainOnTensors(PlainMLP):
    """The reference serving its own plain ``DataLoader``s over ``TensorDataset``s.

    mlplab's epoch e serves ``randperm(n, seed + e)`` cut into batches (``mlplab.data.batches``).
    A ``DataLoader(shuffle=True)`` cannot give that order: its RandomSampler draws from the
    loader's generator only after the iterator has taken a base seed from the same generator, and
    later epochs continue that stream instead of reseeding. So the documented permutation is
    applied to the tensors here and served with ``shuffle=False``, by a loader rebuilt every epoch
    (``reload_dataloaders_every_n_epochs=1``, given to the reference only). Val/test: file order."""

    def __init__(self, data_dir) -> None:
        super().__init__()
        self.splits = tensor_splits(data_dir)

    def train_dataloader(self):
        x, y = self.splits[0]
        epoch = torch.Generator().manual_seed(DATA_SEED + self.current_epoch)
        order = torch.randperm(len(x), generator=epoch)
        return DataLoader(TensorDataset(x[order], y[order]), batch_size=BATCH, shuffle=False)

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.splits[1]), batch_size=EVAL_BATCH, shuffle=False)

    def test_dataloader(self):
        return DataLoader(TensorDataset(*self.splits[2]), batch_size=EVAL_BATCH, shuffle=False)


def test_mlplab_on_its_data_module_matches_plain_loaders_over_the_files(data_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    reference = fit(PlainOnTensors(data_dir), None, tmp_path / "plain",
                    {"max_epochs": 3, "reload_dataloaders_every_n_epochs": 1}, [], False)
    L.seed_everything(0, verbose=False)
    ours = fit(mlp_module(hidden=HIDDEN, lr=LR), fashion(data_dir), tmp_path / "mlplab",
               {"max_epochs": 3}, [], False)
    assert_same_run(ours, reference)
    assert len(ours["validations"]) == 3 and ours["test_batches"] == N_TEST // EVAL_BATCH


def test_two_loggers_at_once_both_receive_the_epoch_metrics(data_dir, tmp_path):
    tensorboard, csv = TensorBoardLogger(tmp_path, name="tb"), CSVLogger(tmp_path, name="csv")
    L.seed_everything(0, verbose=False)
    module = mlp_module(hidden=HIDDEN)
    fit(module, fashion(data_dir), tmp_path, {}, [], [tensorboard, csv])
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/acc" in rows and "train/loss" in rows


def test_trainer_predict_gives_class_probabilities_for_every_test_image(data_dir):
    data = fashion(data_dir)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    batches = trainer.predict(mlp_module(hidden=HIDDEN), datamodule=data)
    probabilities = torch.cat(batches)
    assert probabilities.shape == (N_TEST, 10)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(N_TEST))
    assert len(data.predict_dataloader().dataset) == N_TEST  # a DataLoader with a .dataset, as users expect


def test_trying_the_trainer_before_the_run_leaves_torchs_flags_and_says_nothing(caplog):
    """The pre-flight Trainer of a job (``runtime.lightning_trainer.try_trainer``) is dropped: a
    sweep's next job must not inherit its ``deterministic`` or ``benchmark``, and its device lines
    ("GPU available: …") are not said once per job."""
    import logging

    from omegaconf import OmegaConf

    from mlplab.runtime.lightning_trainer import try_trainer

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with caplog.at_level(logging.INFO):
        try_trainer(OmegaConf.create({"_target_": "lightning.pytorch.Trainer", "accelerator": "cpu",
                                      "devices": 1, "deterministic": True, "benchmark": not before[1]}))
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    assert not [r for r in caplog.records if "available" in r.getMessage()]
