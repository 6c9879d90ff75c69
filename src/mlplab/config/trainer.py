"""The ``trainer`` group's schema: Lightning's own ``Trainer`` arguments, read from its signature
(``mlplab.config.signature``). ``conf/trainer/default.yaml`` names what mlplab changes; the
objects mlplab builds itself (``logger``, ``callbacks``, ``plugins``) are not settings.
"""

from __future__ import annotations

import difflib
from dataclasses import field

import lightning as L
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.strategies import StrategyRegistry

from mlplab.config.settings import MOVED, Range, Settings, check_ranges
from mlplab.config.signature import signature_settings

BUILT_BY_MLPLAB = ("logger", "callbacks", "plugins")  # from the logger and callbacks groups
MOVED.update({
    "trainer.logger": "loggers are the logger group: logger=none, logger=csv, logger=[tensorboard,csv]",
    "trainer.callbacks": "callbacks are the callbacks group: callbacks=[default,early_stopping], or "
                         "+callbacks.<name>._target_=<class>",
    "trainer.plugins": "mlplab gives the Trainer its own plugin, the atomic checkpoint writer "
                       "(mlplab.runtime.checkpoints.AtomicCheckpointIO); no other can be set",
})


def registered_names() -> dict[str, list[str]]:
    """The names Lightning's Trainer accepts for ``strategy`` and ``accelerator`` (its registries,
    and the names its accelerator connector adds: ``auto``, ``gpu``)."""
    return {"strategy": ["auto", *StrategyRegistry.available_strategies()],
            "accelerator": ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]}


def check_names(self: Settings) -> None:
    """A strategy or accelerator given by name must be one Lightning has (it would refuse it only
    when the run builds its Trainer, with a traceback); the closest name is suggested."""
    for name, known in registered_names().items():
        value = getattr(self, name)
        as_read = value.lower() if name == "strategy" else value  # Lightning lower-cases strategies only
        if isinstance(value, str) and as_read not in known:
            close = difflib.get_close_matches(value.lower(), known, n=1)
            shown = [k for k in known if "_find_unused_parameters_" not in k]  # variants of ddp*
            more = (" and the ddp ones' *_find_unused_parameters_{true,false}"
                    if len(shown) < len(known) else "")
            self.fail(name, f"is not a{'n' if name[0] == 'a' else ''} {name} Lightning knows "
                      f"({', '.join(shown)}{more})", example=close[0] if close else known[0])


# Lightning's flags with a range it does not check when the Trainer is built: (the range, an example)
RANGES = {
    # counts it divides by once the fit runs (accumulate_grad_batches=0: ZeroDivisionError in epoch 1)
    "accumulate_grad_batches": (Range(1), 1), "check_val_every_n_epoch": (Range(1), 1),
    "val_check_interval": (Range(0, low_open=True), 1.0), "num_nodes": (Range(1), 1),
    # values it reads some other way without a word: a clip ≤ 0 clips nothing, log_every_n_steps=-5
    # logs every 5th step, and below -1 (-1: all batches) the sanity check is skipped
    "gradient_clip_val": (Range(0), 0.5), "log_every_n_steps": (Range(0), 50),
    "num_sanity_val_steps": (Range(-1), 2),
}


def trainer_rules(self: Settings) -> None:
    """mlplab's rules on top of Lightning's types: strategy and accelerator names Lightning has
    (``check_names``); no barebones mode (it forbids the logging a run is made of); the fit must
    end, after max_epochs ≥ 1 epochs or, with max_epochs=-1 (Lightning's "no limit"), after
    max_steps ≥ 1 updates."""
    check_names(self)
    check_ranges(self, RANGES)  # refused before the fit rather than mid-fit or never
    if self.barebones:  # type: ignore[attr-defined]
        # Lightning then refuses self.log, which every metric of mlplab's module goes through
        self.fail("barebones", "turns off LightningModule.log, which mlplab's module logs every metric with "
                  "(val/acc picks best.ckpt and fills metrics.json); for speed, many small runs train "
                  "faster as one (-m … hydra/launcher=batched)", example="false")
    epochs, steps = self.max_epochs, self.max_steps  # type: ignore[attr-defined]
    if epochs == -1 and steps > 0:
        return
    if epochs is None or epochs < 1:
        problem = ("-1 needs trainer.max_steps ≥ 1 (the fit must end)" if epochs == -1
                   else "must be a whole number of epochs ≥ 1, or -1 with trainer.max_steps")
        self.fail("max_epochs", problem, example=10)


TrainerSettings = signature_settings(L.Trainer, "TrainerSettings", "trainer", skip=BUILT_BY_MLPLAB,
                                     extra=[("_target_", str, field(default="lightning.pytorch.Trainer"))],
                                     rules=trainer_rules, where=("default_root_dir",))
TrainerSettings.__module__ = __name__  # importable by name: settings objects pickle by reference
