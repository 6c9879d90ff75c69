"""Every option of every config group composes (Hydra's compose API) and instantiates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from mlplab.config.store import config_dir
from mlplab.runtime.build import build
from mlplab.runtime.preflight import device_count
from mlplab.training.module import MLPModule

CONF = Path(config_dir())


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(tmp_path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=compose",
                                     *overrides])


ANY_CLASS = {"model": ("model.net._target_=mlplab.nets.ConciseMLP", "+model.net.hidden=[8]"),
             "optimizer": ("optimizer._target_=torch.optim.RMSprop", "+optimizer.alpha=0.9"),
             "scheduler": ("scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                           "+scheduler.gamma=0.9")}


def test_every_group_has_its_options():
    assert options("model") == ["any", "concise", "scratch"]
    assert options("activation") == ["identity", "relu", "sigmoid", "tanh"]
    assert {"default", "gpu"} <= set(options("trainer"))
    assert {"tensorboard", "csv", "none"} <= set(options("logger"))


@pytest.mark.slow  # ten groups, every option built: about 6 s
@pytest.mark.parametrize("group", ["model", "activation", "regularizer", "optimizer", "scheduler", "logger",
                                   "callbacks", "experiment", "debug", "data"])
def test_group_option_builds_data_module_and_trainer(group, tmp_path):
    for option in options(group):
        named = ANY_CLASS.get(group, ()) if option == "any" else ()  # optimizer=any: name a class
        cfg = compose_train(tmp_path, f"{group}={option}", *named)
        datamodule, module, trainer = build(cfg)
        assert isinstance(datamodule, L.LightningDataModule)
        assert isinstance(module, MLPModule)
        assert isinstance(trainer, L.Trainer)
        if group == "activation":
            assert module.hparams[group]["name"] == option
        if group == "model":
            assert type(module.net).__name__ == {"scratch": "ScratchMLP"}.get(option, "ConciseMLP")
            assert module.hparams["model"]["net"]["_target_"] == f"mlplab.nets.{type(module.net).__name__}"


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_presets_compose(option, tmp_path):
    cfg = compose_train(tmp_path, f"trainer={option}")
    assert cfg.trainer.devices != "auto"  # always explicit: sweeps must not grab every device
    # what this machine has of each accelerator, against what the preset asks (trainer=ddp: 2 GPUs)
    present = {"cpu": 1 << 16, "gpu": torch.cuda.device_count(),
               "mps": int(torch.backends.mps.is_available())}
    if present[cfg.trainer.accelerator] >= (device_count(cfg.trainer.devices) or 1):
        assert isinstance(instantiate(cfg.trainer), L.Trainer)
    else:  # Lightning refuses it by name, which mlplab-train turns into one line
        with pytest.raises(InstantiationException, match=f"(?i){cfg.trainer.accelerator}"):
            instantiate(cfg.trainer)


def test_module_arguments_are_plain_values(tmp_path):
    cfg = compose_train(tmp_path, "model.net.hidden=[64,32]", "regularizer.dropout=[0.1,0.2]")
    _, module, _ = build(cfg)
    hidden = module.hparams["model"]["net"]["hidden"]
    assert hidden == [64, 32] and type(hidden) is list
    assert module.hparams["regularizer"]["dropout"] == [0.1, 0.2]
    assert type(module.hparams["regularizer"]["dropout"]) is list


def test_the_module_takes_a_composed_configs_nodes_as_it_takes_plain_dicts(tmp_path):
    """``MLPModule(model=cfg.model, …)`` from Hydra's compose API (DictConfig, ListConfig inside a
    dict) builds what the same values as plain dicts build; it refused them as "not a mapping"."""
    from omegaconf import OmegaConf

    cfg = compose_train(tmp_path, "model=concise", "model.net.hidden=[32,16]",
                        "regularizer.dropout=[0.2,0.5]", "optimizer=adamw", "scheduler=cosine")
    groups = ("model", "activation", "regularizer", "optimizer", "scheduler")
    composed = MLPModule(**{group: cfg[group] for group in groups})
    half = MLPModule(model=dict(cfg.model), regularizer=dict(cfg.regularizer), optimizer=cfg.optimizer)
    plain = MLPModule(**{group: OmegaConf.to_container(cfg[group], resolve=True) for group in groups})
    assert composed.hparams == plain.hparams
    shapes = [tuple(p.shape) for p in composed.net.parameters()]
    assert shapes == [(32, 784), (32,), (16, 32), (16,), (10, 16), (10,)]
    assert half.settings.regularizer.dropout == [0.2, 0.5] and half.hparams["model"] == plain.hparams["model"]


def test_build_outside_a_hydra_job_names_the_paths_it_needs():
    """The compose API without the README's two ``paths`` overrides: one line naming them, not
    OmegaConf's "HydraConfig was not set" from inside a callback's constructor."""
    from mlplab.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["debug=fast"])
    with pytest.raises(ConfigError, match=r"paths.output_dir reads Hydra's job .*paths.output_dir=<folder>"):
        build(cfg)


def test_d2l_experiments_fix_the_books_recipe(tmp_path):
    for name, net in (("d2l_mlp_scratch", "ScratchMLP"), ("d2l_mlp_concise", "ConciseMLP")):
        cfg = compose_train(tmp_path, f"experiment={name}")
        assert cfg.model.net._target_ == f"mlplab.nets.{net}" and list(cfg.model.net.hidden) == [256]
        assert (cfg.optimizer.lr, cfg.data.batch_size, cfg.trainer.max_epochs) == (0.1, 256, 10)
        assert cfg.data.val_size == 0 and cfg.test_ckpt == "last"


@pytest.mark.parametrize("features", [2, 20])
def test_the_polynomial_experiment_is_the_books_model_and_loss(features, tmp_path):
    """d2l 4.4: ``nn.Linear(num_features, 1, bias=False)`` at torch's initialisation, trained on
    ``nn.MSELoss`` by SGD at lr 0.01, the losses measured every 20 epochs."""
    cfg = compose_train(tmp_path, "experiment=d2l_polynomial", f"data.num_features={features}")
    torch.manual_seed(0)
    _, module, trainer = build(cfg)
    assert type(module.net) is torch.nn.Linear and module.net.bias is None
    torch.manual_seed(0)
    assert torch.equal(module.net.weight, torch.nn.Linear(features, 1, bias=False).weight)  # torch's init
    assert module.objective.regression_loss == "mse" and cfg.optimizer.lr == 0.01
    assert (trainer.max_epochs, trainer.check_val_every_n_epoch) == (400, 20)


def test_long_override_lists_still_name_a_folder():
    from mlplab.config.store import short_name

    assert short_name("regularizer.dropout=0.5") == "regularizer.dropout=0.5"
    long_a = ",".join(f"key{i}.value={i}" for i in range(40))
    long_b = long_a.replace("key39.value=39", "key39.value=40")
    assert len(short_name(long_a).encode()) <= 120 and short_name(long_a).startswith("key0.value=0")
    assert short_name(long_a) != short_name(long_b)  # the hash tells them apart
    exactly = "a" * 120  # 120 bytes fit as they are; one more is cut and hashed
    assert short_name(exactly) == exactly and len(short_name(exactly + "b").encode()) == 120
    from mlplab.config.schema import PathsSettings

    assert "mlplab.run_name:" in PathsSettings().run_name


def test_a_long_run_name_keeps_every_value_by_shortening_its_keys():
    """Cut as it was, this sweep's runs over λ were one 109-byte start and two hashes in TensorBoard's
    list (``…,regularizer.dropout=[0.-efe00c550a``): λ, at the end, was cut off."""
    from mlplab.config.store import MAX_NAME_BYTES, last_parts, run_name

    common = ["model.net.hidden=[512,256,128]", "optimizer=adamw", "optimizer.lr=0.001",
              "trainer.max_epochs=30", "data.batch_size=128", "regularizer.dropout=[0.2,0.5,0.3]"]
    names = [run_name([*common, f"regularizer.weight_decay={wd}"]) for wd in ("0.001", "0.01")]
    assert names[0] == ("batch_size=128,hidden=[512,256,128],lr=0.001,optimizer=adamw,"
                        "dropout=[0.2,0.5,0.3],weight_decay=0.001,max_epochs=30")
    assert len(names[0].encode()) <= MAX_NAME_BYTES and "weight_decay=0.01," in names[1]
    assert run_name(["regularizer.dropout=0.5"]) == "regularizer.dropout=0.5"  # a short name as it is
    # a last part two keys share keeps both whole; a group's choice stays as it is
    assert last_parts(["a.mode=min", "b.mode=max", "+c.d.patience=3", "optimizer=adamw", "~e.f"]) == \
        ["a.mode=min", "b.mode=max", "patience=3", "optimizer=adamw", "~e.f"]


def test_a_run_is_named_by_what_it_computes_not_where_it_writes():
    """``trainer.default_root_dir`` says where Lightning would write (mlplab gives its logger and
    checkpoints their own folders): like ``paths.*`` it names no run and is no HParams column."""
    from mlplab.config.settings import info
    from mlplab.config.store import run_name
    from mlplab.config.trainer import TrainerSettings

    assert run_name(["trainer.default_root_dir=/scratch/x", "trainer.max_epochs=2", "paths.log_dir=/l"]) == \
        "trainer.max_epochs=2"
    assert info(TrainerSettings, "default_root_dir").where and not info(TrainerSettings, "max_epochs").where


@pytest.mark.slow  # seconds: a process of its own or real runs
def test_hydras_compose_api_works_on_the_shipped_configs_in_a_fresh_interpreter(tmp_path):
    """As Hydra documents it, without importing mlplab first: Hydra's plugin discovery imports
    ``hydra_plugins.mlplab_schemas``, which registers the schemas the presets name."""
    script = ("from hydra import compose, initialize_config_dir\n"
              f"with initialize_config_dir(config_dir={str(CONF)!r}, version_base='1.3'):\n"
              f"    cfg = compose('train', overrides=['paths.output_dir={tmp_path}', 'paths.run_name=x',\n"
              "                                      'optimizer.lr=0.5'])\n"
              "o = cfg.optimizer\n"
              "print(o._target_, o.lr, o.momentum, cfg.model.net._target_)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["torch.optim.SGD", "0.5", "0.0", "mlplab.nets.ScratchMLP"]
