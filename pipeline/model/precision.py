"""Choosing the numeric precision at run time: bf16 autocast where the CPU computes bf16 natively or the GPU
supports it, fp16 autocast on a GPU without bf16, fp32 elsewhere."""

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
    """Map `auto|fp32|bf16` to the precision actually used on `device` (`cpu`, `cuda`, `cuda:1`):
    `fp32`, `bf16` or, on a GPU without bf16, `fp16`."""
    if choice not in CHOICES:
        raise InputError("configs/params.yaml", f"precision must be one of {', '.join(CHOICES)}, found {choice!r}")
    if device.startswith("cuda"):
        if choice == "fp32":
            return choice
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if choice != "auto":
        return choice
    return "bf16" if cpu_has_native_bf16() else "fp32"
