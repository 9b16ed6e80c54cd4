"""Choosing where a model runs, at run time: this process's GPU when there is one, the CPU otherwise.

Nothing requires a GPU. `compute.device: auto` (the default) takes `cuda:LOCAL_RANK` when torch sees a GPU
(LOCAL_RANK is set by torchrun and `accelerate launch`, 0 without a launcher) and the CPU when it does not, so
the CPU path stays what it was. Mixed precision follows the hardware (`pipeline.model.precision`): bf16
autocast on a CPU where native bf16 is the faster choice or a GPU that supports it, fp16 autocast on an older GPU, fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from pipeline.core.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def local_rank() -> int:
    """This process's index on its node under a launcher (0 without one)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def select_device(choice: str = "auto") -> torch.device:
    """`auto|cpu|cuda` -> the device this process uses (`cuda` without a GPU is an input error)."""
    if choice not in DEVICE_CHOICES:
        raise InputError("configs/params.yaml", f"compute.device must be one of {', '.join(DEVICE_CHOICES)}, "
                                                f"found {choice!r}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError("configs/params.yaml", "compute.device is cuda, but torch sees no GPU on this machine "
                                                "(set it to auto or cpu)")
    index = local_rank() % max(torch.cuda.device_count(), 1)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def autocast(device: torch.device, precision: str) -> Any:
    """The autocast context for `precision` (bf16, fp16 or fp32 = none) on `device`."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's weights live on."""
    return next(model.parameters()).device
