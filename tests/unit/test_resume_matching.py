"""``ckpt_path=last``: which run it continues (``mlplab.runtime.checkpoints.newest_matching_run``),
on run folders laid out as mlplab-train leaves them (``.hydra/overrides.yaml``,
``checkpoints/last.ckpt``), named by Hydra's ``%Y-%m-%d_%H-%M-%S``."""

from __future__ import annotations

import pytest
import yaml

from mlplab.errors import UserError
from mlplab.runtime.checkpoints import newest_matching_run


def run(runs, name, *overrides, checkpoint=True):
    folder = runs / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"")
    return folder / "checkpoints" / "last.ckpt"


def test_the_newest_run_of_the_same_command_is_continued(tmp_path):
    run(tmp_path, "2026-01-01_00-00-00", "optimizer.lr=0.2")
    newest = run(tmp_path, "2026-01-02_00-00-00", "optimizer.lr=0.2")
    run(tmp_path, "2026-01-03_00-00-00", "optimizer.lr=0.3")  # newer, another command
    run(tmp_path, "2026-01-04_00-00-00", "optimizer.lr=0.2", checkpoint=False)  # the resuming run's own
    assert newest_matching_run(tmp_path, ["optimizer.lr=0.2", "ckpt_path=last"]) == newest


def test_the_very_command_comes_before_a_newer_run_of_another_length(tmp_path):
    same = run(tmp_path, "2026-01-01_00-00-00", "optimizer.lr=0.2", "trainer.max_epochs=10")
    run(tmp_path, "2026-01-02_00-00-00", "optimizer.lr=0.2", "trainer.max_epochs=20")
    assert newest_matching_run(tmp_path, ["optimizer.lr=0.2", "trainer.max_epochs=10"]) == same


def test_a_longer_run_continues_the_newest_of_the_same_but_for_its_length(tmp_path):
    run(tmp_path, "2026-01-01_00-00-00", "optimizer.lr=0.2", "trainer.max_epochs=5")
    newest = run(tmp_path, "2026-01-02_00-00-00", "optimizer.lr=0.2", "trainer.max_epochs=10")
    assert newest_matching_run(tmp_path, ["optimizer.lr=0.2", "trainer.max_epochs=20"]) == newest


def test_where_settings_do_not_tell_runs_apart_and_no_match_names_the_overrides(tmp_path):
    kept = run(tmp_path, "2026-01-01_00-00-00", "optimizer.lr=0.2", "paths.data_dir=/a")
    assert newest_matching_run(tmp_path, ["optimizer.lr=0.2", "paths.data_dir=/b"]) == kept
    with pytest.raises(UserError, match=r"no run under .* with the overrides 'optimizer.lr=0.5' has a"):
        newest_matching_run(tmp_path, ["optimizer.lr=0.5"])


@pytest.mark.parametrize(("marks", "continues_there"), [
    ([".lock"], True),  # a run made with hydra.output_subdir=null leaves only the lock of its process
    ([".hydra"], True),
    ([".lock", ".hydra"], True),
    ([], False),  # a checkpoints/ folder of one's own, outside any run: the new run's folder
])
def test_a_runs_own_checkpoint_continues_in_that_run_folder(marks, continues_there, tmp_path):
    import torch
    from omegaconf import OmegaConf

    from mlplab.runtime.resume import resume_from

    run = tmp_path / "runs" / "a"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"hyper_parameters": {}, "state_dict": {}}, run / "checkpoints" / "last.ckpt")
    for mark in marks:
        if mark == ".hydra":
            (run / mark).mkdir()
        else:
            (run / mark).write_text("1\n")
    new = tmp_path / "runs" / "b"
    cfg = OmegaConf.create({"ckpt_path": str(run / "checkpoints" / "last.ckpt"), "trainer": {"max_epochs": 2},
                            "paths": {"log_dir": str(tmp_path), "output_dir": str(new), "run_name": "x"}})
    assert resume_from(cfg) == run / "checkpoints" / "last.ckpt"
    assert cfg.paths.output_dir == str(run if continues_there else new)


@pytest.mark.parametrize(("board", "continued"), [
    (["regularizer.dropout=0.5/events.out.tfevents.1.h.1.0"], "regularizer.dropout=0.5"),
    # a run with no computing override logs into tensorboard/ itself (its name is "")
    (["events.out.tfevents.1.h.1.0"], ""),
    ([], "trainer.max_epochs=2"),  # no TensorBoard (logger=csv): the resuming command's own name
])
def test_a_resumed_run_goes_on_in_its_own_tensorboard_folder(board, continued, tmp_path):
    """Whatever the resuming command's overrides name (``trainer.max_epochs=2``), the curves go on
    in the TensorBoard folder of the run it continues, one run in TensorBoard's list."""
    import torch
    from omegaconf import OmegaConf

    from mlplab.runtime.resume import resume_from

    run = tmp_path / "runs" / "a"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".lock").write_text("1\n")
    torch.save({"hyper_parameters": {}, "state_dict": {}}, run / "checkpoints" / "last.ckpt")
    for events in board:
        (run / "tensorboard" / events).parent.mkdir(parents=True, exist_ok=True)
        (run / "tensorboard" / events).write_bytes(b"")
    cfg = OmegaConf.create({"ckpt_path": str(run / "checkpoints" / "last.ckpt"), "trainer": {"max_epochs": 2},
                            "paths": {"log_dir": str(tmp_path), "output_dir": str(tmp_path / "runs" / "b"),
                                      "run_name": "trainer.max_epochs=2"}})
    resume_from(cfg)
    assert cfg.paths.run_name == continued


@pytest.mark.parametrize(("ckpt_path", "continues"), [
    ("{run}/checkpoints/last.ckpt", True),
    ("{run}/checkpoints/epoch=3.ckpt", True),
    ("last", True),
    ("{other}/checkpoints/last.ckpt", False),
    (None, False),
])
def test_a_finished_runs_folder_may_be_named_again_only_to_continue_that_run(ckpt_path, continues, tmp_path):
    """``hydra.run.dir=<run>`` of a finished run is refused (``RunFolderCheck``) unless the command
    resumes that very run (``folder_lock.resumes``)."""
    from mlplab.runtime.folder_lock import resumes

    run, other = tmp_path / "a", tmp_path / "b"
    given = ckpt_path.format(run=run, other=other) if ckpt_path else None
    assert resumes(run, given) is continues


def test_a_resumed_runs_log_moves_but_a_log_file_of_ones_own_elsewhere_stays(tmp_path):
    """``job_log.move_job_log``: the job's train.log, in the folder Hydra made for the resuming
    command, goes on in the run's folder; a FileHandler of one's own logging config stays put."""
    import logging

    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from mlplab.config.store import config_dir
    from mlplab.runtime.job_log import move_job_log

    made, run, elsewhere = tmp_path / "made", tmp_path / "run", tmp_path / "elsewhere"
    for folder in (made, run, elsewhere):
        folder.mkdir()
    (run / "train.log").write_text("the first fit\n")
    root, previous = logging.getLogger(), HydraConfig.instance().cfg
    handlers = [logging.FileHandler(made / "train.log"), logging.FileHandler(elsewhere / "mine.log")]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):  # a job's Hydra config, as run
        job = compose("train", overrides=[f"hydra.runtime.output_dir={made}"], return_hydra_config=True)
    HydraConfig.instance().set_config(job)
    others, root.handlers = root.handlers, []  # this test's files alone: nothing else could move
    try:
        for handler in handlers:
            root.addHandler(handler)
        root.warning("resuming")
        move_job_log(run)
        root.warning("the second fit")
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = others
        HydraConfig.instance().cfg = previous
    assert (run / "train.log").read_text() == "the first fit\nresuming\nthe second fit\n"
    assert not (made / "train.log").exists()
    assert (elsewhere / "mine.log").read_text() == "resuming\nthe second fit\n"
