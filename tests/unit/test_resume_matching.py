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
