"""What TensorBoard shows of a run beyond its scalars: HParams, weight histograms and pictures.

``TensorBoardDashboard`` is a Lightning callback; it writes only through a ``TensorBoardLogger``
of the trainer (with any other logger, or none, it does nothing) and only on global rank zero.

    HParams        one row per run, written at its end: its knobs, best val/acc and val/loss,
                   test/acc and test/loss
    weights/<name> a histogram of every weight matrix per epoch (how init_std, λ, p shape them)
    activation/*   σ(x) and σ'(x) by autograd: why sigmoid's gradient vanishes and ReLU's does not
    val/*          the confusion matrix and a grid of misclassified validation images, at fit end
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torchmetrics.classification import MulticlassConfusionMatrix
from torchvision.utils import make_grid

from mlplab.config.monitor import better_mode, validation_metrics
from mlplab.config.settings import Settings
from mlplab.config.store import as_written
from mlplab.data.batches import Minibatch  # (images [B, 1, 28, 28] float, labels [B] int64)
from mlplab.data.fashion_mnist import CLASSES
from mlplab.nets.activations import ACTIVATIONS, autograd_derivative
from mlplab.records import RunStatus
from mlplab.reporting.hparams import HParam, hparams_summaries, override_row, settings_row

HPARAMS_FILE = ".hparams"  # the suffix of the event file that holds a run's HParams row
HISTOGRAM_BINS = 64  # TensorBoard redraws a histogram in ~30 buckets; 64 keep its shape


def run_hparams(pl_module: L.LightningModule, datamodule: Any, max_epochs: int | None) -> dict[str, HParam]:
    """The HParams row of a run: the module's and the data's settings, the epochs, and any other
    computing override of its command line."""
    groups: list[Settings] = []
    module_settings = getattr(pl_module, "settings", None)
    if module_settings is not None:
        groups += [getattr(module_settings, name) for name in module_settings.__dataclass_fields__
                   if getattr(module_settings, name) is not None]  # scheduler=none: no group
    if isinstance(getattr(datamodule, "settings", None), Settings):
        groups.append(datamodule.settings)
    row = {**settings_row(groups), "trainer.max_epochs": max_epochs if max_epochs is not None else -1}
    if HydraConfig.initialized():  # a run of mlplab-train: what its command line set beside
        row |= override_row(as_written(HydraConfig.get().overrides.task), row)
    return row


def activation_figure(name: str) -> Figure:
    """σ(x) and its autograd derivative on [−8, 8), as d2l 4.1.2 draws them."""
    fn = ACTIVATIONS[name].scratch
    x = torch.arange(-8.0, 8.0, 0.1)
    fig = Figure(figsize=(5, 2.5))
    ax = fig.add_subplot()
    ax.plot(x.numpy(), fn(x).numpy(), label=f"{name}(x)")
    ax.plot(x.numpy(), autograd_derivative(fn, x).numpy(), "--", label=f"grad of {name}")
    ax.set_xlabel("x")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


@functools.cache
def activation_picture(name: str) -> np.ndarray:
    """``activation_figure(name)`` rendered by Agg, as RGB [H, W, 3] uint8: the same for every
    run, so a sweep of many runs in one process draws it once (a draw is ~40 ms)."""
    fig = activation_figure(name)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    picture = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    picture.flags.writeable = False  # shared by every run that logs it
    return picture


def confusion_figure(counts: Tensor, labels: Sequence[str]) -> Figure:
    """Counts of (true row, predicted column): the off-diagonal cells are the classes the model mixes
    up (on Fashion-MNIST: shirt, T-shirt, pullover and coat)."""
    counts = counts.cpu().numpy()
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    for (true, pred), n in np.ndenumerate(counts):
        ax.text(pred, true, n, ha="center", va="center", fontsize=7,
                color="white" if n > counts.max() / 2 else "black")
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=60, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    # room for the longest class names, rotated below and level on the left ("T-shirt/top",
    # "Ankle boot"); fixed margins spare tight_layout's extra draw of 100 labelled cells
    fig.subplots_adjust(left=0.17, bottom=0.2, right=0.98, top=0.97)
    return fig


def best_validation(history: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    """``hp/val_acc`` = the highest val/acc of any epoch, ``hp/val_loss`` = the lowest val/loss."""
    values = {}
    for name in names:
        seen = [row[f"val/{name}"] for row in history if f"val/{name}" in row]
        if seen:
            values[f"hp/val_{name}"] = max(seen) if better_mode(f"val/{name}") == "max" else min(seen)
    return values


def _tensorboard(trainer: L.Trainer) -> TensorBoardLogger | None:
    if not trainer.is_global_zero:
        return None
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def _to_device(batches: Iterable[Minibatch], device: torch.device) -> Iterable[Minibatch]:
    for x, y in batches:
        yield x.to(device), y.to(device)


def _task(pl_module: L.LightningModule) -> str:
    return pl_module.hparams.get("task", "classification")


def _hp_names(task: str) -> tuple[str, ...]:
    return tuple(name.removeprefix("val/") for name in validation_metrics(task))


def whole_validation_set(datamodule: L.LightningDataModule) -> Any:
    """All validation batches, not only this process's DDP share, where the DataModule can say."""
    if "whole" in inspect.signature(datamodule.val_dataloader).parameters:
        return datamodule.val_dataloader(whole=True)
    return datamodule.val_dataloader()


class TensorBoardDashboard(L.Callback):
    """Enrich a run's TensorBoard; a silent no-op without a ``TensorBoardLogger``.

    Figures go through ``add_figure``, which renders them with Agg and closes them; the activation's
    picture, the same for every run, is rendered once per process and goes through ``add_image``.

    The logger should have ``default_hp_metric=False``: then the HParams session this callback
    writes at the run's end is the run's only one, and its metrics are ``hp/{val,test}_{acc,loss}``.
    """

    def __init__(self, max_misclassified: int = 32) -> None:
        self.max_misclassified = max_misclassified
        self.written = False  # the HParams row: once per run (write_hparams)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Draw the run's activation once."""
        logger = _tensorboard(trainer)
        activation = pl_module.hparams.get("activation", {}).get("name")
        if logger is not None and activation in ACTIVATIONS:
            logger.experiment.add_image(f"activation/{activation}", activation_picture(activation), 0,
                                        dataformats="HWC")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Weights only (≥ 2 dims): biases start at zero and tell little about init or decay."""
        logger = _tensorboard(trainer)
        if logger is None:
            return
        for name, param in pl_module.net.named_parameters():
            if param.dim() >= 2:  # 64 bins: a third of the default's time (~1500 edges), as readable
                logger.experiment.add_histogram(f"weights/{name}", param.detach(), trainer.global_step,
                                                bins=HISTOGRAM_BINS)  # the step the scalars are drawn at

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The validation pictures of the fitted model."""
        logger = _tensorboard(trainer)
        if (logger is not None and _task(pl_module) == "classification" and trainer.datamodule is not None
                and trainer.is_global_zero):  # under DDP only rank zero writes: it alone draws
            self._log_val_pictures(logger, trainer, pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Fit, then test: the run is complete, its HParams row can be written."""
        self.write_hparams(trainer, pl_module)

    def write_hparams(self, trainer: L.Trainer, pl_module: L.LightningModule,
                      status: RunStatus = RunStatus.FINISHED) -> None:
        """The run's HParams row, once, when the run ends: its settings, how it ended, its best
        validation values and, if it was tested, its test values, each written once at the last step
        (so the Scalars tab draws a point, not a line from a placeholder). ``mlplab.runtime.run``
        calls this for a run that ends without a test (diverged, interrupted, pruned)."""
        logger = _tensorboard(trainer)
        if logger is None or self.written:
            return
        self.written = True
        names = _hp_names(_task(pl_module))
        registered = [f"hp/{stage}_{name}" for stage in ("val", "test") for name in names]
        values = best_validation(getattr(pl_module, "history", []), names)
        metrics = trainer.callback_metrics
        values |= {f"hp/test_{n}": float(metrics[f"test/{n}"]) for n in names if f"test/{n}" in metrics}
        # A writer of its own in the run's folder (Lightning closes its writer when a stage ends), in a
        # file of its own: the plugin reads the first session it finds in a run, so a resumed run's
        # row replaces the one its earlier part wrote (its values are those of the whole history).
        earlier = list(Path(logger.log_dir).glob(f"events.out.tfevents.*{HPARAMS_FILE}"))
        with closing(SummaryWriter(log_dir=logger.log_dir, filename_suffix=HPARAMS_FILE)) as writer:
            row = run_hparams(pl_module, trainer.datamodule, trainer.max_epochs)
            for summary in hparams_summaries(row, registered, status):
                writer.file_writer.add_summary(summary)
            for tag, value in values.items():
                writer.add_scalar(tag, value, trainer.global_step)
        for path in earlier:
            path.unlink(missing_ok=True)

    def _log_val_pictures(self, logger: TensorBoardLogger, trainer: L.Trainer,
                          pl_module: L.LightningModule) -> None:
        """One pass over the validation set in eval mode: the confusion matrix, and the first
        ``max_misclassified`` images the model gets wrong (what "wrong" looks like)."""
        num_classes = pl_module.hparams.num_outputs
        matrix = MulticlassConfusionMatrix(num_classes, sync_on_compute=False)  # rank zero alone
        wrong: list[Tensor] = []
        was_training = pl_module.training
        pl_module.eval()
        try:
            # the images in the weights' dtype (64-true, bf16-true), as Lightning converts a batch; a
            # batched group's member keeps fp32 weights under the stack's precision
            dtype = next(pl_module.parameters()).dtype
            with torch.no_grad(), trainer.precision_plugin.forward_context():
                for x, y in _to_device(whole_validation_set(trainer.datamodule), pl_module.device):
                    pred = pl_module(x.to(dtype)).argmax(dim=1)
                    matrix.update(pred.cpu(), y.cpu())
                    wrong.append(x[pred != y][: self.max_misclassified].cpu())  # enough from any batch
        finally:
            pl_module.train(was_training)
        step = trainer.global_step
        labels = CLASSES if num_classes == len(CLASSES) else [str(k) for k in range(num_classes)]
        logger.experiment.add_figure("val/confusion_matrix", confusion_figure(matrix.compute(), labels), step)
        images = torch.cat(wrong)[: self.max_misclassified]
        if len(images):
            logger.experiment.add_image("val/misclassified",
                                        make_grid(images, nrow=8, normalize=True, pad_value=1.0), step)
