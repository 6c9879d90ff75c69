"""A run's record and its statuses: what metrics.json holds, read back as it was written, and a
run's settings parsed once and handed on."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from mlplab.config.datasets import FashionMNISTSettings
from mlplab.config.module_settings import ModuleSettings
from mlplab.config.store import config_dir
from mlplab.records import FAILURE_KEYS, RunRecord, RunStatus
from mlplab.runtime.build import build
from mlplab.runtime.preflight import check_run


def test_statuses_are_the_words_metrics_json_has_always_held():
    # "busy" is never written: a sweep's summary says it of a job another process is running
    assert [str(s) for s in RunStatus] == ["finished", "diverged", "interrupted", "pruned", "failed", "busy"]
    assert RunStatus("pruned") is RunStatus.PRUNED and RunStatus.FINISHED == "finished"
    assert [s for s in RunStatus if s.to_retry] == [RunStatus.DIVERGED, RunStatus.PRUNED, RunStatus.FAILED]


def test_a_record_writes_the_keys_of_metrics_json_and_reads_back_the_same():
    record = RunRecord(status=RunStatus.INTERRUPTED, error="stopped by SIGINT", resume="mlplab-train x",
                       history=[{"epoch": 0, "train/loss": 1.0}], seconds=1.5, fit_seconds=1.2, threads=2,
                       device="cpu", metrics={"val/acc": 0.5}, hparams={"seed": 42})
    written = json.loads(json.dumps(record.as_json()))
    assert list(written) == ["status", "error", "resume", "epochs", "seconds", "fit_seconds", "threads",
                             "device", "batched", "resumed_from", "test_checkpoint", "monitor", "metrics",
                             "history", "hparams"]
    assert written["status"] == "interrupted" and written["epochs"] == 1 and written["batched"] is None
    assert written["device"] == "cpu"
    again = RunRecord.from_json(written, skipped=True)
    assert again.skipped and again.status is RunStatus.INTERRUPTED
    assert again.as_json() == written


def test_a_finished_run_has_no_error_or_resume_key_and_a_failure_only_what_is_known():
    finished = RunRecord(status=RunStatus.FINISHED, hparams={}, seconds=1.0).as_json()
    assert "error" not in finished and "resume" not in finished
    failed = RunRecord(status=RunStatus.FAILED, error="boom", hparams={"seed": 1}).as_json()
    assert tuple(failed) == FAILURE_KEYS and failed["epochs"] == 0 and failed["error"] == "boom"
    old = RunRecord.from_json({"status": "finished", "loop": {"name": "grouped"}, "history": []})
    assert old.status is RunStatus.FINISHED and old.hparams == {}  # a key it does not know is left out


def test_a_runs_settings_are_parsed_once_and_handed_to_the_data_and_the_module(tmp_path, monkeypatch):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", "paths.run_name=once",
                                          "model.net.hidden=[8]"])
    checked = check_run(cfg)

    def parsed_again(*args, **kwargs):
        raise AssertionError("parsed a second time")

    monkeypatch.setattr(FashionMNISTSettings, "parse", classmethod(parsed_again))
    monkeypatch.setattr(ModuleSettings, "parse", classmethod(parsed_again))
    datamodule, module, _ = build(cfg, checked)
    assert datamodule.settings is checked.data and module.settings is checked.module
    with pytest.raises(AssertionError, match="parsed a second time"):
        build(cfg)  # without them, build parses (and here: is stopped)
