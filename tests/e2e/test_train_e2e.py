"""mlplab-train and mlplab-eval on the real Fashion-MNIST, called as their console scripts are
(in this process: the shell around them is tested in tests/e2e/test_user_errors.py)."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, event_dir, run_main
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlplab.cli.evaluate import main as eval_main
from mlplab.cli.train import main as train_main

ONE_WORKER = True  # the run every test here reads is trained once, not once per worker (conftest.py)
FAST = ["data.train_subset=2048", "data.val_size=1000", "trainer.max_epochs=2"]
METRICS = ["train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc",
           "weights/l2_norm"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    # A monitor other than the default (the lowest val/loss picks best.ckpt): the run must report it
    # and every epoch's history. AdamW and a schedule: mlplab-eval must rebuild the run's own
    # optimizer and schedule, not the SGD preset. The graph: Lightning traces the module's example input.
    code, stdout, stderr = run_main(train_main, "model=concise", "activation=sigmoid", "optimizer=adamw",
                                    "scheduler=cosine", *FAST, "monitor.name=val/loss", "monitor.mode=min",
                                    "+logger.tensorboard.log_graph=true", f"hydra.run.dir={out}", cwd=REPO)
    assert code == 0, stderr[-3000:]
    assert f"outputs in {out}" in stdout
    # the composed config, once checked (as a line "config" and its tree: an earlier test's logger in
    # this worker may have written first)
    assert "config" in stdout.splitlines() and "├── optimizer" in stdout
    # the summary ran the example input: one image through 784→256→10 is 2·(784·256 + 256·10) FLOPs
    assert "Total FLOPs: 406 K" in stdout
    return out


@pytest.mark.slow  # the run both tests read: about 1.3 s
@pytest.mark.dataset
def test_run_writes_every_output(run_dir):
    for path in (".hydra/config.yaml", ".hydra/overrides.yaml", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt", "metrics.json", "curves.png"):
        assert (run_dir / path).is_file(), path
    result = json.loads((run_dir / "metrics.json").read_text())
    assert result["status"] == "finished" and result["epochs"] == 2
    assert set(METRICS) <= set(result["metrics"])
    assert 0.1 < result["metrics"]["test/acc"] <= 1.0
    assert result["hparams"]["model"]["net"]["_target_"] == "mlplab.nets.ConciseMLP"
    assert result["hparams"]["activation"]["name"] == "sigmoid"
    import torch  # the checkpoint names the optimizer's and the schedule's class (mlplab-eval needs them)
    saved = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]
    assert saved["optimizer"]["_target_"] == "torch.optim.AdamW"
    assert saved["scheduler"]["_target_"] == "mlplab.training.schedules.Cosine"
    assert [row["epoch"] for row in result["history"]] == [0, 1]  # all epochs, not the best's
    assert result["history"][-1]["val/acc"] == pytest.approx(result["metrics"]["val/acc"])
    assert result["monitor"]["name"] == "val/loss" and result["monitor"]["mode"] == "min"
    assert result["monitor"]["best"] == pytest.approx(min(row["val/loss"] for row in result["history"]))
    assert result["test_checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")  # test_ckpt=best's
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.dataset
def test_train_log_holds_lightnings_lines_and_the_result(run_dir):
    """Hydra's job log, ``train.log``: Lightning's own lines and the run's last line, as printed."""
    log = (run_dir / "train.log").read_text()
    assert "`Trainer.fit` stopped: `max_epochs=2` reached." in log
    last = log.splitlines()[-1]
    assert "test/acc=" in last and f"outputs in {run_dir}" in last, last
    # the job's file is closed with the job: a later line in this process (a sweep's next job, a
    # notebook's next command) does not land in it
    import logging

    logging.getLogger().warning("a line after the run")  # the root's: a sweep's next launch line
    logging.getLogger("lightning.pytorch").warning("a line after the run")
    logging.getLogger("mlplab.outcome").error("error: a line after the run")
    assert "a line after the run" not in (run_dir / "train.log").read_text()


@pytest.mark.dataset
def test_tensorboard_events_hold_each_epoch_metric(run_dir):
    events = EventAccumulator(str(event_dir(run_dir)))
    assert "activation=sigmoid" in event_dir(run_dir).name  # the run is listed by its overrides
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in METRICS:
        assert tag in scalars, tag
    assert len(events.Scalars("train/loss")) == 2  # once per epoch
    assert events.Tags()["graph"]  # logger.tensorboard.log_graph=true: the network's graph tab
    losses = [e.value for e in events.Scalars("val/loss")]
    assert all(0 < v < 5 for v in losses)


@pytest.mark.dataset
def test_eval_reproduces_the_runs_test_accuracy(run_dir, tmp_path):
    code, _, stderr = run_main(eval_main, f"ckpt_path={run_dir}/checkpoints/best.ckpt",
                               f"paths.log_dir={tmp_path}/logs", cwd=REPO)
    assert code == 0, stderr[-3000:]
    (eval_dir,) = (tmp_path / "logs" / "evals").iterdir()  # logs/evals/<time>/, not logs/runs/
    assert not (tmp_path / "logs" / "runs").exists()
    expected = json.loads((run_dir / "metrics.json").read_text())["metrics"]["test/acc"]
    got = json.loads((eval_dir / "metrics.json").read_text())["metrics"]["test/acc"]
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.dataset
def test_eval_on_a_device_this_machine_lacks_is_refused_by_name(run_dir, tmp_path):
    import torch

    lacking = "mps" if torch.cuda.is_available() else "cuda"
    code, _, stderr = run_main(eval_main, f"ckpt_path={run_dir}/checkpoints/best.ckpt",
                               f"trainer.accelerator={lacking}", f"paths.log_dir={tmp_path}/logs", cwd=REPO)
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert f"error: trainer.accelerator={lacking}: no " in stderr and "trainer=default" in stderr


@pytest.mark.dataset
def test_eval_with_trainer_flags_lightning_refuses_says_so_in_one_line(run_dir, tmp_path):
    """mlplab-eval builds its Trainer as mlplab-train does (``runtime.lightning_trainer.build_trainer``)."""
    code, _, stderr = run_main(eval_main, f"ckpt_path={run_dir}/checkpoints/best.ckpt", "trainer.devices=abc",
                               f"paths.log_dir={tmp_path}/logs", cwd=REPO)
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.splitlines()[-1] == ("error: trainer: `devices` selected with `CPUAccelerator` should be "
                                       "an int > 0. (Lightning's Trainer)")


@pytest.mark.dataset
def test_eval_scores_a_checkpoint_written_before_classes_were_kept(run_dir, tmp_path):
    """Before, checkpoints held the optimizer's and the schedule's arguments without their class;
    mlplab-eval scores such a file (AdamW + cosine here) as it scores a new one."""
    import torch

    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    for group in ("optimizer", "scheduler"):
        del checkpoint["hyper_parameters"][group]["_target_"]
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    code, _, stderr = run_main(eval_main, f"ckpt_path={old}", f"paths.log_dir={tmp_path}/logs", cwd=REPO)
    assert code == 0, stderr[-3000:]
    (eval_dir,) = (tmp_path / "logs" / "evals").iterdir()
    expected = json.loads((run_dir / "metrics.json").read_text())["metrics"]["test/acc"]
    assert json.loads((eval_dir / "metrics.json").read_text())["metrics"]["test/acc"] == pytest.approx(
        expected, abs=1e-6)
