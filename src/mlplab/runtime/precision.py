"""bf16 on a CPU: whether this CPU computes it with bf16 instructions, and the one warning where it
does not.

torch's bf16 on the CPU is fast only on instructions made for it: AVX-512-BF16 or AMX on x86, the
BF16 extensions on Arm. Elsewhere it runs at a fraction of fp32's speed: on an AVX2 AMD EPYC
(``torch.backends.cpu.get_cpu_capability()`` = AVX2) ``make bench``'s raw loop under bf16 autocast
took 20.5 s an epoch against fp32's 1.40 s, 0.07× fp32's speed; on the AVX-512-BF16 EPYC of
docs/performance.md the same loop ran at 1.35×.

    native bf16  ⇔  any flag of NATIVE_BF16 is set in torch.cpu.get_capabilities()

Where it is not, a run with ``trainer.precision=bf16-*`` on the CPU gets one warning line with that
measurement and the fix (``trainer.precision=32-true``), the batched launcher's ``auto`` times bf16
against fp32 (``mlplab.batched.calibrate``), and ``make bench`` leaves out its bf16 rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

# torch.cpu.get_capabilities() flags of the instructions that compute bf16 natively → their names
NATIVE_BF16 = {"avx512_bf16": "AVX-512-BF16", "amx_bf16": "AMX", "bf16": "Arm BF16", "sve_bf16": "SVE BF16"}
MEASURED = ("0.07× fp32's speed measured on an AVX2 AMD EPYC (make bench's raw loop: 20.5 s against "
            "1.40 s an epoch)")
FP32 = "32-true"  # the precision to use instead
FIX = f"trainer.precision={FP32}"


def has_native_bf16(capabilities: Mapping[str, Any]) -> bool:
    """Whether CPU ``capabilities`` (``torch.cpu.get_capabilities()``'s flags) hold a bf16 instruction set."""
    return any(bool(capabilities.get(flag)) for flag in NATIVE_BF16)


def cpu_has_native_bf16() -> bool:
    """Whether this machine's CPU computes bf16 natively (torch's cpuinfo, read once and cached)."""
    return has_native_bf16(torch.cpu.get_capabilities())


def why_bf16_is_slow() -> str | None:
    """Why bf16 is slow on this CPU, in words; None where the CPU has bf16 instructions."""
    if cpu_has_native_bf16():
        return None
    return (f"this CPU has no bf16 instructions (none of {', '.join(NATIVE_BF16.values())}; torch's "
            f"CPU capability: {torch.backends.cpu.get_cpu_capability()}), where bf16 runs at a fraction "
            f"of fp32's speed: {MEASURED}")


def bf16_on_cpu(trainer: Mapping[str, Any]) -> bool:
    """Whether these trainer settings compute in bf16 on the CPU: a ``bf16`` precision, or
    ``16-mixed`` (``16``), which Lightning runs as ``bf16-mixed`` on a CPU, with ``accelerator=cpu``,
    or ``auto`` where Lightning finds no GPU."""
    precision = str(trainer.get("precision", "32-true"))
    if not (precision.startswith("bf16") or precision in ("16-mixed", "16")):
        return False
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "auto":
        return not torch.cuda.is_available() and not torch.backends.mps.is_available()
    return accelerator == "cpu"


def bf16_is_slow(trainer: Mapping[str, Any]) -> bool:
    """Whether these trainer settings compute in bf16 on a CPU without bf16 instructions."""
    return bf16_on_cpu(trainer) and not cpu_has_native_bf16()


def bf16_warning(trainer: Mapping[str, Any]) -> str | None:
    """The warning for a run with these trainer settings (printed after ``warning: ``); None
    where it computes in bf16 natively or not at all."""
    if not bf16_on_cpu(trainer) or (why := why_bf16_is_slow()) is None:
        return None
    return f"trainer.precision={trainer.get('precision')} on the CPU: {why}; use {FIX}"
