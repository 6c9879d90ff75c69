"""A stopped batched sweep, continued by the line it printed: the line keeps every override given,
Hydra's own among them (``hydra/launcher=batched``), and bash reads it as it was typed."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import run_main, write_fake_fashion_mnist

from mlplab.cli.train import main as train_main

BATCHED = ["hydra/launcher=batched", "hydra.launcher.mode=stacked"]
TINY = ["data.val_size=64", "data.check_counts=false", "model.net.hidden=[16]", "trainer.max_epochs=2"]
# jobs 0 and 1 carry a callback, so they run alone; jobs 2 and 3 (no callback) share a batched group.
# Job 0 sends itself SIGTERM when its first epoch ends: the sweep stops there, 2 and 3 not begun.
GRID = ["+callbacks.stop={_target_:helpers.signals.SignalAt,epoch:0,job:0},null",
        "regularizer.weight_decay=0,0.1"]


def metrics(job) -> dict:
    return json.loads((job / "metrics.json").read_text())


def as_bash_reads(line: str) -> list[str]:
    """The words bash hands ``mlplab-train`` for ``line``: a shell function of that name prints
    them (the entry point then runs in this process, as ``run_main`` runs it)."""
    script = 'mlplab-train() { printf "%s\\0" "$@"; }\n' + line
    words = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    return ["mlplab-train", *words.split("\0")[:-1]]


@pytest.mark.slow
def test_the_printed_resume_line_keeps_the_batched_launcher(tmp_path):
    data, sweep = write_fake_fashion_mnist(tmp_path / "data", 256, 64), tmp_path / "sweep"
    command = ["-m", *BATCHED, f"data.data_dir={data}", *TINY, *GRID, f"hydra.sweep.dir={sweep}"]
    code, _, stderr = run_main(train_main, *command, cwd=tmp_path)
    assert code == 130, stderr[-3000:]
    assert metrics(sweep / "0")["status"] == "interrupted" and not (sweep / "2").exists()
    (line,) = [line for line in stderr.splitlines() if line.startswith("resume with: ")]
    line = line.removeprefix("resume with: ")
    assert metrics(sweep / "0")["resume"] == line

    words = as_bash_reads(line)
    assert words[:2] == ["mlplab-train", "-m"] and sorted(words[1:]) == sorted(command)  # all of it
    code, _, stderr = run_main(train_main, *words[1:], cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    resumed = metrics(sweep / "0")
    assert resumed["status"] == "finished" and resumed["epochs"] == 2
    assert resumed["resumed_from"] == str(sweep / "0" / "checkpoints" / "last.ckpt")
    assert metrics(sweep / "1")["status"] == "finished" and metrics(sweep / "1")["batched"] is None
    for job in (2, 3):  # fitted together: the launcher the sweep was started with
        member = metrics(sweep / str(job))
        assert member["status"] == "finished" and (member["batched"] or {}).get("members") == 2
