"""What a resumed sweep does with each job (``runtime.sweep_jobs.plan``), by what its folder holds,
and whether a stopped run's record offers a resume line (``runtime.record.run_record``)."""

from __future__ import annotations

import os

import pytest
import torch
from omegaconf import OmegaConf

from mlplab.records import RunStatus
from mlplab.runtime.record import run_record
from mlplab.runtime.sweep_jobs import plan


@pytest.mark.parametrize(("status", "last", "retry", "action"), [
    ("finished", "valid", False, "skip"),
    ("finished", "valid", True, "skip"),  # retry_failed never reruns a finished job
    ("failed", None, False, "skip"),
    ("failed", None, True, "run"),
    ("diverged", "valid", True, "run"),  # a diverged run starts over, not from its blown-up weights
    ("pruned", "valid", False, "skip"),
    ("interrupted", "valid", False, "resume"),
    ("interrupted", None, False, "run"),  # stopped before its first epoch ended
    ("interrupted", "garbage", False, "run"),  # a truncated last.ckpt: the job starts over
    (None, "valid", False, "resume"),  # killed before it wrote its metrics.json
    (None, None, False, "run"),
])
def test_a_resumed_sweep_skips_resumes_or_reruns_each_job_by_what_it_left(status, last, retry, action,
                                                                          tmp_path):
    if last is not None:
        (tmp_path / "checkpoints").mkdir()
        path = tmp_path / "checkpoints" / "last.ckpt"
        if last == "valid":
            torch.save({"hyper_parameters": {}, "state_dict": {}}, path)
        else:
            path.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    earlier = {"status": status} if status else None
    expected = (action, tmp_path / "checkpoints" / "last.ckpt" if action == "resume" else None)
    assert plan(earlier, tmp_path, retry_failed=retry) == expected


@pytest.mark.parametrize(("history", "offered"), [([], False), ([{"epoch": 0, "train/loss": 1.0}], True)])
def test_a_stopped_run_offers_a_resume_line_only_with_an_epoch_to_resume_from(history, offered):
    """Without a complete epoch there is no last.ckpt: no "resume with" line to follow."""
    record = run_record(OmegaConf.create({"seed": 1}), RunStatus.INTERRUPTED, "stopped by SIGTERM", history,
                        seconds=1.0, fit_seconds=1.0, device="cpu", resume=None, test_checkpoint=None,
                        monitor=None, metrics={})
    # (its words are resume_command's, which reads the Hydra job an earlier test in this process set)
    assert (record.resume is not None) is offered
    if offered:
        assert record.resume.startswith("mlplab-train") and record.resume.endswith("ckpt_path=last")


def test_a_resumed_sweep_whose_jobs_differ_is_another_sweep_even_with_the_same_overrides(tmp_path):
    """The same command line can compose other jobs (a preset or a config dir changed since): the
    job list is compared too, and a sweep folder of other jobs is refused, not mixed into."""
    from mlplab.errors import ConfigError
    from mlplab.runtime.sweep_jobs import record_or_check

    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "sweeper": {"_target_": "basic"},
                                         "overrides": {"task": ["+experiment=grid"], "hydra": []},
                                         "runtime": {"config_sources": []}}})
    record_or_check(config, [["optimizer.lr=0.1"], ["optimizer.lr=0.2"]])
    record_or_check(config, [["optimizer.lr=0.1"], ["optimizer.lr=0.2"]])  # the same sweep: resumed
    with pytest.raises(ConfigError, match="holds another sweep"):
        record_or_check(config, [["optimizer.lr=0.1"], ["optimizer.lr=0.3"]])


def test_a_resumed_sweep_keeps_the_command_that_resumed_it(tmp_path):
    """A search resumed for more trials: a job it stops, and a refusal, print the newer command (the
    first one's n_trials would end the resumed search at once)."""
    import json

    from mlplab.runtime.sweep_jobs import RECORD, record_or_check

    def config(n_trials: int):
        return OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "sweeper": {"_target_": "optuna"},
                                           "overrides": {"task": ["hparams_search=optuna"],
                                                         "hydra": [f"hydra.sweeper.n_trials={n_trials}"]},
                                           "runtime": {"config_sources": []}}})

    record_or_check(config(2), None)
    record_or_check(config(4), None)
    assert "hydra.sweeper.n_trials=4" in json.loads((tmp_path / RECORD).read_text())["command"]


def test_a_resume_line_names_the_pythonpath_its_own_classes_came_from(tmp_path, monkeypatch):
    """``PYTHONPATH=. mlplab-train model.net._target_=mynets.Net``: the printed line must find
    ``mynets`` too, from any folder; a folder of $PYTHONPATH nothing was imported from is left out."""
    import importlib
    import sys

    from mlplab.runtime.sweep_jobs import python_path

    own, unused = tmp_path / "project", tmp_path / "empty"
    own.mkdir()
    unused.mkdir()
    (own / "mynets_for_resume.py").write_text("class Net: pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["project", "empty"]))
    monkeypatch.syspath_prepend(str(own))
    assert python_path() == []  # nothing imported from there yet
    importlib.import_module("mynets_for_resume")
    try:
        assert python_path() == [f"PYTHONPATH={own}"]
    finally:
        sys.modules.pop("mynets_for_resume", None)
    monkeypatch.delenv("PYTHONPATH")
    assert python_path() == []
