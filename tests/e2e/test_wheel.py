"""The configs travel inside the wheel: an installed (not editable) mlplab trains from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from helpers import REPO


@pytest.mark.slow
@pytest.mark.dataset
def test_installed_wheel_finds_its_configs_and_trains(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(REPO)], check=True, capture_output=True)
    (wheel,) = wheels.glob("mlplab-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}  # ahead of the editable install
    run = subprocess.run([sys.executable, "-m", "mlplab.cli.train", "debug=fast", "logger=none",
                          f"hydra.run.dir={tmp_path}/run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "finished"
    # the run composed its config from the wheel's copy (Hydra records its sources)
    hydra = yaml.safe_load((tmp_path / "run" / ".hydra" / "hydra.yaml").read_text())["hydra"]
    (main,) = [source for source in hydra["runtime"]["config_sources"] if source["provider"] == "main"]
    assert main["path"] == str(site / "mlplab" / "conf")
