"""bf16 on a CPU without bf16 instructions (``mlplab.runtime.precision``): which CPUs have them,
which trainer settings compute in bf16 on the CPU, the warning's words, and ``make bench``
leaving out its bf16 rows there (``benchmarks``)."""

from __future__ import annotations

import pytest
import torch

from benchmarks import report, sweep
from benchmarks.__main__ import pipelines
from benchmarks.common import bf16_skipped
from mlplab.runtime import precision

AVX2_EPYC = {"architecture": "x86_64", "avx2": True, "fma3": True, "avx512_f": False, "avx512_bf16": False,
             "amx_bf16": False, "amx_tile": False}
WHY = ("this CPU has no bf16 instructions (none of AVX-512-BF16, AMX, Arm BF16, SVE BF16; torch's CPU "
       "capability: AVX2), where bf16 runs at a fraction of fp32's speed: 0.07× fp32's speed measured on "
       "an AVX2 AMD EPYC (make bench's raw loop: 20.5 s against 1.40 s an epoch)")


@pytest.mark.parametrize(("flags", "native"), [
    (AVX2_EPYC, False),
    ({**AVX2_EPYC, "avx512_f": True, "avx512_bw": True}, False),  # AVX-512 without its BF16 part
    ({**AVX2_EPYC, "avx512_f": True, "avx512_bf16": True}, True),  # this machine's EPYC
    ({**AVX2_EPYC, "amx_tile": True, "amx_bf16": True}, True),  # a Xeon with AMX
    ({"architecture": "arm64", "neon": True, "bf16": True}, True),
    ({"architecture": "arm64", "neon": True, "bf16": False, "sve_bf16": False}, False),
    ({}, False),
])
def test_native_bf16_means_avx512_bf16_amx_or_arm_bf16(flags, native):
    assert precision.has_native_bf16(flags) is native


@pytest.mark.parametrize(("trainer", "on_cpu"), [
    ({"accelerator": "cpu", "precision": "bf16-mixed"}, True),  # trainer=cpu_bf16
    ({"accelerator": "cpu", "precision": "bf16-true"}, True),
    ({"accelerator": "cpu", "precision": "32-true"}, False),
    ({"accelerator": "cpu", "precision": "16-mixed"}, True),  # Lightning runs it as bf16-mixed on a CPU
    ({"accelerator": "cpu", "precision": 16}, True),  # the same, as an int from the command line
    ({"accelerator": "cpu", "precision": "16-true"}, False),  # fp16 weights: no bf16 anywhere
    ({"accelerator": "gpu", "precision": "16-mixed"}, False),
    ({"accelerator": "gpu", "precision": "bf16-mixed"}, False),  # trainer=gpu_amp
    ({"accelerator": "cpu"}, False),  # Lightning's default precision
])
def test_which_trainer_settings_compute_in_bf16_on_the_cpu(trainer, on_cpu):
    assert precision.bf16_on_cpu(trainer) is on_cpu


@pytest.mark.parametrize(("cuda", "on_cpu"), [(True, False), (False, True)])
def test_accelerator_auto_is_the_cpu_where_lightning_finds_no_gpu(cuda, on_cpu, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert precision.bf16_on_cpu({"accelerator": "auto", "precision": "bf16-mixed"}) is on_cpu


@pytest.fixture
def avx2_cpu(monkeypatch):
    """This process on a CPU like the AVX2 EPYC: no bf16 instructions, torch's capability AVX2."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: precision.has_native_bf16(AVX2_EPYC))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


def test_the_warning_gives_the_measured_cost_and_the_fix(avx2_cpu):
    assert precision.bf16_warning({"accelerator": "cpu", "precision": "bf16-mixed"}) == (
        f"trainer.precision=bf16-mixed on the CPU: {WHY}; use trainer.precision=32-true")
    assert precision.bf16_warning({"accelerator": "cpu", "precision": "32-true"}) is None
    assert precision.bf16_warning({"accelerator": "gpu", "precision": "bf16-mixed"}) is None


def test_no_warning_on_a_cpu_with_bf16_instructions(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.why_bf16_is_slow() is None
    assert precision.bf16_warning({"accelerator": "cpu", "precision": "bf16-mixed"}) is None


def test_make_bench_leaves_out_its_bf16_rows_on_such_a_cpu_and_says_why(avx2_cpu):
    assert bf16_skipped(torch.device("cpu")) == WHY
    assert bf16_skipped(torch.device("cuda")) is None  # a GPU's bf16 is another matter: timed
    assert set(pipelines(bf16=False)) == {"d2l", "raw", "mlplab", "lightning"}
    assert set(pipelines()) == {"d2l", "raw", "mlplab", "lightning", "raw_bf16", "mlplab_bf16"}
    assert set(sweep.variants(bf16=False)) == {"basic fp32", "batched fp32"}
    assert set(sweep.variants()) == set(sweep.VARIANTS)


def test_the_sweep_section_without_bf16_reports_its_goal_unmeasured_and_why():
    medians = {name: {"wall": {"median": wall}, "fit": {"median": wall - 5}, "rss_mb": {"median": 1000.0}}
               for name, wall in (("basic fp32", 60.0), ("batched fp32", 30.0))}
    section = {"jobs": 9, "epochs": 10, "basic_sampled_jobs": None, "variants": medians,
               "ratios": {"basic fp32": 1.0, "batched fp32": 0.5}, "shares": sweep.lever_shares(medians),
               "bf16_skipped": WHY}
    assert section["shares"] == {"batched alone": 0.5}
    goals = sweep.sweep_goals(section, torch.device("cpu"))
    assert goals == [{"name": "sweep batched bf16 / basic fp32", "value": None, "limit": "<= 0.5",
                      "met": None}]
    printed = sweep.format_sweep(section, goals).splitlines()
    assert printed[-2:] == [f"  bf16 variants skipped: {WHY}",
                            "  goal sweep batched bf16 / basic fp32 <= 0.5: not measured"]


def test_the_printed_table_says_why_it_has_no_bf16_rows():
    def timed(seconds: float) -> dict:
        return {"median": seconds, "min": seconds, "max": seconds, "test_acc": [0.8],
                "epoch_seconds": [[seconds]]}

    pipes = {"d2l": timed(5.0), "mlplab": {**timed(0.8), "full_epoch": timed(0.8)}, "lightning": timed(0.75),
             "raw": timed(0.7)}
    numbers = {"environment": report.environment(torch.device("cpu")), "pipelines": pipes,
               "settings": {"model": "ScratchMLP 784-256-10 relu", "lr": 0.1, "batch_size": 256, "repeats": 1,
                            "epochs": 1},
               "same_init": True, "ratios": report.pipeline_ratios(pipes), "bf16_skipped": WHY,
               "total_seconds": 60.0, "load_average_at_end": [0.0, 0.0, 0.0]}
    numbers["goals"] = report.goals(numbers)
    printed = report.format_report(numbers).splitlines()
    assert f"(c), (b) bf16 rows skipped: {WHY}" in printed
    assert not [line for line in printed if "bf16-mixed" in line or "bf16 autocast" in line]
    assert [line.split() for line in printed if "mlplab/raw bf16" in line] == [
        ["SKIP", "mlplab/raw", "bf16", "not", "measured", "(goal", "<=", "1.3)"]]
