"""torchrun integration: rank discovery, process group, and rank-0-only side effects.

Runs unchanged without torchrun (world size 1). gloo on CPU, NCCL on CUDA, chosen from the
device, so the same command works on a laptop, a CPU cluster or a GPU node.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from signcaps.util.config import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """auto -> CUDA when present (one GPU per local rank), else CPU."""
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"train.device (--device) must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device (--device) is cuda, but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))


def init_distributed(device_name: str) -> tuple[DistInfo, torch.device]:
    """Read torchrun's environment and join the process group (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(device_name, info.local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info, device


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def ranks_in_sync(info: DistInfo, module: torch.nn.Module) -> bool:
    """True when every rank holds bit-identical weights (DDP's promise, checked at the end of a run)."""
    if not info.enabled:
        return True
    with torch.no_grad():
        flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in module.parameters()])
        checksum = torch.tensor([flat.sum().item(), (flat * flat).sum().item(), flat.abs().max().item()],
                                dtype=torch.float64)
    gathered = [torch.zeros_like(checksum) for _ in range(info.world_size)]
    if dist.get_backend() == "nccl":
        checksum, gathered = checksum.cuda(), [g.cuda() for g in gathered]
    dist.all_gather(gathered, checksum)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])
