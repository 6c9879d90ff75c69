"""TensorBoardDashboard: what a real fit+test writes, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from helpers import REPO, event_dir, mlp_module, run_main
from helpers.hparams_api import hparams_tab
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from mlplab.cli.train import main as train_main
from mlplab.config.datasets import FashionMNISTSettings
from mlplab.config.module_settings import RegularizerSettings
from mlplab.config.network import ModelSettings
from mlplab.config.optimization import optimizer_settings
from mlplab.data.batches import minibatch_loader
from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.reporting.dashboard import TensorBoardDashboard, best_validation, run_hparams
from mlplab.reporting.hparams import override_row, settings_row

KNOBS = {"hidden": [64, 32], "activation": {"name": "tanh"}, "dropout": 0.2, "weight_decay": 1e-3,
         "lr": 0.2}


def test_the_hparams_row_is_every_declared_setting_but_where_files_are():
    row = settings_row([ModelSettings(net={"hidden": [256, 256]}), RegularizerSettings(dropout=[0.2, 0.5]),
                        optimizer_settings({"lr": 0.1}),
                        FashionMNISTSettings(train_subset=None, seed=7, data_dir="/x")])
    assert row["model.net.hidden"] == "256,256" and row["regularizer.dropout"] == "0.2,0.5"
    assert row["model.net._target_"] == "mlplab.nets.ScratchMLP" and row["model.net.init_std"] == 0.01
    assert "model.net" not in row and row["model.compile"] is False
    assert row["optimizer.lr"] == 0.1 and row["regularizer.label_smoothing"] == 0.0
    assert row["optimizer._target_"] == "torch.optim.SGD"
    assert row["data.train_subset"] == "None" and row["data.seed"] == 7
    assert "data.data_dir" not in row and "data.debian_dir" not in row and "data.download" not in row
    module = mlp_module(hidden=[8], label_smoothing=0.1,
                        scheduler={"_target_": "mlplab.training.schedules.Cosine", "interval": "step"})
    assert {"regularizer.label_smoothing", "scheduler._target_", "scheduler.min_ratio", "optimizer.nesterov",
            "trainer.max_epochs"} <= set(run_hparams(module, None, 3))


def test_the_command_lines_other_overrides_are_columns_too():
    """A Trainer flag, a top-level key or a group's choice set on the command line is a column (a
    sweep over it shows in the HParams tab); keys already columns, paths and deletions are not."""
    row = override_row(["trainer.accumulate_grad_batches=2", "test_ckpt=best", "optimizer.lr=0.5",
                        "+trainer.limit_train_batches=5", "model=concise", "~trainer.max_time",
                        "paths.output_dir=/x", "hydra.run.dir=y", "data.augment=true", "seed=3"],
                       known=["optimizer.lr"])
    assert row == {"trainer.accumulate_grad_batches": 2, "test_ckpt": "best", "model": "concise",
                   "trainer.limit_train_batches": 5, "data.augment": True, "seed": 3}


def test_best_validation_takes_max_accuracy_and_min_loss_of_any_epoch():
    history = [{"val/acc": 0.70, "val/loss": 0.80}, {"val/acc": 0.75, "val/loss": 0.90},
               {"val/acc": 0.72, "val/loss": 0.60}, {"train/loss": 0.5}]
    assert best_validation(history, ("acc", "loss")) == {"hp/val_acc": 0.75, "hp/val_loss": 0.60}
    assert best_validation(history, ("loss",)) == {"hp/val_loss": 0.60}
    assert best_validation([], ("acc", "loss")) == {}


def _trainer(logger, tmp_path) -> L.Trainer:
    return L.Trainer(max_epochs=2, limit_train_batches=5, logger=logger, callbacks=[TensorBoardDashboard()],
                     accelerator="cpu", devices=1,  # a GPU box must not train this on CUDA, or start DDP
                     enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                     log_every_n_steps=1, default_root_dir=tmp_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny real fit+test, and what TensorBoard reads back from it."""
    tmp_path = tmp_path_factory.mktemp("dashboard")
    L.seed_everything(0, verbose=False)
    data = FashionMNISTDataModule(data_dir=os.environ["MLPLAB_DATA_DIR"], train_subset=1024, val_size=512)
    module = mlp_module(**KNOBS)
    logger = TensorBoardLogger(tmp_path, name="tb", version="", default_hp_metric=False)
    trainer = _trainer(logger, tmp_path)
    trainer.fit(module, datamodule=data)
    training_after_fit, fit_steps = module.training, trainer.global_step
    test = trainer.test(module, datamodule=data, verbose=False)[0]
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "histograms": 0,
                                                                  "images": 0, "tensors": 0})
    return SimpleNamespace(module=module, test=test, training_after_fit=training_after_fit,
                           fit_steps=fit_steps, events=events.Reload())


def _hparams(events: EventAccumulator) -> dict[str, HParamsPluginData]:
    content = events.PluginTagToContent("hparams")
    return {tag.split("/")[-1]: HParamsPluginData.FromString(data) for tag, data in content.items()}


@pytest.mark.dataset
def test_hparams_session_holds_the_knobs_and_registers_the_metrics(run):
    plugin = _hparams(run.events)
    start = plugin["session_start_info"].session_start_info.hparams
    assert start["activation.name"].string_value == "tanh"
    assert start["model.net.hidden"].string_value == "64,32"
    assert start["optimizer.lr"].number_value == pytest.approx(0.2)
    assert start["regularizer.weight_decay"].number_value == pytest.approx(1e-3)
    assert start["regularizer.dropout"].number_value == pytest.approx(0.2)
    assert start["data.train_subset"].number_value == 1024 and start["trainer.max_epochs"].number_value == 2
    compile_ = start["model.compile"]
    assert compile_.WhichOneof("kind") == "bool_value" and compile_.bool_value is False  # not a 0
    registered = {m.name.tag for m in plugin["experiment"].experiment.metric_infos}
    assert registered == {"hp/val_acc", "hp/val_loss", "hp/test_acc", "hp/test_loss"}
    columns = {c.name: c.type for c in plugin["experiment"].experiment.hparam_infos}
    assert columns.keys() == start.keys() and columns["model.compile"] == api_pb2.DATA_TYPE_BOOL
    assert plugin["session_end_info"].session_end_info.status == api_pb2.STATUS_SUCCESS


@pytest.mark.dataset
def test_hparams_metrics_are_the_best_validation_and_the_test_values(run):
    events, history = run.events, run.module.history
    last = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"] if tag.startswith("hp/")}
    assert last["hp/val_acc"] == pytest.approx(max(row["val/acc"] for row in history), rel=1e-6)
    assert last["hp/val_loss"] == pytest.approx(min(row["val/loss"] for row in history), rel=1e-6)
    assert last["hp/test_acc"] == pytest.approx(run.test["test/acc"], rel=1e-6)
    assert last["hp/test_loss"] == pytest.approx(run.test["test/loss"], rel=1e-6)
    for tag in last:  # once, at the run's end: a point in the Scalars tab, no line from a placeholder
        assert [event.step for event in events.Scalars(tag)] == [run.fit_steps]
    assert run.fit_steps > 0


@pytest.mark.dataset
def test_a_histogram_per_weight_matrix_per_epoch(run):
    histograms = set(run.events.Tags()["histograms"])
    assert histograms == {"weights/W1", "weights/W2", "weights/W3"}  # biases left out
    for tag in histograms:  # at each epoch's end, on the scalars' x-axis (steps, not epochs)
        assert [event.step for event in run.events.Histograms(tag)] == [run.fit_steps // 2, run.fit_steps]


@pytest.mark.dataset
def test_pictures_of_the_activation_and_the_validation_set(run):
    events = run.events
    images = set(events.Tags()["images"])
    assert {"activation/tanh", "val/confusion_matrix", "val/misclassified"} <= images
    grid = events.Images("val/misclassified")[-1]
    assert (grid.width, grid.height) == (8 * 30 + 2, 4 * 30 + 2)  # 32 images of 28 px, padding 2
    assert events.Images("val/confusion_matrix")[-1].width > 300
    activation = events.Images("activation/tanh")[-1]  # a 5 × 2.5 in figure at Agg's 100 dpi
    assert (activation.width, activation.height) == (500, 250)
    assert run.training_after_fit  # the validation pass at fit end put the module back in train mode


class RandomImages(L.LightningDataModule):
    """64 random images in three batches: enough to run every hook without the real data."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.x = torch.rand(64, 1, 28, 28, generator=generator)
        self.y = torch.randint(0, 10, (64,), generator=generator)

    def train_dataloader(self):
        return minibatch_loader(self.x, self.y, batch_size=24)

    val_dataloader = test_dataloader = train_dataloader


@pytest.mark.parametrize("logger", ["csv", "none"])
def test_without_tensorboard_it_writes_nothing(tmp_path, logger):
    trainer = _trainer(CSVLogger(tmp_path, name="csv") if logger == "csv" else False, tmp_path)
    module, data = mlp_module(hidden=[8]), RandomImages()
    trainer.fit(module, datamodule=data)
    trainer.test(module, datamodule=data, verbose=False)
    assert not list(tmp_path.rglob("events.out.tfevents*"))
    assert [p.name for p in tmp_path.rglob("*.csv")] == (["metrics.csv"] if logger == "csv" else [])


# the last epoch starts from zeroed weights (helpers/spoil.py), so it is not the best one
# (val/acc 0.32, 0.62, then 0.10 here)
LAST_NOT_BEST = ["data.train_subset=6000", "data.val_size=1000", "model.net.hidden=[64]", "optimizer.lr=0.3",
                 "trainer.max_epochs=3", "+callbacks.spoil._target_=helpers.spoil.SpoilLastEpoch"]


@pytest.mark.slow
@pytest.mark.dataset
def test_hparams_best_is_the_checkpoint_callbacks_best_when_the_last_epoch_is_not_it(tmp_path):
    run_dir = tmp_path / "run"
    code, _, stderr = run_main(train_main, *LAST_NOT_BEST, f"hydra.run.dir={run_dir}", cwd=REPO)
    assert code == 0, stderr[-2000:]
    result = json.loads((run_dir / "metrics.json").read_text())
    accuracies = [row["val/acc"] for row in result["history"]]
    assert max(accuracies) > accuracies[-1] + 0.2  # the case where "best" must be kept, not the last
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [state for key, state in last["callbacks"].items()
                if key.startswith("ModelCheckpoint") and "'monitor': 'val/acc'" in key]
    best = float(state["best_model_score"])  # what chose best.ckpt
    events = EventAccumulator(str(event_dir(run_dir)))
    events.Reload()
    (point,) = events.Scalars("hp/val_acc")
    assert point.value == pytest.approx(best, abs=1e-6) and result["monitor"]["best"] == pytest.approx(best)
    _, rows = hparams_tab(run_dir / "tensorboard", runs=1)  # and the HParams tab serves that value
    assert rows[0]["metrics"]["hp/val_acc"] == pytest.approx(best, abs=1e-6)


@pytest.mark.slow
@pytest.mark.dataset
def test_a_resumed_run_has_one_hparams_row_with_its_final_settings(tmp_path):
    """TensorBoard reads the first HParams session it finds in a run: the resumed run's row must
    replace the one its first part wrote, and its best val/acc be that of the whole history."""
    run_dir = tmp_path / "run"
    small = ["data.train_subset=2000", "data.val_size=500", "model.net.hidden=[32]", "test_ckpt=last"]
    code, _, stderr = run_main(train_main, *small, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}",
                               cwd=REPO)
    assert code == 0, stderr[-2000:]
    code, _, stderr = run_main(train_main, *small, "trainer.max_epochs=2",
                               f"ckpt_path={run_dir}/checkpoints/last.ckpt",
                               f"hydra.run.dir={tmp_path}/again", cwd=REPO)
    assert code == 0, stderr[-2000:]
    result = json.loads((run_dir / "metrics.json").read_text())
    assert len(result["history"]) == 2
    assert len(list((run_dir / "tensorboard").rglob("events.out.tfevents.*.hparams"))) == 1
    _, rows = hparams_tab(run_dir / "tensorboard", runs=1)
    assert len(rows) == 1 and rows[0]["hparams"]["trainer.max_epochs"] == 2
    assert rows[0]["hparams"]["test_ckpt"] == "last"  # an override that is no module or data setting
    assert rows[0]["metrics"]["hp/val_acc"] == pytest.approx(result["monitor"]["best"], abs=1e-6)


class MostlyZeros(RandomImages):
    """50 images labelled 0 and 14 labelled 3: a model that always says 0 gets exactly 14 wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.y = torch.tensor([0] * 50 + [3] * 14)


def test_the_misclassified_grid_holds_the_images_the_model_gets_wrong(tmp_path):
    """A network whose output bias makes it answer 0 for every image: the grid holds the 14 images
    labelled otherwise (2 rows of 8), not the 32 it gets right."""
    module = mlp_module(hidden=[8], lr=1e-9)  # the bias stays: the answer stays 0
    with torch.no_grad():
        module.net.b2.copy_(torch.tensor([100.0] + [0.0] * 9))
    logger = TensorBoardLogger(tmp_path, name="tb")
    _trainer(logger, tmp_path).fit(module, datamodule=MostlyZeros())
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    grid = events.Images("val/misclassified")[-1]
    assert (grid.width, grid.height) == (8 * 30 + 2, 2 * 30 + 2)  # 14 images of 28 px, padding 2
