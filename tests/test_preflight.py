"""What is checked before any data is loaded: trainer settings and the multi-process guard."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from mlplab.config import config_dir
from mlplab.entry import user_message
from mlplab.errors import ConfigError
from mlplab.preflight import check_job, check_trainer, device_count, starts_processes
from mlplab.threads import threads_per_job


def trainer(**kwargs):
    return OmegaConf.create({"accelerator": "cpu", "devices": 1, "max_epochs": 1, **kwargs})


@pytest.mark.parametrize(("devices", "count"), [(1, 1), (2, 2), ("2", 2), ("0,1", 2), ([0, 1, 2], 3),
                                                ("auto", None), (-1, None), ("-1", None)])
def test_device_count(devices, count):
    assert device_count(devices) == count


@pytest.mark.parametrize(("settings", "multi"), [
    ({}, False),
    ({"strategy": "ddp", "devices": 2}, True),
    ({"strategy": "ddp_spawn", "devices": 2}, True),
    ({"strategy": "ddp", "devices": 1}, False),
    ({"strategy": "ddp", "devices": 1, "num_nodes": 2}, True),
    ({"strategy": "fsdp", "devices": 4}, True),
    ({"strategy": "auto", "devices": "auto"}, True),  # Lightning may pick DDP over every device
    ({"strategy": "auto", "devices": 2}, True),
    ({"strategy": "auto", "devices": 1}, False),
])
def test_starts_processes(settings, multi):
    assert starts_processes(trainer(**settings)) is multi


def test_multi_process_trainer_is_fine_alone_and_refused_in_a_sweep():
    ddp = trainer(strategy="ddp", devices=2)
    check_trainer(ddp, multirun=False)
    with pytest.raises(ConfigError, match="restart the whole sweep"):
        check_trainer(ddp, multirun=True)


@pytest.mark.parametrize("epochs", [0, -1, 1.5, None])
def test_max_epochs_must_be_a_positive_whole_number(epochs):
    with pytest.raises(ConfigError, match=f"trainer.max_epochs={epochs!r}"):
        check_trainer(trainer(max_epochs=epochs), multirun=False)


@pytest.mark.parametrize(("launcher", "cpus", "threads"), [
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}, 2, 1),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}, 16, 8),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": -1}, 8, 1),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": -2}, 8, 1),
    ({"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 3}, 2, 1),
    ({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
      "cpus_per_task": 3}, 16, 3),
    ({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
      "cpus_per_task": None}, 16, None),
    ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 16, None),
    (None, 16, None),
])
def test_threads_per_job(launcher, cpus, threads):
    assert threads_per_job(OmegaConf.create(launcher) if launcher else None, cpus) == threads


# The same check runs for every job of a sweep before it starts (PreflightCheck), and at the start
# of a single run; tests/test_user_errors.py drives mlplab-train itself for a sample of these.
@pytest.mark.parametrize(("override", "message"), [
    ("optimizer.lr=0", "optimizer.lr=0"),
    ("model.hidden=[0]", "model.hidden=[0]: layer widths must be positive integers"),
    ("model.hidden=[256,-5]", "model.hidden=[256, -5]: layer widths must be positive integers"),
    ("model.hidden=null", "model.hidden=None is not a list of widths"),
    ("data.val_size=60000", "data.val_size=60000 is outside 0..59999"),
    ("data.train_subset=0", "data.train_subset=0 is outside 1..60000"),
    ("data.train_subset=70000", "data.train_subset=70000 is outside 1..60000"),
    ("data.batch_size=-3", "data.batch_size=-3 is below 1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0; set it to a whole number of epochs ≥ 1"),
    ("activation.name=swish", "unknown activation 'swish'"),
    ("model.name=cnn", "unknown model 'cnn'"),
    ("max_loss=-1", "max_loss=-1"),
    ("regularizer.dropout=[0.1,0.2,0.3]", "has 3 values but the model has 1 hidden layers"),
])
def test_every_bad_value_gets_one_line_naming_it(override, message, tmp_path):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=x", override])
    with pytest.raises((ConfigError, InstantiationException)) as err:  # raised in a constructor
        check_job(cfg)
    line = user_message(err.value)
    assert line is not None and message in line and "\n" not in line
