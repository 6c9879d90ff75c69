"""Lightning's switches act as its docs say through mlplab-train, and what Lightning, OmegaConf or
Hydra would end with a traceback is one line before training (the real Fashion-MNIST, in this
process)."""

from __future__ import annotations

import pytest
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main

SMALL = ["data.train_subset=500", "data.val_size=250", "model.net.hidden=[16]", "trainer.max_epochs=1",
         "logger=none"]


def train(tmp_path, *overrides) -> tuple[int, str, str]:
    """mlplab-train with ``overrides`` (a flag such as ``--config-dir`` and its value go first, as
    argparse wants them before the overrides)."""
    flags = list(overrides[:2]) if overrides and overrides[0].startswith("--") else []
    return run_main(train_main, *flags, *SMALL, *overrides[len(flags):], f"hydra.run.dir={tmp_path}/run",
                    cwd=REPO)


@pytest.mark.dataset
@pytest.mark.slow  # two real runs
def test_enable_model_summary_and_enable_progress_bar_false_show_neither(tmp_path):
    """Lightning's docs: these flags turn the summary and the bar off. The default callbacks group
    adds a RichModelSummary and a RichProgressBar of its own; the flags turn those off too."""
    code, shown, stderr = train(tmp_path / "on")
    assert code == 0, stderr[-2000:]
    assert "Trainable params" in shown and "━" in shown  # the summary table and the bar
    code, shown, stderr = train(tmp_path / "off", "trainer.enable_model_summary=false",
                                "trainer.enable_progress_bar=false")
    assert code == 0, stderr[-2000:]
    assert "Trainable params" not in shown and "━" not in shown, shown[-2000:]


@pytest.mark.slow  # a real run
@pytest.mark.dataset
def test_enable_checkpointing_false_writes_no_checkpoint_and_tests_the_final_weights(tmp_path):
    """Lightning's docs: no checkpointing. The default callbacks group's two ModelCheckpoints are
    turned off too (Lightning refuses the flag beside them)."""
    code, _, stderr = train(tmp_path, "trainer.enable_checkpointing=false")
    assert code == 0, stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert "no best checkpoint is configured: scoring the test set with the final weights" in \
        (tmp_path / "run" / "train.log").read_text()


@pytest.mark.slow  # a real run
@pytest.mark.dataset
def test_max_time_as_a_dict_is_taken_as_lightning_documents_it(tmp_path):
    """``max_time={minutes: 5}``: Lightning takes a dict; it got a DictConfig and raised a traceback."""
    code, _, stderr = train(tmp_path, "trainer.max_time={minutes:5}")
    assert code == 0, stderr[-2000:]


@pytest.mark.slow  # a real run
@pytest.mark.dataset
def test_fast_dev_run_says_lightning_writes_no_checkpoints(tmp_path):
    """Not "val/acc was never logged" (it was: Lightning turns checkpointing off under fast_dev_run)."""
    code, _, stderr = train(tmp_path, "trainer.fast_dev_run=true")
    assert code == 0, stderr[-2000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "fast_dev_run writes no checkpoints: scoring the test set with the final weights" in log
    assert "never logged" not in log


@pytest.mark.slow
@pytest.mark.dataset
def test_no_validation_says_the_test_set_is_scored_with_the_final_weights(tmp_path):
    code, _, stderr = train(tmp_path, "trainer.limit_val_batches=0")
    assert code == 0, stderr[-2000:]
    assert ("no best checkpoint was written (val/acc was never logged): scoring the test set with the final "
            "weights") in (tmp_path / "run" / "train.log").read_text()


@pytest.mark.parametrize(("overrides", "line"), [
    # Lightning's ValueError/TypeError on a combination of flags, in its words
    (["trainer.devices=abc"],
     "error: trainer: `devices` selected with `CPUAccelerator` should be an int > 0. (Lightning's Trainer)"),
    # Hydra's chdir would move every relative path into the run's folder
    (["hydra.job.chdir=true"],
     "error: hydra.job.chdir=true would move every relative path mlplab reads or writes"),
    # --config-dir naming no folder
    (["--config-dir", "/nonexistent/mlplab-presets"],
     "error: Additional config directory '/nonexistent/mlplab-presets' not found; give --config-dir a folder "
     "of presets that exists"),
    # an interpolation that cannot be resolved, in OmegaConf's words
    (["ckpt_path=${oc.env:MLPLAB_UNSET_FOR_THIS_TEST}"],
     "error: KeyError raised while resolving interpolation: \"Environment variable "
     "'MLPLAB_UNSET_FOR_THIS_TEST' not found\"; fix the value's ${…}, or set what it reads"),
    # the same in the run's own folder: the job's end (which tidies an unused resume folder) keeps the line
    (["paths.output_dir=${oc.env:MLPLAB_UNSET_FOR_THIS_TEST}"],
     "error: trainer.default_root_dir: KeyError raised while resolving interpolation: \"Environment variable "
     "'MLPLAB_UNSET_FOR_THIS_TEST' not found\""),
    # Hydra's `~` on a declared setting (its own line named the override alone, not why)
    (["~trainer.max_epochs"],
     "error: Error merging override ~trainer.max_epochs: a declared setting cannot be removed (~); give it a "
     "value instead"),
    # a Lightning plugin whose package is not installed (an ImportError of Lightning's, was a traceback)
    (["trainer.precision=transformer-engine"],
     "error: trainer: Requirement 'transformer_engine>=0.11.0' not met."),
    # Lightning's MisconfigurationException while the Trainer is built (the process hung here)
    (["+callbacks.tqdm._target_=lightning.pytorch.callbacks.TQDMProgressBar"],
     "error: You added multiple progress bar callbacks to the Trainer, but currently only one progress bar "
     "is supported."),
])
def test_a_mistake_is_one_line_and_no_training(overrides, line, tmp_path):
    code, shown, stderr = train(tmp_path, *overrides)
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert line in stderr.splitlines()[-1], stderr[-2000:]
    assert "Epoch 0" not in shown and not (tmp_path / "run" / "checkpoints").exists()


def test_a_run_folder_under_the_working_directory_is_printed_as_one_types_it(tmp_path, monkeypatch):
    from mlplab.cli.train import as_typed

    monkeypatch.chdir(tmp_path)
    assert as_typed(str(tmp_path / "logs" / "runs" / "a")) == "logs/runs/a"
    assert as_typed("/elsewhere/runs/a") == "/elsewhere/runs/a" and as_typed("runs/a") == "runs/a"


@pytest.mark.slow  # a sweep's pre-flight
def test_hydra_job_chdir_is_refused_before_a_sweep_starts(tmp_path):
    """In a sweep's pre-flight Hydra holds no job config yet: the check reads the sweep's own."""
    code, _, stderr = run_main(train_main, "-m", *SMALL, "hydra.job.chdir=true", "seed=1,2",
                               f"hydra.sweep.dir={tmp_path}/sweep", cwd=REPO)
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert "hydra.job.chdir=true would move every relative path" in stderr
    assert stderr.strip().splitlines()[-1] == "no job was started"
    assert not (tmp_path / "sweep" / "0").exists()
