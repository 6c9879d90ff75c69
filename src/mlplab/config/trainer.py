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
    """mlplab's rule on top of Lightning's types: a whole number of epochs (schedules and the
    divergence guard count them)."""
    epochs = self.max_epochs  # type: ignore[attr-defined]
    if epochs is None or epochs < 1:
        self.fail("max_epochs", "must be a whole number of epochs ≥ 1", example=10)


TrainerSettings = signature_settings(L.Trainer, "TrainerSettings", "trainer", skip=BUILT_BY_MLPLAB,
                                     extra=[("_target_", str, field(default="lightning.pytorch.Trainer"))],
                                     rules=trainer_rules)
