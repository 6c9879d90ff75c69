"""Bad input ends in one clear message, a non-zero exit and no traceback, before any training."""

from __future__ import annotations

import pytest


def assert_clean_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr[-2000:]


def test_unknown_group_option_lists_the_choices(tmp_path, cli):
    result = cli("mlplab-train", "activation=swish", cwd=tmp_path)
    assert_clean_failure(result, "swish", "relu", "sigmoid", "tanh")
    assert not (tmp_path / "logs").exists()


def test_missing_data_names_all_three_ways(tmp_path, cli):
    result = cli("mlplab-train", f"data.data_dir={tmp_path}/nothing", "data.download=false",
                 f"data.debian_dir={tmp_path}/no-debian", f"hydra.run.dir={tmp_path}/run",
                 cwd=tmp_path)
    assert_clean_failure(result, "Fashion-MNIST not found", "data.data_dir=",
                         "apt-get install dataset-fashion-mnist", "torchvision's download")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_eval_of_a_missing_checkpoint(tmp_path, cli):
    result = cli("mlplab-eval", f"ckpt_path={tmp_path}/nope.ckpt", f"hydra.run.dir={tmp_path}/e",
                 cwd=tmp_path)
    assert_clean_failure(result, f"ckpt_path={tmp_path}/nope.ckpt does not exist")


def test_eval_of_a_file_that_is_not_a_checkpoint(tmp_path, cli):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    result = cli("mlplab-eval", f"ckpt_path={bogus}", f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    assert_clean_failure(result, "is not a readable mlplab checkpoint")


@pytest.mark.parametrize(("override", "message"), [
    ("regularizer.dropout=1.0", "regularizer.dropout=1.0 is outside [0, 1)"),
    ("regularizer.dropout=-0.1", "regularizer.dropout=-0.1 is outside [0, 1)"),
    ("regularizer.dropout=[0.2,0.5]", "has 2 values but the model has 1 hidden layers"),
    ("regularizer.weight_decay=-0.001", "regularizer.weight_decay=-0.001 is negative"),
    ("model.hidden=256", "model.hidden=256 is not a list of widths"),
    ("optimizer.lr=-1", "the learning rate must be > 0"),
    ("data.val_size=-5", "data.val_size=-5 is outside 0..59999"),
    ("data.batch_size=0", "data.batch_size=0 is below 1"),
    ("data.val_size=0", "test_ckpt=best would pick the checkpoint on the test set"),
    ("test_ckpt=first", "test_ckpt='first'; choose test_ckpt=best or test_ckpt=last"),
])
def test_bad_settings_stop_before_training(override, message, tmp_path, cli):
    result = cli("mlplab-train", override, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert_clean_failure(result, message)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_eval_without_a_checkpoint_says_it_is_required(tmp_path, cli):
    result = cli("mlplab-eval", f"hydra.run.dir={tmp_path}/e", cwd=tmp_path)
    assert_clean_failure(result, "ckpt_path is required")
