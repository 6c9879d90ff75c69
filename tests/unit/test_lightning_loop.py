"""Minibatches from memory as Lightning's loop drives them: which examples each epoch sees, in what
order, on which device and at which precision, and that every update is Lightning's own step.
Correctness only; speed is `make bench`'s job."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import mlp_module, write_fake_fashion_mnist

from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.runtime.record import trained_on

N_TRAIN, N_TEST, VAL = 100, 30, 20


class RecordBatches(L.Callback):
    """Remembers the image ids (pixel (0, 0) of the fake images) of every batch, per stage."""

    def __init__(self) -> None:
        self.seen: dict[str, list[list[int]]] = {"train": [], "val": [], "test": []}

    def _record(self, stage, batch):
        self.seen[stage].append(torch.round(batch[0][:, 0, 0, 0] * 255).long().tolist())

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._record("train", batch)

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self._record("val", batch)

    def on_test_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        self._record("test", batch)


def fit(data_dir, epochs=2, seed=0, drop_last=False, **trainer_kwargs) -> RecordBatches:
    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=32, val_size=VAL,
                                        seed=seed, drop_last=drop_last, download=False,
                                        check_counts=False, eval_batch_size=None)
    recorder = RecordBatches()
    module = mlp_module(hidden=[16])
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[recorder], **trainer_kwargs)
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return recorder


def epochs_of(batches, per_epoch):
    flat = [batches[i : i + per_epoch] for i in range(0, len(batches), per_epoch)]
    return [[i for batch in epoch for i in batch] for epoch in flat]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake"), N_TRAIN, N_TEST)


def test_each_epoch_sees_every_training_example_once_in_a_new_order(data_dir):
    seen = fit(data_dir).seen["train"]
    first, second = epochs_of(seen, per_epoch=3)  # 80 = 32 + 32 + 16: the short batch is kept
    assert [len(b) for b in seen] == [32, 32, 16] * 2
    assert sorted(first) == sorted(second) and len(set(first)) == N_TRAIN - VAL
    assert first != second


def test_same_seed_same_batches_other_seed_other_batches(data_dir):
    assert fit(data_dir, seed=0).seen["train"] == fit(data_dir, seed=0).seen["train"]
    assert fit(data_dir, seed=0).seen["train"] != fit(data_dir, seed=1).seen["train"]


def test_drop_last_drops_the_short_batch(data_dir):
    assert [len(b) for b in fit(data_dir, drop_last=True).seen["train"]] == [32, 32] * 2


def test_val_and_test_batches_are_complete_and_in_order(data_dir):
    seen = fit(data_dir, epochs=2).seen
    val_epochs = epochs_of(seen["val"], per_epoch=1)
    assert val_epochs[0] == val_epochs[1] and len(val_epochs[0]) == VAL
    test_ids = [i for batch in seen["test"] for i in batch]
    assert test_ids == list(range(N_TEST))  # file order, nothing dropped


def test_bf16_mixed_precision_steps_on_cpu(data_dir):
    seen = fit(data_dir, epochs=1, precision="bf16-mixed", limit_train_batches=2).seen
    assert len(seen["train"]) == 2


class CountUpdates(L.Callback):
    """Listens to Lightning's per-update hooks."""

    def __init__(self) -> None:
        self.backwards = self.steps = 0

    def on_after_backward(self, trainer, module):
        self.backwards += 1

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.steps += 1


class WhereTensorsAre(L.Callback):
    """The devices of the module's parameters and of each training batch, at every update."""

    def __init__(self) -> None:
        self.devices: set[str] = set()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.devices |= {str(t.device) for t in (*module.parameters(), *batch)}


def test_every_update_is_lightnings_automatic_step_and_its_hooks_hear_it(data_dir):
    listener, where = CountUpdates(), WhereTensorsAre()
    module = mlp_module(hidden=[16], dropout=0.3)
    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=8, val_size=VAL, download=False,
                                        check_counts=False)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[listener, where])
    trainer.fit(module, datamodule=datamodule)
    assert module.automatic_optimization
    # 80 training images in minibatches of 8: ten updates per epoch, each one Lightning step
    assert listener.backwards == listener.steps == trainer.global_step == 2 * 10
    # every weight and batch of every update was on the CPU, as metrics.json's "device" says
    assert where.devices == {"cpu"} and trained_on(trainer) == "cpu"


@pytest.mark.gpu
def test_data_lives_on_the_gpu_and_fit_runs_there(data_dir):
    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=32, val_size=VAL,
                                        download=False, check_counts=False)
    where = WhereTensorsAre()
    trainer = L.Trainer(max_epochs=1, accelerator="gpu", devices=1, precision="bf16-mixed",
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        callbacks=[where])
    trainer.fit(mlp_module(hidden=[16]), datamodule=datamodule)
    # the weights and every batch of every update were on the GPU, and so is what metrics.json
    # records for such a fit (mlplab.runtime.record.trained_on)
    assert where.devices == {"cuda:0"} and trained_on(trainer) == "cuda:0"
    assert datamodule.train[0].is_cuda and datamodule.val[0].is_cuda
    x, _ = next(iter(datamodule.train_dataloader()))
    assert x.is_cuda and x.dtype == torch.float32


@pytest.mark.slow
def test_compiled_network_matches_the_plain_one_and_keeps_its_state_dict_keys():
    torch.manual_seed(0)
    plain = mlp_module(hidden=[32])
    compiled = mlp_module(hidden=[32], compile=True)
    compiled.load_state_dict(plain.state_dict())
    assert list(compiled.state_dict()) == list(plain.state_dict())
    x = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(compiled(x), plain(x))


def test_an_epoch_without_validation_has_no_validation_numbers_in_its_history(data_dir):
    """``check_val_every_n_epoch=2``: epochs 0 and 2 are not validated, so their history rows (which
    become metrics.json, curves.png and the HParams bests) hold no val/ value, not the last one's."""
    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=32, val_size=VAL, seed=0,
                                        download=False, check_counts=False)
    module = mlp_module(hidden=[16])
    trainer = L.Trainer(max_epochs=4, check_val_every_n_epoch=2, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0)
    trainer.fit(module, datamodule=datamodule)
    validated = [any(key.startswith("val/") for key in row) for row in module.history]
    assert [row["epoch"] for row in module.history] == [0, 1, 2, 3]
    assert validated == [False, True, False, True]


def test_a_nan_loss_stops_the_fit_as_diverged_at_that_update(data_dir):
    """NaN is no number below max_loss: the first update whose objective is NaN ends the fit as
    diverged (a loss that blew up past max_loss is the other way there)."""
    from mlplab.errors import Diverged

    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=32, val_size=VAL, seed=0,
                                        download=False, check_counts=False)
    module = mlp_module(hidden=[16])
    with torch.no_grad():
        module.net.W1.fill_(float("nan"))
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    with pytest.raises(Diverged, match=r"^the training loss reached nan at update 1 \(epoch 0\)"):
        trainer.fit(module, datamodule=datamodule)


class SecondSignalIn(L.Callback):
    """Raises what GracefulStop raises on a second signal, at the second batch of ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        from mlplab.runtime.interrupt import Interrupted

        if trainer.current_epoch == self.epoch and batch_idx == 1:
            raise Interrupted("stopped by a second SIGTERM")


@pytest.mark.parametrize("stop_in", [None, 1])
def test_what_a_stopped_or_finished_fit_says_of_its_epochs(stop_in, data_dir):
    """``reached_the_end`` at the last epoch's end; a second signal in epoch 2 of 3 names that epoch
    and the one complete epoch last.ckpt holds (``runtime.interrupt``)."""
    from mlplab.runtime.interrupt import Interrupted, reached_the_end, stopped_mid_epoch

    datamodule = FashionMNISTDataModule(data_dir=str(data_dir), batch_size=32, val_size=VAL, seed=0,
                                        download=False, check_counts=False)
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[SecondSignalIn(stop_in)] if stop_in is not None else [])
    if stop_in is None:
        trainer.fit(mlp_module(hidden=[16]), datamodule=datamodule)
        assert reached_the_end(trainer)
        return
    with pytest.raises(Interrupted) as stopped:
        trainer.fit(mlp_module(hidden=[16]), datamodule=datamodule)
    assert not reached_the_end(trainer)
    said = stopped_mid_epoch(stopped.value, trainer)
    assert said == ("stopped by a second SIGTERM during epoch 2 of 3; its updates are dropped, last.ckpt "
                    "holds the 1 complete epoch(s)")
