"""A callback of a user's own that logs a metric of its own, as Lightning lets a callback do:
``my/score`` = 1 / (1 + epoch), which only worsens, so a monitor that follows it keeps epoch 0 and
EarlyStopping (patience 1) stops after epoch 1, where one that follows val/acc would go on."""

from __future__ import annotations

import lightning as L


class ScoreLogger(L.Callback):
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("my/score", 1 / (1 + trainer.current_epoch))
