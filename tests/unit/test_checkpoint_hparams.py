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


def test_a_checkpoint_of_the_same_layers_at_other_widths_is_refused_naming_the_shapes(tmp_path):
    """Same parameter names (net.W1 …), other shapes: refused before the fit, with the width that
    resumes it (``runtime.checkpoints.check_fits``), not loaded into a mismatched model by Lightning."""
    from helpers import mlp_module

    from mlplab.errors import UserError
    from mlplab.runtime.checkpoints import check_fits

    saved = mlp_module(hidden=[32])
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": saved.state_dict(), "hyper_parameters": dict(saved.hparams)}, path)
    check_fits(path, mlp_module(hidden=[32]))  # the same model: nothing to say
    with pytest.raises(UserError, match=r"net.W1 \[784, 32\] in the checkpoint, \[784, 64\] here.*"
                                        r"model.net.hidden=\[32\]"):
        check_fits(path, mlp_module(hidden=[64]))
