"""Choosing the numeric precision at run time: bf16 autocast only where the CPU computes bf16 natively."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from pipeline.core.errors import InputError

CHOICES = ("auto", "fp32", "bf16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (elsewhere bf16 autocast is emulated and slow)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(choice: str, device: str = "cpu") -> str:
    """Map `auto|fp32|bf16` to the precision actually used on this machine."""
    if choice not in CHOICES:
        raise InputError("configs/params.yaml", f"precision must be one of {', '.join(CHOICES)}, found {choice!r}")
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"
