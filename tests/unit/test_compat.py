"""The private Lightning names mlplab uses, all from mlplab.compat: still there, still doing what
mlplab relies on. A Lightning release that renames or changes one fails here, by name."""

from __future__ import annotations

import subprocess

import lightning as L
import torch
from helpers import REPO, mlp_module

from mlplab.compat import PRIVATE_NAMES, counted_step


def test_each_private_name_exists_on_a_live_object():
    optimizer = L.pytorch.core.optimizer.LightningOptimizer(torch.optim.SGD([torch.zeros(1)], lr=0.1))
    for owner, names in PRIVATE_NAMES.items():
        assert isinstance(optimizer, owner)
        for name in names:
            assert callable(getattr(optimizer, name, None)), f"{owner.__name__}.{name} is gone"


class Quiet(L.LightningDataModule):
    def train_dataloader(self):
        x, y = torch.rand(12, 1, 28, 28), torch.randint(0, 10, (12,))
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)


def test_a_counted_direct_step_advances_global_step_like_lightnings_own():
    module = mlp_module(hidden=[4])
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=0)
    trainer.fit(module, datamodule=Quiet())
    assert module._direct_updates  # the path that goes through counted_step
    assert trainer.global_step == 3  # 12 examples, batch 4: every direct update counted
    assert counted_step.__module__ == "mlplab.compat"


def test_no_other_module_names_a_private_lightning_or_hydra_name():
    pattern = r"hydra\._internal|_MultiProcessingLauncher|\._on_before_step|\._on_after_step|" \
              r"from lightning[a-z_.]* import _[a-zA-Z]"
    found = subprocess.run(["grep", "-rlE", pattern, "src"], cwd=REPO, capture_output=True, text=True)
    assert found.stdout.split() == ["src/mlplab/compat.py"]
