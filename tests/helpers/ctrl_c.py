"""A Ctrl-C where ``GracefulStop`` does not listen: while the test set is scored."""

from __future__ import annotations

import lightning as L


class CtrlCWhileTesting(L.Callback):
    """Raises what Python raises on SIGINT, as the test stage starts (Lightning's own handling of it
    follows: ``sys.exit(1)``)."""

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise KeyboardInterrupt
