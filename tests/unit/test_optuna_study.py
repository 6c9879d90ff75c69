"""The study the Optuna sweeper opens ranks trials the way the monitor does, and a trial the
pruner calls poor stops the fit (real Optuna studies, in a sweep folder of the test's own)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import optuna
import pytest
from helpers import mlp_module, write_fake_fashion_mnist

from mlplab.data.fashion_mnist import FashionMNISTDataModule
from mlplab.runtime.trial import OptunaPruning
from mlplab.sweeps.optuna_sweeper import OptunaSweeper


@pytest.mark.parametrize(("direction", "expected"), [("minimize", optuna.study.StudyDirection.MINIMIZE),
                                                     ("maximize", optuna.study.StudyDirection.MAXIMIZE)])
def test_the_study_seeks_the_direction_it_is_given(direction, expected, tmp_path):
    """monitor.mode=min (val/loss) must give a study that minimises (``${mlplab.direction:…}``)."""
    sweeper = OptunaSweeper(direction=direction)
    sweeper.sweep_dir = Path(tmp_path)
    study = sweeper.study()
    assert study.direction == expected
    assert optuna.load_study(study_name="mlplab", storage=f"sqlite:///{tmp_path / 'optuna.db'}").direction \
        == expected


def test_a_trial_the_pruner_calls_poor_stops_at_the_end_of_that_epoch(tmp_path):
    """No accuracy reaches 1.1: ThresholdPruner prunes at the first validation, and the fit of 4
    epochs stops after 1, its compute saved (not merely marked pruned at the end)."""
    data = write_fake_fashion_mnist(tmp_path, 100, 30)
    datamodule = FashionMNISTDataModule(data_dir=str(data), batch_size=32, val_size=20, seed=0,
                                        download=False, check_counts=False)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    pruning = OptunaPruning(study.ask(), "val/acc")
    trainer = L.Trainer(max_epochs=4, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[pruning])
    trainer.fit(mlp_module(hidden=[16]), datamodule=datamodule)
    steps_per_epoch = 3  # 80 training images in batches of 32
    assert trainer.current_epoch == 1 and pruning.pruned_at == trainer.global_step == steps_per_epoch
    pruning.tell_pruned()
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
