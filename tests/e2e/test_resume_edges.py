"""Resuming a run whose last.ckpt was not written at a plain epoch's end, and one whose schedule
would change length: the first continues as the uninterrupted run does, the second is refused
before it trains (mlplab-train on the real Fashion-MNIST, in this process)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from helpers import REPO, run_main

from mlplab.cli.train import main as train_main

pytestmark = [pytest.mark.dataset, pytest.mark.slow]
SMALL = ["data.train_subset=1000", "data.val_size=500", "model.net.hidden=[32]", "logger=none",
         "callbacks=[checkpoint,last_checkpoint]"]


def train(folder, *overrides) -> tuple[int, str]:
    code, _, stderr = run_main(train_main, *SMALL, *overrides, f"hydra.run.dir={folder}", cwd=REPO)
    return code, stderr


def result(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def weights(folder) -> dict:
    return torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize("every", ["trainer.check_val_every_n_epoch=2", "trainer.val_check_interval=0.5"])
def test_a_run_validated_other_than_once_an_epoch_resumes_as_it_would_have_gone_on(every, tmp_path):
    """With validation every other epoch (or twice an epoch), Lightning saves an unmonitored
    checkpoint at validation's end, before the epoch's own hooks, unless told to save at the
    epoch's end: last.ckpt then missed the epoch's history row, and resuming it crashed on an epoch
    with no training batch."""
    code, stderr = train(tmp_path / "whole", every, "trainer.max_epochs=3")
    assert code == 0, stderr[-2000:]
    code, stderr = train(tmp_path / "part", every, "trainer.max_epochs=2")
    assert code == 0, stderr[-2000:]
    code, stderr = train(tmp_path / "later", every, "trainer.max_epochs=3",
                         f"ckpt_path={tmp_path}/part/checkpoints/last.ckpt")
    assert code == 0, stderr[-2000:]
    resumed, whole = result(tmp_path / "part"), result(tmp_path / "whole")  # a run's own: its folder
    assert [row["epoch"] for row in resumed["history"]] == [0, 1, 2]
    assert resumed["history"] == whole["history"]  # bit for bit, as a plain resume is
    for name, tensor in weights(tmp_path / "whole").items():
        assert torch.equal(weights(tmp_path / "part")[name], tensor), name


def test_a_run_stopped_by_max_steps_inside_an_epoch_resumes_with_one_row_for_that_epoch(tmp_path):
    code, stderr = train(tmp_path / "run", "trainer.max_epochs=-1", "trainer.max_steps=6")  # 4 steps an epoch
    assert code == 0, stderr[-2000:]
    assert [row["epoch"] for row in result(tmp_path / "run")["history"]] == [0, 1]
    code, stderr = train(tmp_path / "more", "trainer.max_epochs=-1", "trainer.max_steps=8",
                         f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt")
    assert code == 0, stderr[-2000:]
    assert [row["epoch"] for row in result(tmp_path / "run")["history"]] == [0, 1]


def digests(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


STOP_AFTER_EPOCH_0 = ["+callbacks.stop._target_=helpers.signals.SignalAt", "+callbacks.stop.epoch=0"]


@pytest.mark.parametrize("schedule", ["scheduler=cosine", "scheduler=onecycle"])
def test_resuming_a_schedule_with_more_epochs_than_it_spans_is_refused_and_changes_nothing(schedule,
                                                                                          tmp_path):
    """Lightning restores the schedule with its checkpoint's length; the added epochs would run
    past its end (cosine: lr 0, so nothing would train, and the run would say finished)."""
    logged = ["logger=tensorboard", "callbacks=default"]  # hooks that write: none may run before the refusal
    code, stderr = train(tmp_path / "run", schedule, *logged, "trainer.max_epochs=3", *STOP_AFTER_EPOCH_0)
    assert code == 130, stderr[-2000:]  # stopped after its first epoch, as by a kill
    before = digests(tmp_path / "run")
    code, stderr = train(tmp_path / "more", schedule, *logged, "trainer.max_epochs=5",
                         f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt")
    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    assert (f"error: ckpt_path={tmp_path}/run/checkpoints/last.ckpt: its schedule " in stderr
            and "spans 12 steps, this run's would span 20 (trainer.max_epochs=5)" in stderr), stderr[-2000:]
    after = digests(tmp_path / "run")  # every file as it was (Lightning's logger may have opened a new
    assert {k: after[k] for k in before if not k.endswith("train.log")} == \
        {k: v for k, v in before.items() if not k.endswith("train.log")}  # event file for this command)
    code, stderr = train(tmp_path / "same", schedule, *logged, "trainer.max_epochs=3",  # as it began
                         f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt")
    assert code == 0, stderr[-2000:]
    assert [row["epoch"] for row in result(tmp_path / "run")["history"]] == [0, 1, 2]


def test_resuming_a_run_that_has_trained_all_it_asks_for_is_refused_and_keeps_its_record(tmp_path):
    """The printed resume line pasted twice: the second fit would train nothing and rewrite
    metrics.json with the test scores alone (its validation and training metrics gone)."""
    code, stderr = train(tmp_path / "run", "trainer.max_epochs=2")
    assert code == 0, stderr[-2000:]
    before = digests(tmp_path / "run")
    for bound in (["trainer.max_epochs=2"], ["trainer.max_epochs=-1", "trainer.max_steps=8"]):
        code, stderr = train(tmp_path / "again", *bound, f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt")
        assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
        assert "nothing is left to resume; to train longer, resume with more, e.g. trainer.max_" in stderr
    assert {k: v for k, v in digests(tmp_path / "run").items() if not k.endswith("train.log")} == \
        {k: v for k, v in before.items() if not k.endswith("train.log")}


def test_ckpt_path_last_with_more_epochs_continues_the_run_it_names(tmp_path):
    """The refusal above says "resume with more, e.g. trainer.max_epochs=2": with ckpt_path=last,
    the longer run is the same run (it was "no run … with the overrides … trainer.max_epochs=2")."""
    logs = tmp_path / "logs"

    def command(*overrides):  # with TensorBoard: the resumed run's curves go on in its own folder
        with_tensorboard = [o for o in SMALL if o != "logger=none"]
        return run_main(train_main, *with_tensorboard, *overrides, f"paths.log_dir={logs}", cwd=REPO)

    run = logs / "runs" / "2026-01-01_00-00-01"  # its own folder: the next commands may start this second
    code, _, stderr = command("trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert code == 0, stderr[-2000:]
    first = sorted(p.name for p in (run / "tensorboard").iterdir())
    code, _, stderr = command("trainer.max_epochs=1", "ckpt_path=last")
    assert code == 2 and "e.g. trainer.max_epochs=2" in stderr, stderr[-2000:]
    made = logs / "runs" / "2026-01-01_00-00-09"  # the folder Hydra makes for the resuming command
    code, _, stderr = command("trainer.max_epochs=2", "ckpt_path=last", f"hydra.run.dir={made}")
    assert code == 0, stderr[-2000:]
    assert result(run)["epochs"] == 2 and [row["epoch"] for row in result(run)["history"]] == [0, 1]
    # its TensorBoard curves go on in the run's one folder (max_epochs=2 named a second one)
    assert len(first) == 1 and sorted(p.name for p in (run / "tensorboard").iterdir()) == first
    # and its log: the run's train.log ends with the resumed fit's result; no folder holds only .hydra/
    log = (run / "train.log").read_text()
    assert log.count("test/acc=") == 2 and "resuming from" in log.rpartition("test/acc=")[0].rpartition(
        "test/acc=")[2]
    assert not made.exists()


def test_ckpt_path_last_finds_the_very_command_before_a_run_of_another_length(tmp_path):
    """A stopped run's printed resume line (its own max_epochs, ckpt_path=last) continues that run,
    even when a newer run of the same settings but another length exists."""
    logs = tmp_path / "logs"

    def command(*overrides):
        return run_main(train_main, *SMALL, *overrides, f"paths.log_dir={logs}", cwd=REPO)

    # run folders named as Hydra names them, by the time they start: "2" is the newer
    first = logs / "runs" / "2026-01-01_00-00-01"
    assert command("trainer.max_epochs=2", f"hydra.run.dir={first}")[0] == 0
    newer = logs / "runs" / "2026-01-01_00-00-02"
    assert command("trainer.max_epochs=1", f"hydra.run.dir={newer}")[0] == 0  # same settings, shorter
    code, _, stderr = command("trainer.max_epochs=2", "ckpt_path=last")
    assert code == 2 and f"ckpt_path={first}/checkpoints/last.ckpt has trained 2 epoch(s)" in stderr, stderr


def test_a_run_killed_after_its_last_epoch_but_before_its_result_is_resumed_to_its_result(tmp_path):
    """Killed while testing (SIGKILL, the OOM killer, a lost node): last.ckpt holds every epoch but
    no metrics.json was written. Its resume (a sweep's, a requeue's, the user's) tests and writes it."""
    code, stderr = train(tmp_path / "run", "trainer.max_epochs=2")
    assert code == 0, stderr[-2000:]
    finished = result(tmp_path / "run")
    (tmp_path / "run" / "metrics.json").unlink()
    code, stderr = train(tmp_path / "again", "trainer.max_epochs=2",
                         f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt")
    assert code == 0, stderr[-2000:]
    written = result(tmp_path / "run")
    assert written["status"] == "finished" and written["history"] == finished["history"]
    assert written["metrics"]["test/acc"] == finished["metrics"]["test/acc"]
    # and what ranks it in a sweep's summary: the monitor's best and the last epoch's numbers
    assert written["monitor"] == finished["monitor"]
    for name in ("val/acc", "val/loss", "train/acc", "train/loss", "weights/l2_norm"):
        assert written["metrics"][name] == pytest.approx(finished["metrics"][name], rel=1e-6), name


def test_a_new_run_in_a_finished_runs_folder_is_refused_and_writes_nothing(tmp_path):
    """hydra.run.dir given again (a folder name reused): Hydra would write its .hydra/ files over the
    finished run's, and the run its metrics.json and checkpoints."""
    code, stderr = train(tmp_path / "run", "trainer.max_epochs=1")
    assert code == 0, stderr[-2000:]
    before = digests(tmp_path / "run")
    code, stderr = train(tmp_path / "run", "trainer.max_epochs=1", "model.net.hidden=[8]")
    assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-2:] == [
        f"error: hydra.run.dir={tmp_path}/run holds a finished run (its metrics.json); give a new folder, "
        f"or continue that run: ckpt_path={tmp_path}/run/checkpoints/last.ckpt with more "
        f"trainer.max_epochs than it trained", "nothing was written"]
    # train.log aside: Hydra's root handler of the last job stays open in this process, where another
    # test's background thread (TensorBoard's reloader) may log through it; the refusal writes nothing
    after = digests(tmp_path / "run")
    assert {k: v for k, v in after.items() if k != "train.log"} == \
        {k: v for k, v in before.items() if k != "train.log"}
    assert "finished run" not in (tmp_path / "run" / "train.log").read_text()


def test_a_resume_refused_for_another_model_leaves_the_run_and_its_log_as_they_were(tmp_path):
    """The run's train.log goes on only once the resume is sure to train (its folder held, its
    weights fitting): a refused one keeps its error in its own folder, beside its .hydra/."""
    run, made = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    assert train(run, "trainer.max_epochs=1")[0] == 0
    before = (run / "train.log").read_text()
    code, stderr = train(made, "trainer.max_epochs=2", f"ckpt_path={run}/checkpoints/last.ckpt",
                         "model=concise")
    assert code == 2 and "holds another model" in stderr, stderr[-2000:]
    assert (run / "train.log").read_text() == before
    assert "holds another model" in (made / "train.log").read_text() and (made / ".hydra").is_dir()


def test_resuming_a_run_another_process_is_writing_says_to_wait_not_to_pick_another_folder(tmp_path):
    """``ckpt_path=last`` while the run still goes: another hydra.run.dir would not continue that run."""
    from mlplab.runtime.folder_lock import hold

    run = tmp_path / "runs" / "a"
    assert train(run, "trainer.max_epochs=1")[0] == 0
    with hold(run):  # this process stands in for the run still writing there
        code, stderr = train(tmp_path / "runs" / "b", "trainer.max_epochs=2",
                             f"ckpt_path={run}/checkpoints/last.ckpt")
    line = stderr.strip().splitlines()[-1]
    assert code == 2 and line.startswith(f"error: {run} is in use by process "), stderr[-2000:]
    assert line.endswith("then run this command again") and "hydra.run.dir" not in line
