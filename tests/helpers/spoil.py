"""A callback that makes the last epoch the worst, on any CPU's arithmetic."""

from __future__ import annotations

import lightning as L
import torch


class SpoilLastEpoch(L.Callback):
    """Zero every parameter as the last epoch starts. From all-zero weights only the output bias
    learns (the hidden units output ReLU(0) = 0, so no weight gets a gradient): the network predicts
    one class, and that epoch's validation accuracy (about 0.1) is below any earlier epoch's."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == trainer.max_epochs - 1:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.zero_()
