"""bf16 on a CPU without bf16 instructions, through ``mlplab-train`` as a user types it: one
``warning:`` line with the measured cost and the fix for a run and for a whole sweep, and the batched
launcher's ``auto`` running a group in fp32 where its bf16 steps are slower than fp32's.

This machine's CPU has AVX-512-BF16, so the one function that reads the CPU
(``mlplab.runtime.precision.cpu_has_native_bf16``) answers as the AVX2 EPYC's would; in the batched
sweep the step timer answers with that EPYC's bf16 steps too (``mlplab.batched.calibrate``)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import run_main, write_fake_fashion_mnist

from mlplab.batched import calibrate
from mlplab.cli.train import main as train_main
from mlplab.runtime import precision

# fake Fashion-MNIST (256 training, 64 test images) and a run of a second or two on them
TINY = ["data.val_size=64", "data.check_counts=false", "model.net.hidden=[16]", "logger=none",
        "trainer.max_epochs=1"]
WARNING = ("warning: trainer.precision=bf16-mixed on the CPU: this CPU has no bf16 instructions (none of "
           "AVX-512-BF16, AMX, Arm BF16, SVE BF16; torch's CPU capability: AVX2), where bf16 runs at a "
           "fraction of fp32's speed: 0.07× fp32's speed measured on an AVX2 AMD EPYC (make bench's raw "
           "loop: 20.5 s against 1.40 s an epoch); use trainer.precision=32-true")


@pytest.fixture
def avx2_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.slow
def test_a_cpu_bf16_run_warns_once_and_trains_in_bf16(avx2_cpu, tmp_path):
    data = write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    run = tmp_path / "run"
    code, _, err = run_main(train_main, "trainer=cpu_bf16", f"data.data_dir={data}", *TINY,
                            f"hydra.run.dir={run}", cwd=tmp_path)
    assert code == 0, err[-3000:]
    assert warnings(err) == [WARNING]
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "finished" and record["hparams"]["trainer"]["precision"] == "bf16-mixed"


@pytest.mark.parametrize(("override", "native", "warned"), [
    ("trainer=cpu_bf16", False, [WARNING]), ("trainer=cpu_bf16", True, []),
    ("trainer.precision=32-true", False, [])])
def test_the_warning_comes_before_the_data_loads_and_only_for_bf16_without_bf16_instructions(
        override, native, warned, avx2_cpu, tmp_path, monkeypatch):
    """Each run stops when its data load finds ``data.data_dir`` a file (exit 2): what it printed up
    to there is what a run prints before it trains."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("")
    code, _, err = run_main(train_main, override, f"data.data_dir={not_a_folder}", *TINY,
                            f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert code == 2 and f"error: data.data_dir={not_a_folder} is a file" in err, err[-3000:]
    assert warnings(err) == warned


@pytest.fixture
def avx2_steps(monkeypatch):
    """The step timer with the AVX2 EPYC's figures (auto's log there: 853 ms a stacked bf16 step of
    9 members, 714 ms looped), fp32 at a tenth of that."""
    steps = {torch.bfloat16: (0.853, 0.714), None: (0.060, 0.095)}
    monkeypatch.setattr(calibrate, "step_times", lambda *shape_and_dtype: steps[shape_and_dtype[-1]])
    calibrate._measure.cache_clear()
    yield
    calibrate._measure.cache_clear()


@pytest.mark.slow
def test_a_batched_bf16_sweep_warns_once_and_auto_runs_the_group_in_fp32(avx2_cpu, avx2_steps, tmp_path):
    data = write_fake_fashion_mnist(tmp_path / "data", 256, 64)
    sweep = tmp_path / "sweep"
    code, out, err = run_main(train_main, "-m", "hydra/launcher=batched", "trainer.precision=bf16-mixed",
                              "regularizer.weight_decay=0,1e-3", f"data.data_dir={data}", *TINY,
                              f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert code == 0, err[-3000:]
    assert warnings(err) == [WARNING]  # once for the sweep, not once per job
    assert ("a bf16-mixed step of 2 members takes 714.0 ms (looped), an fp32 one 60.0 ms (stacked): this "
            "CPU has no bf16 instructions, so the group runs in fp32 (trainer.precision=32-true), stacked; "
            "hydra.launcher.mode=stacked or looped keeps bf16-mixed") in out + err
    for job in ("0", "1"):
        record = json.loads((sweep / job / "metrics.json").read_text())
        assert record["status"] == "finished"
        assert record["batched"]["members"] == 2 and record["batched"]["engine"] == "stacked"
        assert record["hparams"]["trainer"]["precision"] == "32-true"  # what it ran in, not what was asked
