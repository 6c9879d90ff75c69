"""The schema: every setting is declared once, and that declaration checks it (type, range,
choices, the rules between settings), words the message (key, value, example), and feeds the
HParams keys, the run names and --help."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mlplab.config.datasets import DATA, FashionMNISTSettings, HighDimLinearSettings, PolynomialSettings
from mlplab.config.module_settings import ModuleSettings, RegularizerSettings
from mlplab.config.monitor import MonitorSettings
from mlplab.config.network import ActivationSettings, ModelSettings
from mlplab.config.optimization import (
    TORCH_PRESETS,
    optimizer_settings,
    preset,
    preset_class,
    scheduler_settings,
)
from mlplab.config.schema import RunSettings, TrainConfig
from mlplab.config.settings import Range, Settings, matches, show, specs, type_name
from mlplab.config.signature import argument_docs, signature_settings
from mlplab.config.store import computing_overrides, config_dir, run_name, where_keys
from mlplab.config.trainer import TrainerSettings
from mlplab.errors import ConfigError

OPTIMIZER, SCHEDULER = optimizer_settings, scheduler_settings


def MODULE(groups):  # noqa: N802 (a stand-in for a settings class in the table below)
    return ModuleSettings.parse(**groups)
COSINE, ONECYCLE = "mlplab.training.schedules.Cosine", "mlplab.training.schedules.OneCycle"


@pytest.mark.parametrize(("kind", "values", "message"), [
    (OPTIMIZER, {"lr": 0}, "optimizer.lr=0 must be a finite number > 0 (an update must move the weights); "
                           "e.g. optimizer.lr=0.1"),
    (OPTIMIZER, {"lr": "fast"}, "optimizer.lr=fast is not a number or a Tensor; e.g. "
                                "optimizer.lr=0.001"),
    (OPTIMIZER, {"momentum": -0.5}, "optimizer: Invalid momentum value: -0.5 (torch.optim.SGD)"),
    (OPTIMIZER, {"nesterov": True}, "optimizer: Nesterov momentum requires a momentum and zero dampening"),
    (OPTIMIZER, {"_target_": "torch.optim.AdamW", "momentum": 0.9},
     "optimizer.momentum is not a setting of AdamW (its settings: lr, betas"),
    (OPTIMIZER, {"weight_decay": 0.1}, "; λ is regularizer.weight_decay, which decays the weights"),
    (OPTIMIZER, {"_target_": "torch.nn.Linear"},
     "optimizer._target_=torch.nn.Linear is not a torch.optim.Optimizer class; e.g. "
     "optimizer._target_=torch.optim.SGD"),
    (OPTIMIZER, {"_target_": "torch.optim.Nope"},
     "optimizer._target_=torch.optim.Nope cannot be imported (AttributeError: module 'torch.optim' has no "
     "attribute 'Nope'); name a class as module.Class, with its folder on PYTHONPATH (PYTHONPATH=<folder> "
     "mlplab-train …), e.g. "
     "optimizer._target_=torch.optim.SGD"),
    (MODULE, {"model": {"net": {"hidden": [0]}}}, "model.net.hidden=[0] has 0; every hidden layer needs at "
                                                  "least one unit (mlplab.nets.ScratchMLP)"),
    (MODULE, {"model": {"net": {"hidden": [256, -5]}}}, "model.net.hidden=[256,-5] has -5; every hidden"),
    (MODULE, {"model": {"net": {"init_std": -1.0}}}, "model.net.init_std=-1 must be ≥ 0 (a standard"),
    (ModelSettings, {"net": {"hidden": None}}, "model.net.hidden=null is not a list of integers; e.g. "
                                                      "model.net.hidden=[256]"),
    (ModelSettings, {"net": {"hidden": ["a"]}}, "model.net.hidden=[a] is not a list of integers"),
    (ModelSettings, {"net": {"hidden": [8], "width": 3}},
     "model.net.width is not a setting of ScratchMLP (its settings: hidden, init_std)"),
    (ModelSettings, {"net": {"_target_": "cnn.Net"}},
     "model.net._target_=cnn.Net cannot be imported (ModuleNotFoundError: No module named 'cnn'); name a "
     "class as module.Class, with its folder on PYTHONPATH"),
    (ModelSettings, {"net": {"_target_": "torch.optim.SGD"}},
     "model.net._target_=torch.optim.SGD is not a torch.nn.Module class; e.g. "
     "model.net._target_=mlplab.nets.ConciseMLP"),
    (ModelSettings, {"hidden": [64]}, "model.hidden is not a setting of ModelSettings (its settings: "
                                             "net, compile, regression_loss); the network's arguments are "
                                             "model.net.*: model.net.hidden"),
    (ActivationSettings, {"name": "swish"}, "activation.name=swish is not one of relu, sigmoid, tanh"),
    (RegularizerSettings, {"dropout": 1.0}, "regularizer.dropout=1 must be in [0, 1)"),
    (RegularizerSettings, {"dropout": [0.2, 1.5]}, "regularizer.dropout=[0.2,1.5] has 1.5"),
    (RegularizerSettings, {"dropout": "half"}, "regularizer.dropout=half is not a number or a list"),
    (RegularizerSettings, {"weight_decay": -0.1}, "regularizer.weight_decay=-0.1 must be ≥ 0"),
    (RegularizerSettings, {"label_smoothing": 1.0}, "regularizer.label_smoothing=1 must be in [0, 1)"),
    (RegularizerSettings, {"weight_decay_mode": "sometimes"},
     "is not one of auto, penalty, optimizer"),
    (SCHEDULER, {"_target_": "torch.optim.lr_scheduler.StepLR"}, "scheduler.step_size=null is required by "
                                                                "StepLR; e.g. scheduler.step_size=1"),
    (SCHEDULER, {"_target_": ONECYCLE, "pct_start": 1.5}, "scheduler: pct_start=1.5 must be in (0, 1)"),
    (SCHEDULER, {"_target_": COSINE, "gamma": 0.5}, "scheduler.gamma is not a setting of Cosine (its "
                                                   "settings: interval, monitor, total_steps, min_ratio)"),
    (SCHEDULER, {"_target_": COSINE, "interval": "batch"},
     "scheduler.interval=batch is not one of step, epoch"),
    (FashionMNISTSettings, {"val_size": 60000}, "data.val_size=60000 must be in [0, 59999]"),
    (FashionMNISTSettings, {"batch_size": 1.5}, "data.batch_size=1.5 is not an integer"),
    (FashionMNISTSettings, {"train_subset": 0}, "data.train_subset=0 must be in [1, 60000]"),
    (FashionMNISTSettings, {"train_subset": 58000},
     "data.train_subset=58000 exceeds the 55000 training images data.val_size=5000 leaves; "
     "e.g. data.train_subset=55000"),
    (FashionMNISTSettings, {"seed": -3}, "data.seed=-3 must be in [0, 4294967295]"),
    (FashionMNISTSettings, {"augment_shift": 9}, "data.augment_shift=9 must be in [0, 8]"),
    (PolynomialSettings, {"num_features": 21}, "data.num_features=21 exceeds data.max_degree=20"),
    (HighDimLinearSettings, {"noise": -1.0}, "data.noise=-1 must be ≥ 0"),
    (RunSettings, {"max_loss": -1}, "max_loss=-1 must be in (0, inf)"),
    (RunSettings, {"seed": -1}, "seed=-1 must be in [0, 4294967295]; e.g. seed=42"),
    (RunSettings, {"seed": 2**32}, "seed=4294967296 must be in [0, 4294967295]"),
    (RunSettings, {"test_ckpt": "first"}, "test_ckpt=first is not one of best, last"),
    (TrainerSettings, {"max_epochs": 0}, "trainer.max_epochs=0 must be a whole number of epochs ≥ 1"),
    (TrainerSettings, {"max_epochs": 10, "limit_train_batches": "abc"},
     "trainer.limit_train_batches=abc is not a number or null"),
    (TrainerSettings, {"max_epochs": 10, "precision": "17"}, "trainer.precision=17 is not one of"),
])
def test_a_bad_value_is_refused_in_one_line_naming_key_value_and_example(kind, values, message):
    with pytest.raises(ConfigError) as err:
        kind(values) if kind in (OPTIMIZER, SCHEDULER, MODULE) else kind.parse(values)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert ("e.g." in text or "its settings" in text or "exceeds" in text or "give" in text
            or text.startswith(("optimizer:", "scheduler:")))


def test_dropout_takes_one_value_or_one_per_hidden_layer():
    two = ModuleSettings.parse(model={"net": {"hidden": [8, 8]}}, regularizer={"dropout": [0.2, 0.5]})
    assert two.build_net().dropout == [0.2, 0.5]
    three = ModuleSettings.parse(model={"net": {"hidden": [8, 8, 8]}}, regularizer={"dropout": 0.3})
    assert three.build_net().dropout == [0.3, 0.3, 0.3]
    with pytest.raises(ConfigError, match=r"regularizer.dropout=\[0.2,0.5\] has 2 values but the network "
                                          r"has 1 hidden layers; give one value or 1 "
                                          r"\(mlplab.nets.ScratchMLP\)"):
        ModuleSettings.parse(regularizer={"dropout": [0.2, 0.5]})


@pytest.mark.parametrize("zeros", [0.0, [0.0, 0.0], (0.0, 0.0)])
def test_dropout_zero_for_every_layer_asks_nothing_of_a_network_without_dropout(zeros):
    """A class that takes no ``dropout`` (torch.nn.Flatten) runs with p = 0, however it is written
    (a tuple comes from the Python API), and is refused p > 0."""
    flatten = {"net": {"_target_": "torch.nn.Flatten"}}
    assert isinstance(ModuleSettings.parse(model=flatten, regularizer={"dropout": zeros}).build_net(),
                      torch.nn.Flatten)
    with pytest.raises(ConfigError, match=r"regularizer.dropout=\[0,0.5\]: model.net._target_="
                                          r"torch.nn.Flatten takes no `dropout` argument"):
        ModuleSettings.parse(model=flatten, regularizer={"dropout": (0.0, 0.5)})


def test_every_declared_setting_has_help_a_valid_default_and_an_example():
    for kind in Settings.kinds():
        for spec in specs(kind):
            assert spec.help and not spec.help.endswith(" "), (kind, spec.name)
            assert spec.shown_example not in ("", "…"), (kind, spec.name)
            if spec.default not in (None, "???") and not str(spec.default).startswith("${"):
                assert matches(spec.default, spec.type), (kind, spec.name, spec.default)
                if spec.within is not None and not isinstance(spec.default, list):
                    assert spec.default in spec.within, (kind, spec.name)


def test_defaults_of_every_group_pass_their_own_checks():
    for kind in [*DATA.values(), ModelSettings, ActivationSettings,
                 RegularizerSettings, RunSettings, MonitorSettings]:
        assert isinstance(kind(), Settings)
    for group, presets in TORCH_PRESETS.items():  # each preset's class builds with its values
        for option, target in presets.items():
            values = {"_target_": target, **preset(group, option)}
            parse = optimizer_settings if group == "optimizer" else scheduler_settings
            settings = parse(values)
            assert type(settings) is preset_class(group, option)


def test_the_trainer_schema_is_lightnings_signature():
    import inspect

    import lightning as L

    arguments = set(inspect.signature(L.Trainer.__init__).parameters) - {"self", "logger", "callbacks",
                                                                          "plugins"}
    declared = {spec.name for spec in specs(TrainerSettings)}
    assert declared == arguments
    by_name = {spec.name: spec for spec in specs(TrainerSettings)}
    assert by_name["max_steps"].default == -1 and by_name["accumulate_grad_batches"].default == 1
    assert by_name["precision"].shown_example == "32-true"  # Lightning's documented default
    docs = argument_docs("Args:\n    a: First. Second.\n        More.\n    b: Only")
    assert docs == {"a": "First. Second. More.", "b": "Only"}


@pytest.mark.parametrize(("value", "kind", "ok"), [
    (3, float, True), (True, float, False), (True, bool, True), (3.5, int, False),
    ([1, 2], list[int], True), ([1, "a"], list[int], False), (None, int | None, True),
    (0.5, float | list[float], True), ([0.5], float | list[float], True), ("x", float | list[float], False),
    # a path is typed as a string (a callback's `out: Path`, given on the command line)
    ("/tmp/x", Path, True), ("/tmp/x", Path | None, True), (3, Path, False),
])
def test_matches_follows_the_declared_type(value, kind, ok):
    assert matches(value, kind) is ok


def test_ranges_and_values_read_as_on_the_command_line():
    assert str(Range(0, low_open=True)) == "> 0" and Range(0, 1, high_open=True).describe() == "in [0, 1)"
    assert 0 not in Range(0, low_open=True) and 1 not in Range(0, 1, high_open=True)
    assert float("nan") not in Range(0)
    assert [show(v) for v in ([256, 256], None, True, 0.1, "x")] == ["[256,256]", "null", "true", "0.1", "x"]
    assert type_name(list[int]) == "a list of integers" and type_name(int | None) == "an integer or null"


def test_where_settings_stay_out_of_run_names_and_resume_matching():
    assert {"data.data_dir", "data.debian_dir", "data.download", "ckpt_path"} <= where_keys()
    overrides = ["regularizer.dropout=0.5", "data.data_dir=/x", "ckpt_path=last", "paths.log_dir=/l",
                 "optimizer.lr=0.2"]
    assert computing_overrides(overrides) == ["optimizer.lr=0.2", "regularizer.dropout=0.5"]
    assert run_name(overrides) == "optimizer.lr=0.2,regularizer.dropout=0.5"
    # a metric's name holds a "/": the run's TensorBoard folder stays one folder
    named = run_name(["monitor.name=val/loss", "monitor.mode=min"])
    assert named == "monitor.mode=min,monitor.name=val%2Floss"


@pytest.mark.parametrize("group", ["model", "regularizer", "optimizer", "scheduler", "data"])
def test_presets_name_only_what_they_change(group):
    """A preset that repeats a schema default would be a second declaration of that setting."""
    for preset_file in sorted((Path(config_dir()) / group).glob("*.yaml")):
        if preset_file.stem in ("any", "none"):  # a class named on the command line; no settings
            continue
        values = yaml.safe_load(preset_file.read_text()) or {}
        values = values.get(group, values)  # @package _global_ presets nest their group
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("train", overrides=[f"{group}={preset_file.stem}"])
        kind = OmegaConf.get_type(cfg[group])
        defaults = {spec.name: spec.default for spec in specs(kind)}
        for key, value in values.items():
            if key in defaults and key != "name":
                assert value != defaults[key], f"{preset_file}: {key}: {value} is the schema's default"


@pytest.mark.parametrize("option", ["scratch", "concise"])
def test_the_model_presets_give_their_class_its_own_defaults(option):
    """conf/model/<option>.yaml lists the network's arguments so that ``model.net.hidden=[…]`` needs
    no ``+``; the values must be the class's own defaults, which declare them (d2l: [256], 0.01)."""
    import inspect

    from mlplab.config.signature import locate

    net = yaml.safe_load((Path(config_dir()) / "model" / f"{option}.yaml").read_text())["net"]
    parameters = inspect.signature(locate(net.pop("_target_"))).parameters
    assert net and {name: parameters[name].default for name in net} == {
        name: tuple(value) if isinstance(value, list) else value for name, value in net.items()}


def test_compose_types_every_group_against_the_schema():
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["optimizer=adamw", "scheduler=step", "data=polynomial"])
    assert dataclasses.is_dataclass(TrainConfig)
    assert OmegaConf.get_type(cfg.optimizer) is preset_class("optimizer", "adamw")
    assert OmegaConf.get_type(cfg.scheduler) is preset_class("scheduler", "step")
    assert OmegaConf.get_type(cfg.data) is PolynomialSettings
    assert OmegaConf.get_type(cfg.trainer) is TrainerSettings


@pytest.mark.slow  # seconds: a process of its own or real runs
def test_settings_travel_to_other_processes():
    """ddp_spawn pickles the module (its settings by reference); joblib and submitit pickle the
    config's classes by value, which brings back copies of dataclasses.MISSING."""
    import pickle

    import cloudpickle

    settings = optimizer_settings({"lr": 0.2})
    assert pickle.loads(pickle.dumps(settings)) == settings
    trainer = TrainerSettings(max_epochs=3)
    assert pickle.loads(pickle.dumps(trainer)) == trainer
    made = signature_settings(torch.optim.SGD, "NotImportable", "optimizer", skip=("params",))
    read_back = ("import cloudpickle, sys; from mlplab.config.settings import specs; "
                 "print([s.name for s in specs(cloudpickle.loads(sys.stdin.buffer.read()))])")
    other = subprocess.run([sys.executable, "-c", read_back], input=cloudpickle.dumps(made),
                           capture_output=True, check=True)
    assert other.stdout.decode().strip() == str([spec.name for spec in specs(made)])
