"""Checkpoints that do not fit the run, and a run killed (SIGKILL) while it writes one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import torch
from conftest import TINY, environment, one_line, save
from helpers import BIN

from mlplab.files import temporaries


def test_resuming_a_checkpoint_of_another_model_names_the_shapes_and_the_override(tmp_path, run, fake_data):
    data = f"data.data_dir={fake_data}"
    first = run("mlplab-train", data, *TINY, "model.net.hidden=[32]", f"hydra.run.dir={tmp_path / 'a'}",
                cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    result = run("mlplab-train", data, *TINY, "model.net.hidden=[16,16]", f"ckpt_path={last}",
                 "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    one_line(result, f"ckpt_path={last} holds another model", "net.W1 [784, 32] in the checkpoint, "
             "[784, 16] here", "net.W3 absent in the checkpoint, [16, 10] here", "model.net.hidden=[32]")
    assert last.read_bytes() == before
    # the override the line names resumes it
    again = run("mlplab-train", data, *TINY, "model.net.hidden=[32]", f"ckpt_path={last}",
                "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["epochs"] == 2


def test_sigkill_while_a_checkpoint_is_written_leaves_the_previous_one_loadable(tmp_path, outputs, fake_data,
                                                                                  run):
    """A model big enough (160 MB of checkpoint with momentum) that writing it takes a while; the
    test kills the run the moment the second epoch's temporary ``.last.ckpt.<random>.part``
    appears. The leftover temporary is removed by the next write of ``last.ckpt``: no process
    holds its lock any more."""
    logs = tmp_path / "logs"
    overrides = [f"data.data_dir={fake_data}", *TINY, "model.net.hidden=[4096,4096]",
                 "optimizer.momentum=0.9",
                 "trainer.max_epochs=3", "logger=none", f"paths.log_dir={logs}"]
    command = [str(BIN / "mlplab-train"), *overrides]
    process = subprocess.Popen(command, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lasts = lambda: list(logs.glob("runs/*/checkpoints/last.ckpt"))  # noqa: E731
    try:
        deadline = time.monotonic() + 300
        while not lasts() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        last = lasts()[0]
        run_dir = last.parent.parent
        while not temporaries(last) and process.poll() is None and time.monotonic() < deadline:
            pass  # the window is the write of 160 MB: poll without sleeping
        os.kill(process.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    killed = subprocess.CompletedProcess(command, process.returncode, out, err)
    save(outputs, "sigkill_mid_checkpoint", killed)
    assert process.returncode == -signal.SIGKILL
    (part,) = temporaries(last)  # killed while writing: the rename had not happened
    assert part.name.startswith(".last.ckpt.") and part.name.endswith(".part"), part
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 0 and checkpoint["state_dict"]["net.W2"].shape == (4096, 4096)
    # and the run resumes from it as its own resume line says (the command again, in this process)
    resumed = run("mlplab-train", *overrides, "ckpt_path=last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads((run_dir / "metrics.json").read_text())
    assert result["epochs"] == 3 and result["resumed_from"].endswith("last.ckpt")
    assert not part.exists() and temporaries(last) == []  # the next write removed the leftover
