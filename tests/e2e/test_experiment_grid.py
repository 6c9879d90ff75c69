"""``mlplab-train -m 'experiment=glob(*)' ++trainer.fast_dev_run=true``: every experiment once, as
lightning-hydra-template tests its experiments. A search experiment among them (best_mlp_search,
which selects ``hparams_search=optuna``) runs as one plain job of its base config, no study made
(``mlplab.runtime.trial``)."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.dataset
@pytest.mark.slow
def test_every_experiment_runs_once_and_a_search_as_one_plain_job(tmp_path):
    code, stdout, stderr = run_main(train_main, "-m", "experiment=glob(*)", "++trainer.fast_dev_run=true",
                                    cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "multiruns").iterdir()
    jobs = {}
    for folder in sorted(p for p in sweep.iterdir() if p.is_dir()):
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        (experiment,) = [o.removeprefix("experiment=") for o in overrides if o.startswith("experiment=")]
        jobs[experiment] = json.loads((folder / "metrics.json").read_text())
    assert sorted(jobs) == EXPERIMENTS and "best_mlp_search" in jobs
    assert {name: job["status"] for name, job in jobs.items()} == dict.fromkeys(EXPERIMENTS, "finished")

    search = jobs["best_mlp_search"]["hparams"]  # the experiment's own values, nothing drawn
    assert search["optimizer"]["_target_"] == "torch.optim.AdamW" and search["data"]["augment"]
    assert search["model"]["net"]["hidden"] == [1024, 1024] and search["trainer"]["fast_dev_run"]
    assert not list(sweep.rglob("optuna.db"))  # no study was made for it
    assert "Traceback" not in stderr and "KeyError" not in stderr
