"""What is checked before any data is loaded: trainer settings and the multi-process guard."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from mlplab.errors import ConfigError
from mlplab.preflight import check_trainer, device_count, starts_processes
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
