"""Numeric precision of training and prediction: float32, or bfloat16 / float16 autocast.

``auto`` picks bfloat16 autocast where the hardware computes it natively (CPU flags ``amx_bf16`` or
``avx512_bf16``; a CUDA device that supports bfloat16) and float32 elsewhere: on a CPU without
those instructions bfloat16 is emulated and slower than float32. docs/performance.md holds the
measurement behind the default (the leave-one-corpus-out comparison in both precisions, three seeds).

The requested precision is what args.yaml and the checkpoint keep (``precision``), beside the one
used on the host of the run (``precision_used``); a saved model asked for ``auto`` resolves again on
the host that loads it, one asked for ``float32`` stays float32 everywhere.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .errors import InputError

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DEFAULT_PRECISION = "auto"
NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where they cannot be read."""
    try:
        text = (cpuinfo or CPUINFO).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def native_bfloat16(device_type: str, flags: set[str] | None = None) -> bool:
    """Whether ``device_type`` computes bfloat16 in hardware (``flags`` stands in for the CPU's own)."""
    if device_type == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    return bool(set(NATIVE_BF16_CPU_FLAGS) & (cpu_flags() if flags is None else flags))


def from_legacy_flags(precision: str | None, amp: bool = False, amp_dtype: str = "bfloat16") -> str:
    """``--precision``, or what the older ``--amp`` / ``--amp_dtype`` asked for (``--amp`` was bfloat16 on a CPU)."""
    if precision is not None:
        return precision
    return amp_dtype if amp else DEFAULT_PRECISION


def resolve(precision: str, device_type: str, flags: set[str] | None = None) -> str:
    """The precision a run uses: ``auto`` decided for this device; float16 is a GPU type (bfloat16 on a CPU)."""
    if precision not in PRECISIONS:
        raise InputError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device_type, flags) else "float32"
    if precision == "float16" and device_type == "cpu":
        return "bfloat16"
    return precision


def autocast(device_type: str, precision_used: str):
    """The autocast context of a resolved precision; float32 runs without one."""
    if precision_used == "float32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device_type, dtype=getattr(torch, precision_used))


def describe(requested: str, used: str, device_type: str) -> str:
    """One line for the log: what was asked and what this host runs."""
    why = ""
    if requested == "auto":
        why = " (native bfloat16 on this device)" if used == "bfloat16" else " (no native bfloat16 on this device)"
    return f"precision: {used} on {device_type}, asked for {requested}{why}"
