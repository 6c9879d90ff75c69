"""The best-MLP recipe's search through the entry point."""

from __future__ import annotations

import pytest

# ---- the recipe and its search, through the entry point ---------------------------------------

@pytest.mark.dataset
@pytest.mark.slow
def test_best_mlp_search_runs_and_picks_on_validation(tmp_path, cli):
    import json

    import yaml
    from helpers import REPO

    sweep = tmp_path / "search"
    result = cli("mlplab-train", "-m", "experiment=best_mlp_search", "hydra.sweeper.n_trials=2",
                 "debug=fast", f"hydra.sweep.dir={sweep}", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"optimizer.lr", "regularizer.dropout",
                                        "regularizer.weight_decay", "regularizer.label_smoothing"}
    chosen = json.loads((sweep / "best.json").read_text())
    assert chosen["val"] == pytest.approx(best["best_value"])  # the summary ranks by validation too
    hp = json.loads((sweep / "0" / "metrics.json").read_text())["hparams"]
    assert hp["data"]["augment"] and hp["optimizer"]["_target_"] == "torch.optim.AdamW"
    assert hp["scheduler"]["_target_"] == "mlplab.training.schedules.Cosine"
    assert hp["model"]["hidden"] == [1024, 1024]
