"""Data-parallel training under `torchrun`: one process per device, each on its own shard of every batch.

`torchrun --nproc-per-node N -m cgan_cli train …` sets RANK/WORLD_SIZE/LOCAL_RANK; `World.detect()` reads
them and `World.start()` joins the process group (NCCL on CUDA, Gloo on CPU). The arithmetic is
DistributedDataParallel's: identical initial weights (broadcast from rank 0), each rank's gradients
averaged over all ranks before every optimizer step, buffers (batch-norm statistics) taken from rank 0
after every step. GANs call their networks several times per step and freeze D during G's update, which
DDP's per-forward reducer does not allow; so the averaging hangs on each optimizer (a step pre-hook over
one flattened bucket per dtype) rather than on the modules. Only rank 0 writes logs, samples and
checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from cgan_cli.errors import UsageError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def detect(cls) -> World:
        """The torchrun environment, or a world of one."""
        try:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise UsageError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
        if size < 1 or not 0 <= rank < size:
            raise UsageError(f"RANK {rank} is outside WORLD_SIZE {size}")
        return cls(rank, size, local)

    def device(self, device: torch.device) -> torch.device:
        """One CUDA device per local rank; `--device cuda:K` is for single-process runs."""
        if not self.distributed or device.type != "cuda":
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise UsageError(f"LOCAL_RANK {self.local_rank}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device("cuda", self.local_rank)

    def start(self, device: torch.device) -> None:
        if not self.distributed or dist.is_initialized():
            return
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=self.rank, world_size=self.size)

    def stop(self, clean: bool = True) -> None:
        """Leave the process group. After a clean finish every rank first waits at a barrier, so no rank tears
        down its Gloo connections while a peer is still reading the last collective (which aborts the peer).
        After a failure there is no barrier: the peers may be gone, and torchrun stops them anyway."""
        if not (self.distributed and dist.is_initialized()):
            return
        if clean:
            dist.barrier()
        dist.destroy_process_group()


def current() -> World:
    """The world this process has joined (a world of one before `start`)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return World()


# --- keeping the replicas identical -------------------------------------------------------------------------


def _buckets(tensors: Iterable[torch.Tensor]) -> dict[tuple[torch.device, torch.dtype], list[torch.Tensor]]:
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return groups


def broadcast(tensors: Iterable[torch.Tensor]) -> None:
    """Rank 0's values everywhere, one collective per (device, dtype) bucket."""
    for group in _buckets(tensors).values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src=0)
        offset = 0
        for t in group:
            t.data.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def average_gradients(optimizer: torch.optim.Optimizer, args: object = None, kwargs: object = None) -> None:
    """An optimizer step pre-hook: every rank steps with the mean of all ranks' gradients (DDP's rule).
    A parameter without a gradient on some rank counts as zero there, so all ranks stay in step."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    world = dist.get_world_size()
    for group in _buckets(p.grad for p in params).values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in group:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def replicate(nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Make a family data-parallel: rank 0's weights everywhere, and averaged gradients on every step."""
    for net in nets.values():
        broadcast(list(net.parameters()) + list(net.buffers()))
    for opt in optimizers.values():
        opt.register_step_pre_hook(average_gradients)


def sync_buffers(nets: dict[str, nn.Module]) -> None:
    """Batch-norm running statistics from rank 0, as DDP's broadcast_buffers does."""
    buffers = [b for net in nets.values() for b in net.buffers() if b.is_floating_point()]
    if buffers:
        broadcast(buffers)


def sync_batch_norm(nets: dict[str, nn.Module], device: torch.device) -> None:
    """BatchNorm over the global batch (`--sync-bn`); the state-dict keys stay the same."""
    if device.type != "cuda":
        raise UsageError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm has no CPU kernel)")
    for name, net in nets.items():
        nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)


def mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of a tensor every rank holds."""
    values = values.clone()
    dist.all_reduce(values)
    return values / dist.get_world_size()


def any_rank(flag: bool, group: object = None) -> bool:
    """True when any rank says so: a signal seen by one rank stops all of them at the same step."""
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return bool(t.item())


def rank_seed(seed: int, step: int, rank: int) -> int:
    """A torch seed for rank > 0 of a run at `step`, independent across ranks (rank 0 keeps its stream)."""
    return int(np.random.SeedSequence([seed, step, rank, 0xD1]).generate_state(1)[0])
