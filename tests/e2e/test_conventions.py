"""lightning-hydra-template's conventions, as its users bring them: a ``paths`` group (root, data,
logs), an optional git-ignored ``conf/local/default.yaml`` with this machine's defaults (loaded after
the experiment and before debug; the command line still wins), and presets of the user's own found
through ``--config-dir`` or ``hydra.searchpath``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import REPO, run_main, write_fake_fashion_mnist
from hydra import compose, initialize_config_dir

from mlplab.cli.train import main as train_main
from mlplab.config.location import config_dir

EXAMPLE = Path(config_dir()) / "local" / "example.yaml"
MINE = """# @package _global_
model:
  net:
    hidden: [8]
data:
  val_size: 64
  check_counts: false
trainer:
  max_epochs: 2
"""


def shipped_conf(tmp_path: Path, local: str | None = None) -> Path:
    """A copy of the shipped conf/ without the local/default.yaml this checkout may hold; with
    ``local`` as its local/default.yaml when given."""
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf,
                    ignore=lambda folder, names: ["default.yaml"] if Path(folder).name == "local" else [])
    if local is not None:
        (conf / "local" / "default.yaml").write_text(local)
    return conf


def composed(conf: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def users_presets(folder: Path) -> Path:
    """A folder of the user's own: ``experiment/mine.yaml``."""
    (folder / "experiment").mkdir(parents=True)
    (folder / "experiment" / "mine.yaml").write_text(MINE)
    return folder


@pytest.mark.slow
def test_without_conf_local_the_paths_group_keeps_its_defaults_and_root_dir_moves_data_and_logs(
        tmp_path, monkeypatch):
    conf = shipped_conf(tmp_path)
    assert not (conf / "local" / "default.yaml").exists()
    cfg = composed(conf)
    assert cfg.hydra.runtime.choices.paths == "default"
    assert (cfg.paths.root_dir, cfg.paths.log_dir) == (".", "./logs")
    assert cfg.paths.data_dir == os.environ["MLPLAB_DATA_DIR"]  # tests/conftest.py sets it
    assert cfg.data.data_dir == cfg.paths.data_dir  # the data set's folder follows paths
    assert str(cfg.hydra.run.dir).startswith("./logs/runs/")
    monkeypatch.delenv("MLPLAB_DATA_DIR")
    assert composed(conf).paths.data_dir == "./data"
    moved = composed(conf, "paths.root_dir=/scratch/me")
    assert (moved.paths.data_dir, moved.paths.log_dir) == ("/scratch/me/data", "/scratch/me/logs")
    assert moved.data.data_dir == "/scratch/me/data"
    assert composed(conf, "paths.root_dir=/r", "data.data_dir=/x").data.data_dir == "/x"
    assert str(moved.hydra.sweep.dir).startswith("/scratch/me/logs/multiruns/")
    assert composed(conf, "paths.root_dir=/r", "paths.log_dir=/l").paths.log_dir == "/l"


@pytest.mark.slow
def test_a_local_default_applies_after_the_experiment_before_debug_and_the_command_line_wins(tmp_path):
    """conf/local/example.yaml as this machine's local/default.yaml, plus a trainer flag: every
    sweep goes to SLURM's partition `debug`, data and logs under ~/mlplab."""
    conf = shipped_conf(tmp_path, EXAMPLE.read_text() + "trainer:\n  max_epochs: 7\n")
    cfg = composed(conf)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert (cfg.hydra.launcher.partition, cfg.hydra.launcher.timeout_min) == ("debug", 120)
    assert cfg.paths.log_dir == f"{os.environ['HOME']}/mlplab/logs"
    assert cfg.trainer.max_epochs == 7
    assert composed(conf, "experiment=d2l_mlp_scratch").trainer.max_epochs == 7  # its own: 10
    assert composed(conf, "debug=fast").trainer.max_epochs == 1
    typed = composed(conf, "trainer.max_epochs=3", "hydra.launcher.partition=gpu", "paths.root_dir=/r")
    assert typed.trainer.max_epochs == 3
    assert (typed.hydra.launcher.partition, typed.paths.log_dir) == ("gpu", "/r/logs")
    gpu = composed(conf, "hydra/launcher=slurm_gpu")
    assert (gpu.hydra.launcher.gpus_per_node, gpu.hydra.launcher.partition) == (1, "debug")
    cpu = composed(conf, "hydra/launcher=slurm")  # slurm_gpu extends it: requeued after a time limit alike
    for key in ("signal_delay_s", "max_num_timeout", "timeout_min", "array_parallelism"):
        assert gpu.hydra.launcher[key] == cpu.hydra.launcher[key] and cpu.hydra.launcher[key] > 0, key
    assert (gpu.hydra.launcher.cpus_per_task, gpu.hydra.launcher.mem_gb) == (8, 16)
    here = composed(conf, "~local", "hydra/launcher=batched")  # the file left out of one command
    assert "partition" not in here.hydra.launcher and here.trainer.max_epochs != 7


def test_a_preset_of_the_users_own_is_found_through_hydra_searchpath(tmp_path):
    mine = users_presets(tmp_path / "mine")
    cfg = composed(shipped_conf(tmp_path), f"hydra.searchpath=[file://{mine}]", "experiment=mine")
    assert (list(cfg.model.net.hidden), cfg.trainer.max_epochs) == ([8], 2)


@pytest.mark.slow
def test_mlplab_train_config_dir_trains_a_users_experiment_with_the_machine_defaults_kept_there(tmp_path):
    """``mlplab-train --config-dir <dir> experiment=mine``, as a wheel's user (whose conf/ is inside
    the package) runs it: the preset and ``<dir>/local/default.yaml`` apply (``--config-dir`` comes
    first in Hydra's search path), and the run lands under that file's paths.root_dir."""
    mine = users_presets(tmp_path / "mine")
    (mine / "local").mkdir()
    machine = f"# @package _global_\npaths:\n  root_dir: {tmp_path / 'root'}\n"
    (mine / "local" / "default.yaml").write_text(machine)
    data = write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    code, _, stderr = run_main(train_main, "--config-dir", str(mine), "experiment=mine",
                               f"data.data_dir={data}", "trainer.max_epochs=1", cwd=REPO)
    assert code == 0, stderr[-3000:]
    (metrics,) = (tmp_path / "root" / "logs" / "runs").glob("*/metrics.json")
    result = json.loads(metrics.read_text())
    assert result["status"] == "finished"
    assert result["epochs"] == 1  # the command line's, not the preset's 2
    assert result["hparams"]["model"]["net"]["hidden"] == [8]
    assert result["hparams"]["paths"]["log_dir"] == f"{tmp_path / 'root'}/logs"


@pytest.mark.slow  # Hydra composes and prints the whole config
def test_cfg_job_resolve_prints_the_resolved_config(tmp_path):
    """Hydra's ``--cfg job --resolve``: no job runs, so the run's folder is null (it was refused:
    "Incompatible value 'None' for field of type 'str'")."""
    code, stdout, stderr = run_main(train_main, "--cfg", "job", "--resolve", "trainer.max_epochs=3",
                                    cwd=tmp_path)
    assert code == 0, stderr[-2000:]
    assert "  output_dir: null" in stdout and "  max_epochs: 3" in stdout and "${" not in stdout


@pytest.mark.slow  # a run, then Hydra's rerun of it
@pytest.mark.dataset
def test_experimental_rerun_says_hydra_sets_no_job_there(tmp_path, cli):
    """Hydra's ``--experimental-rerun`` of a run's config.pickle resolves no ``${hydra:…}``: the
    line says so and what to run instead (it said "fix the value's ${…}")."""
    run = tmp_path / "run"
    code, _, stderr = run_main(train_main, "debug=fast", "data.train_subset=1000", f"hydra.run.dir={run}",
                               "+hydra.callbacks.save_job_info._target_="
                               "hydra.experimental.callbacks.PickleJobInfoCallback", cwd=REPO)
    assert code == 0, stderr[-2000:]
    # a process of its own: in this one the first run left Hydra's resolver registered
    rerun = cli("mlplab-train", "--experimental-rerun", str(run / ".hydra" / "config.pickle"), cwd=tmp_path)
    assert rerun.returncode == 2 and "Traceback" not in rerun.stderr, rerun.stderr[-2000:]
    assert ("--experimental-rerun (or a config loaded by hand) does not start; run the command again with "
            "the run's overrides (its .hydra/overrides.yaml)") in rerun.stderr.splitlines()[-1]
