"""A checkpoint's hyperparameters rebuild the run's own module: every optimizer and schedule preset,
through ``MLPModule(**hparams)`` (what mlplab-eval does) and ``MLPModule.load_from_checkpoint``."""

import lightning
import pytest
import torch

from mlplab.config.optimization import TORCH_PRESETS, preset
from mlplab.training.module import MLPModule


def preset_values(group: str, option: str) -> dict:
    return {"_target_": TORCH_PRESETS[group][option], **preset(group, option)}


COMBINATIONS = [(optimizer, scheduler) for optimizer in TORCH_PRESETS["optimizer"]
                for scheduler in (None, *TORCH_PRESETS["scheduler"])]


def module_with(optimizer: str, scheduler: str | None) -> MLPModule:
    values = {"optimizer": {**preset_values("optimizer", optimizer), "lr": 0.03}}
    if scheduler:
        values["scheduler"] = preset_values("scheduler", scheduler)
    return MLPModule(model={"net": {"_target_": "mlplab.nets.ConciseMLP", "hidden": [32]}}, **values)


@pytest.mark.parametrize(("optimizer", "scheduler"), COMBINATIONS)
def test_hparams_rebuild_the_same_settings(optimizer, scheduler):
    trained = module_with(optimizer, scheduler)
    rebuilt = MLPModule(**dict(trained.hparams))
    assert rebuilt.settings.as_dict() == trained.settings.as_dict()
    assert type(rebuilt.settings.optimizer).__name__.endswith(TORCH_PRESETS["optimizer"][optimizer]
                                                               .rsplit(".", 1)[-1])


@pytest.mark.parametrize(("optimizer", "scheduler"), [("adamw", "cosine"), ("adam", "onecycle")])
def test_load_from_checkpoint_gives_the_runs_optimizer_schedule_and_weights(tmp_path, optimizer, scheduler):
    trained = module_with(optimizer, scheduler)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": trained.state_dict(), "hyper_parameters": dict(trained.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    loaded = MLPModule.load_from_checkpoint(path, weights_only=True)
    assert loaded.settings.as_dict() == trained.settings.as_dict()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
