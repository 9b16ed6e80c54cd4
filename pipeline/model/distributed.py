"""Data-parallel runs under an existing launcher (torchrun, `accelerate launch`), never a home-made one.

A launcher starts N copies of the same command and tells each its place through the environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). capcode reads those variables, joins the process group
(gloo on the CPU, nccl on GPUs) and splits its work; without them it is one process, exactly as before, and
no process group is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class World:
    """This process's place among the launched ones."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """The first process: the one that writes outputs, logs and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def world_from_env() -> World:
    """The world a launcher describes in the environment (one process when it describes none)."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"inconsistent launcher environment: RANK={rank}, WORLD_SIZE={size}")
    return World(rank=rank, size=size)


def join_world(device: torch.device) -> World:
    """Join the launcher's process group (once per process); one process needs no group at all."""
    world = world_from_env()
    if world.distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                    device_id=device if device.type == "cuda" else None)
    return world


def sum_across(world: World, array: np.ndarray, device: torch.device) -> np.ndarray:
    """Element-wise sum of `array` over all processes, returned on every process.

    Used to assemble results that each process computed for its own share (zeros elsewhere): adding zeros
    is exact, so the assembled values are bit for bit the ones the owning process computed."""
    if not world.distributed:
        return array
    import torch.distributed as dist

    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().numpy()


def barrier(world: World) -> None:
    """Wait until every process gets here (no-op for one process)."""
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()


def leave_world() -> None:
    """Leave the process group at the end of a command (torch warns when a process exits without it)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
