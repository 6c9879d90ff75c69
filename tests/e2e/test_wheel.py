"""The configs travel inside the wheel: an installed (not editable) mlplab trains from any folder;
a machine's own conf/local/default.yaml (git-ignored) stays out of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from helpers import REPO


@pytest.mark.slow
@pytest.mark.dataset
def test_installed_wheel_finds_its_configs_and_trains(tmp_path):
    wheels, site, checkout = tmp_path / "wheels", tmp_path / "site", tmp_path / "checkout"
    # safe.directory: a clone of another user's (the faults tests run as root in one) is still read
    git = ["git", "-c", f"safe.directory={REPO}", "-C", str(REPO)]
    tracked = subprocess.run([*git, "ls-files", "-z"], check=True, capture_output=True, text=True).stdout
    for name in filter(None, tracked.split("\0")):  # a copy of this checkout, as a developer's would be
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    (checkout / "conf" / "local" / "default.yaml").write_text("trainer:\n  max_epochs: 7\n")  # theirs
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(checkout)], check=True, capture_output=True)
    (wheel,) = wheels.glob("mlplab-*.whl")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "mlplab/conf/train.yaml" in shipped and "mlplab/conf/local/example.yaml" in shipped
    assert "mlplab/conf/local/default.yaml" not in shipped
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
