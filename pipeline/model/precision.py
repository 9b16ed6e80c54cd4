"""Choosing the numeric precision at run time: bf16 autocast where the CPU computes bf16 natively and faster
than fp32 (`cpu_prefers_bf16`) or the GPU supports it, fp16 autocast on a GPU without bf16, fp32 elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from pipeline.core.errors import InputError

CHOICES = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """What `auto` reads from /proc/cpuinfo: the vendor (`GenuineIntel`, `AuthenticAMD`, ...) and the flags."""

    vendor: str
    flags: frozenset[str]


def cpuinfo_fields(cpuinfo: str) -> dict[str, str]:
    """The first processor's fields (`vendor_id`, `model name`, `flags`, ...) from the text of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


@lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """The first processor's vendor and flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        fields = cpuinfo_fields(Path("/proc/cpuinfo").read_text())
    except OSError:
        return CpuFeatures("", frozenset())
    return CpuFeatures(fields.get("vendor_id", ""), frozenset(fields.get("flags", "").split()))


def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (elsewhere bf16 autocast is emulated and slow)."""
    flags = cpu_features().flags
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_prefers_bf16() -> bool:
    """Whether bf16 autocast is the faster precision on this CPU, as measured (README items 34-35):

    - AMX (`amx_bf16`): bf16 on the AMX tiles, 257 fragments/s in predict;
    - AVX512-BF16 on an AMD EPYC: bf16 2.0x faster than fp32 in predict, 1.5x in training;
    - AVX512-BF16 on an Intel Xeon that lists no AMX (a virtual machine that hides the AMX tiles of its
      Xeon): fp32 1.4x faster in predict and 1.5x in training, so fp32;
    - no bf16 instructions: bf16 is emulated and slow, so fp32.
    """
    features = cpu_features()
    if "amx_bf16" in features.flags:
        return True
    return "avx512_bf16" in features.flags and features.vendor != "GenuineIntel"


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
    return "bf16" if cpu_prefers_bf16() else "fp32"
