"""The ``trainer`` group's schema: Lightning's own ``Trainer`` arguments, read from its signature
(``mlplab.config.signature``). ``conf/trainer/default.yaml`` names what mlplab changes; the
objects mlplab builds itself (``logger``, ``callbacks``, ``plugins``) are not settings.
"""

from __future__ import annotations

from dataclasses import field

import lightning as L

from mlplab.config.settings import Settings
from mlplab.config.signature import signature_settings

BUILT_BY_MLPLAB = ("logger", "callbacks", "plugins")  # from the logger and callbacks groups


def trainer_rules(self: Settings) -> None:
    """mlplab's rule on top of Lightning's types: the fit must end, after max_epochs ≥ 1 epochs or,
    with max_epochs=-1 (Lightning's "no limit"), after max_steps ≥ 1 updates."""
    epochs, steps = self.max_epochs, self.max_steps  # type: ignore[attr-defined]
    if epochs == -1 and steps > 0:
        return
    if epochs is None or epochs < 1:
        problem = ("-1 needs trainer.max_steps ≥ 1 (the fit must end)" if epochs == -1
                   else "must be a whole number of epochs ≥ 1, or -1 with trainer.max_steps")
        self.fail("max_epochs", problem, example=10)


TrainerSettings = signature_settings(L.Trainer, "TrainerSettings", "trainer", skip=BUILT_BY_MLPLAB,
                                     extra=[("_target_", str, field(default="lightning.pytorch.Trainer"))],
                                     rules=trainer_rules)
TrainerSettings.__module__ = __name__  # importable by name: settings objects pickle by reference
