"""The regression data sets through the real entry points: any composition works, not only the
book's experiments; the best checkpoint is chosen on val/loss and mlplab-eval reloads it."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, run_main

from mlplab.cli.evaluate import main as eval_main
from mlplab.cli.train import main as train_main

ONE_WORKER = True  # polynomial_run trains once, not once per worker (conftest.py)

@pytest.fixture(scope="module")
def polynomial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("poly") / "run"
    code, _, stderr = run_main(train_main, "data=polynomial", "trainer.max_epochs=3", f"hydra.run.dir={out}",
                               cwd=REPO)
    assert code == 0, stderr[-3000:]
    return out


def test_plain_data_override_trains_a_regression_model(polynomial_run):
    result = json.loads((polynomial_run / "metrics.json").read_text())
    assert result["monitor"]["name"] == "val/loss" and result["monitor"]["mode"] == "min"
    assert result["hparams"]["test_ckpt"] == "last"  # validation is the test set here
    assert result["test_checkpoint"] == str(polynomial_run / "checkpoints" / "last.ckpt")
    assert "test/acc" not in result["metrics"] and result["metrics"]["test/loss"] > 0


@pytest.mark.slow
def test_eval_reloads_a_regression_checkpoint_with_its_data(polynomial_run, tmp_path):
    ckpt = polynomial_run / "checkpoints" / "last.ckpt"
    code, _, stderr = run_main(eval_main, f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path}/a", cwd=tmp_path)
    assert code == 2 and "data=polynomial" in stderr
    code, _, stderr = run_main(eval_main, f"ckpt_path={ckpt}", "data=polynomial",
                               f"hydra.run.dir={tmp_path}/b", cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    expected = json.loads((polynomial_run / "metrics.json").read_text())["metrics"]["test/loss"]
    got = json.loads((tmp_path / "b" / "metrics.json").read_text())["metrics"]["test/loss"]
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["callbacks=none"], ["debug=fast"]])
def test_book_experiments_compose_with_other_groups(extra, tmp_path):
    code, _, stderr = run_main(train_main, "experiment=d2l_weight_decay", "trainer.max_epochs=2", *extra,
                               f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result["status"] == "finished" and result["epochs"] == 2  # the command line's max_epochs wins
    assert "test/loss" in result["metrics"]
    assert (tmp_path / "run" / "checkpoints").exists() == (extra != ["callbacks=none"])
