"""Lightning's contract, flag by flag: mlplab does what a plain LightningModule does under the same
Trainer flag and callbacks — the same optimizer steps, validation points, checkpoints and final
weights. The reference is d2l's scratch MLP in a plain LightningModule: automatic optimization,
one minibatch per step, same seed, same data, same batch order; mlplab's module trains on
Lightning's own loop too, so every flag acts as Lightning documents it."""

from __future__ import annotations

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

from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.nets.scratch import ScratchMLP

HIDDEN, LR = [16], 0.1


class PlainMLP(L.LightningModule):
    """The reference: nothing of mlplab but the network."""

    def __init__(self) -> None:
        super().__init__()
        self.net = ScratchMLP(hidden=HIDDEN)

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
        return torch.optim.SGD(self.parameters(), lr=LR)


class Record(L.Callback):
    """When validation ran (epoch, step) and how many test batches were scored."""

    def __init__(self) -> None:
        self.validations, self.test_batches = [], 0

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.validations.append((trainer.current_epoch, trainer.global_step))

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.test_batches += 1


# (id, Trainer flags, callbacks to add)
ROWS = [
    ("plain", {}, []),
    ("max_steps", {"max_steps": 7}, []),
    ("max_epochs=-1+max_steps", {"max_epochs": -1, "max_steps": 13}, []),
    ("max_time", {"max_time": datetime.timedelta(0)}, []),  # stops after the first step
    ("limit_train_batches=3", {"limit_train_batches": 3}, []),
    ("limit_train_batches=0.5", {"limit_train_batches": 0.5}, []),
    ("limit_val_batches=1", {"limit_val_batches": 1}, []),
    ("limit_val_batches=0.5", {"limit_val_batches": 0.5}, []),
    ("limit_test_batches=1", {"limit_test_batches": 1}, []),
    ("limit_test_batches=0.5", {"limit_test_batches": 0.5}, []),
    ("overfit_batches=2", {"overfit_batches": 2}, []),
    ("overfit_batches=0.3", {"overfit_batches": 0.3}, []),
    ("val_check_interval=4", {"val_check_interval": 4}, []),
    ("val_check_interval=0.5", {"val_check_interval": 0.5}, []),
    ("check_val_every_n_epoch=2", {"check_val_every_n_epoch": 2, "max_epochs": 4}, []),
    ("fast_dev_run=True", {"fast_dev_run": True}, []),
    ("fast_dev_run=3", {"fast_dev_run": 3}, []),
    ("clip norm", {"gradient_clip_val": 0.05, "gradient_clip_algorithm": "norm"}, []),
    ("clip value", {"gradient_clip_val": 0.001, "gradient_clip_algorithm": "value"}, []),
    ("accumulate_grad_batches=3", {"accumulate_grad_batches": 3}, []),
    ("precision=32-true", {"precision": "32-true"}, []),
    ("precision=bf16-mixed", {"precision": "bf16-mixed"}, []),
    ("deterministic", {"deterministic": True}, []),
    ("num_sanity_val_steps=0", {"num_sanity_val_steps": 0}, []),
    ("EarlyStopping", {"max_epochs": 6}, [lambda: EarlyStopping("val/loss", patience=0, min_delta=0.05)]),
    ("LearningRateMonitor", {}, [lambda: LearningRateMonitor()]),
    ("StochasticWeightAveraging", {"max_epochs": 3}, [lambda: StochasticWeightAveraging(swa_lrs=0.05)]),
    ("ModelCheckpoint(every_n_train_steps=3)", {}, [lambda: ModelCheckpoint(every_n_train_steps=3)]),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake"), 200, 40)


def fit(module, data_dir, tmp_path, flags, callbacks, loggers):
    """Fit and test as a user would; what the contract compares."""
    data = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=16, val_size=40, eval_batch_size=8,
                                  download=False, check_counts=False)
    record = Record()
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{epoch}-{step}", save_top_k=-1)
    trainer = L.Trainer(**{"max_epochs": 2, "accelerator": "cpu", "devices": 1, "logger": loggers,
                           "enable_progress_bar": False, "enable_model_summary": False, **flags},
                        callbacks=[record, checkpoints, *(make() for make in callbacks)],
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=data)
    trainer.test(module, datamodule=data, verbose=False)
    saved = sorted(p.name for p in (tmp_path / "ckpt").glob("*.ckpt")) if (tmp_path / "ckpt").exists() else []
    return {"steps": trainer.global_step, "validations": record.validations, "checkpoints": saved,
            "test_batches": record.test_batches, "epochs": trainer.current_epoch,
            "weights": [p.detach().clone() for p in module.net.parameters()]}


@pytest.mark.parametrize(("flags", "callbacks"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_mlplab_does_what_plain_lightning_does(flags, callbacks, data_dir, tmp_path):
    L.seed_everything(0, verbose=False)
    reference = fit(PlainMLP(), data_dir, tmp_path / "plain", flags, callbacks, CSVLogger(tmp_path / "plain"))
    L.seed_everything(0, verbose=False)
    module = mlp_module(hidden=HIDDEN, lr=LR)
    ours = fit(module, data_dir, tmp_path / "mlplab", flags, callbacks, CSVLogger(tmp_path / "mlplab"))

    for key in ("steps", "validations", "checkpoints", "test_batches", "epochs"):
        assert ours[key] == reference[key], key
    tolerance = {"atol": 1e-2, "rtol": 1e-2} if flags.get("precision") == "bf16-mixed" else \
        {"atol": 1e-6, "rtol": 1e-5}
    for mine, theirs in zip(ours["weights"], reference["weights"], strict=True):
        torch.testing.assert_close(mine, theirs, **tolerance)


def test_two_loggers_at_once_both_receive_the_epoch_metrics(data_dir, tmp_path):
    tensorboard, csv = TensorBoardLogger(tmp_path, name="tb"), CSVLogger(tmp_path, name="csv")
    L.seed_everything(0, verbose=False)
    module = mlp_module(hidden=HIDDEN)
    fit(module, data_dir, tmp_path, {}, [], [tensorboard, csv])
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/acc" in rows and "train/loss" in rows


def test_trainer_predict_gives_class_probabilities_for_every_test_image(data_dir):
    data = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=16, val_size=40, eval_batch_size=8,
                                  download=False, check_counts=False)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    batches = trainer.predict(mlp_module(hidden=HIDDEN), datamodule=data)
    probabilities = torch.cat(batches)
    assert probabilities.shape == (40, 10)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(40))
    assert len(data.predict_dataloader().dataset) == 40  # a DataLoader with a .dataset, as users expect
