"""Distributed data parallel from torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE).

    torchrun --nproc_per_node 2 -m poseexport.train.ddp_entry --model ... --data ...

Each process gets `batch // world_size` images per step; gloo on CPU, nccl on CUDA.
Only rank 0 logs, shows progress, validates and writes files; the others wait at barriers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from ..errors import UnsupportedOptionError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) set by torchrun; (0, 0, 1) in a plain process."""
    return (int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")),
            int(os.environ.get("WORLD_SIZE", "1")))


def init_distributed(device: torch.device) -> DistContext:
    """Join torchrun's process group when WORLD_SIZE > 1; each rank takes GPU LOCAL_RANK on CUDA."""
    rank, local_rank, world = world_from_env()
    if world <= 1:
        return DistContext(device=device)
    import torch.distributed as dist

    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UnsupportedOptionError(f"torchrun started {world} processes on a node with "
                                         f"{torch.cuda.device_count()} GPU(s)",
                                         "each process trains on its own GPU",
                                         "use --nproc_per_node <= the number of GPUs")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, local_rank=local_rank, world_size=world, device=device)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()


def broadcast_object(ctx: DistContext, value):
    """Rank 0's `value` on every rank (e.g. the run folder it chose)."""
    if not ctx.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap_model(net: torch.nn.Module, ctx: DistContext, sync_bn: bool) -> torch.nn.Module:
    """DDP around `net` (optionally with synchronised BatchNorm); `net` itself is returned unwrapped
    when not distributed. `sync_bn` without DDP is refused rather than ignored."""
    if not ctx.distributed:
        if sync_bn:
            raise UnsupportedOptionError("sync_bn needs distributed training",
                                         "with one process there is nothing to synchronise",
                                         "start with torchrun --nproc_per_node N, or drop --sync-bn")
        return net
    from torch.nn.parallel import DistributedDataParallel

    if sync_bn and ctx.device.type != "cuda":
        raise UnsupportedOptionError("sync_bn cannot be used on CPU",
                                     "PyTorch's SyncBatchNorm synchronises GPU tensors only",
                                     "drop --sync-bn (each CPU process keeps its own BatchNorm statistics)")
    if sync_bn:
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)
