"""The best-MLP recipe's search through the entry point."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main


@pytest.mark.dataset
@pytest.mark.slow
def test_best_mlp_search_runs_and_picks_on_validation(tmp_path):
    sweep = tmp_path / "search"
    code, _, stderr = run_main(train_main, "-m", "experiment=best_mlp_search", "hydra.sweeper.n_trials=2",
                               "debug=fast", f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert code == 0, stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"optimizer.lr", "regularizer.dropout",
                                        "regularizer.weight_decay", "regularizer.label_smoothing"}
    chosen = json.loads((sweep / "best.json").read_text())
    assert chosen["val"] == pytest.approx(best["best_value"])  # the summary ranks by validation too
    hp = json.loads((sweep / "0" / "metrics.json").read_text())["hparams"]
    assert hp["data"]["augment"] and hp["optimizer"]["_target_"] == "torch.optim.AdamW"
    assert hp["scheduler"]["_target_"] == "mlplab.training.schedules.Cosine"
    assert hp["model"]["net"]["hidden"] == [1024, 1024]
