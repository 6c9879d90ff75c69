"""The private Lightning names mlplab uses, all from mlplab.compat: still there, still doing what
mlplab relies on. A Lightning release that renames or changes one fails here, by name."""

from __future__ import annotations

import datetime
import subprocess

import lightning as L
import torch
from helpers import REPO, mlp_module, write_fake_fashion_mnist
from lightning.pytorch.callbacks import ModelCheckpoint

from mlplab.compat import PRIVATE_NAMES, saves_within_epochs
from mlplab.data.fashion_mnist import FashionMNISTDataModule


def test_each_private_name_exists_on_a_live_object():
    live = {L.pytorch.core.optimizer.LightningOptimizer:
            L.pytorch.core.optimizer.LightningOptimizer(torch.optim.SGD([torch.zeros(1)], lr=0.1)),
            ModelCheckpoint: ModelCheckpoint(every_n_train_steps=5)}
    for owner, names in PRIVATE_NAMES.items():
        for name in names:
            assert hasattr(live[owner], name), f"{owner.__name__}.{name} is gone"
    assert callable(live[L.pytorch.core.optimizer.LightningOptimizer]._on_before_step)


def test_a_checkpoint_callback_says_whether_it_saves_within_epochs():
    assert saves_within_epochs(ModelCheckpoint(every_n_train_steps=5))
    assert saves_within_epochs(ModelCheckpoint(train_time_interval=datetime.timedelta(1)))
    assert not saves_within_epochs(ModelCheckpoint(every_n_epochs=2))


def test_a_counted_direct_step_advances_global_step_like_lightnings_own(tmp_path):
    data = FashionMNISTDataModule(data_dir=str(write_fake_fashion_mnist(tmp_path, 40, 10)), batch_size=4,
                                  val_size=28, batches_per_step=3, download=False, check_counts=False)
    module = mlp_module(hidden=[4])
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    assert module.loop["name"] == "grouped" and module._direct_updates  # through counted_step
    assert trainer.global_step == 3  # 12 training images, batch 4: every direct update counted


def test_no_other_module_names_a_private_lightning_or_hydra_name():
    pattern = r"hydra\._internal|_MultiProcessingLauncher|\._on_before_step|\._on_after_step|" \
              r"\._every_n_train_steps|\._train_time_interval|" \
              r"from lightning[a-z_.]* import _[a-zA-Z]"
    found = subprocess.run(["grep", "-rlE", pattern, "src"], cwd=REPO, capture_output=True, text=True)
    assert found.stdout.split() == ["src/mlplab/compat.py"]
