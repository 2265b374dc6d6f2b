"""Training on several processes (``torchrun``): the process group, each rank's share of a batch, who writes.

``torchrun --nproc_per_node=N $(which bpsrm) train CONFIG --out RUN_FOLDER`` starts N copies of the
command; each finds ``RANK`` / ``WORLD_SIZE`` in its environment and joins a process
group (gloo on CPU, nccl on CUDA). ``train.batch_size`` stays the *global* batch:
global batch k of a single-process run (the same shuffled order) is split among the
ranks, each rank's loss is weighted by its share, and PyTorch's
DistributedDataParallel averages the gradients, so that N processes compute the
same update as one process (up to float rounding in the sums). Only rank 0 writes
the run folder, the log and the checkpoints.

Normalisation layers use the statistics of their own rank's share of a batch (as
PyTorch's BatchNorm does under DDP); their running statistics are taken from rank 0
before every evaluation.

A rank that dies: torchrun stops the others; without torchrun, every collective
gives up after ``BPSRM_DIST_TIMEOUT`` seconds (default 300) with an error.

Random draws on the data side (augmentation, rate encoding) differ between ranks (rank r > 0
reseeds after the model is built), so with those the N processes are not bit-equal to one
process; each rank's random state is kept in the checkpoints, so resume stays exact. The run
folder must lie on a file system that every rank sees (each rank reads ``last.pt``).
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from ..errors import BpsrmError

__all__ = ["Distributed", "from_environment", "environment_rank", "GlobalBatchSampler"]


@dataclass(frozen=True)
class Distributed:
    """This process's place: rank, number of processes, backend (None when alone)."""

    rank: int = 0
    world_size: int = 1
    backend: str | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64); the values unchanged when alone."""
        if not self.active:
            return values
        device = torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else None
        tensor = torch.tensor(values, dtype=torch.float64, device=device)  # nccl reduces GPU tensors only
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on some rank."""
        return bool(self.sum([float(flag)])[0] > 0)

    def agree(self, value: object) -> bool:
        """Whether every rank holds an equal ``value`` (True when alone); the same answer on every rank."""
        values = self.gather(value)
        return all(other == values[0] for other in values[1:])

    def main_says(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (a decision rank 0 makes for all, such as which epoch is best)."""
        return bool(self.sum([float(flag) if self.is_main else 0.0])[0] > 0)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (running statistics of the norms)."""
        if self.active:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)

    def barrier(self) -> None:
        """Wait until every rank has come here (nothing when alone)."""
        if self.active:
            dist.barrier()

    def same_weights(self, model: nn.Module) -> bool:
        """Whether every rank holds bit-identical parameters and buffers (a digest per rank, compared)."""
        if not self.active:
            return True
        digest = hashlib.sha256()
        for name, value in model.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        digests: list[str | None] = [None] * self.world_size
        dist.all_gather_object(digests, digest.hexdigest())
        return len(set(digests)) == 1

    def gather(self, value: object) -> list[object]:
        """``value`` of every rank, in rank order (``[value]`` when alone)."""
        if not self.active:
            return [value]
        values: list[object] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        """Leave the process group, if this object created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def environment_rank(name: str = "RANK") -> int:
    """The integer torchrun sets in the environment variable ``name`` (RANK, LOCAL_RANK or WORLD_SIZE; 0 when
    unset, 1 for WORLD_SIZE); a BpsrmError naming the variable when it holds something else."""
    value = os.environ.get(name)
    if value is None:
        return 1 if name == "WORLD_SIZE" else 0
    try:
        return int(value)
    except ValueError:
        raise BpsrmError(f"{name}={value!r}: expected an integer (torchrun sets it)") from None


def from_environment(device: torch.device | None = None) -> Distributed:
    """Join the process group that torchrun describes in the environment; alone when WORLD_SIZE is 1 or unset."""
    world, rank = environment_rank("WORLD_SIZE"), environment_rank("RANK")
    if world <= 1:
        return Distributed()
    if not 0 <= rank < world:
        raise BpsrmError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world})")
    if not dist.is_available():
        raise BpsrmError("this PyTorch build has no torch.distributed; run without torchrun")
    backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
    try:
        timeout = float(os.environ.get("BPSRM_DIST_TIMEOUT", "300"))
    except ValueError:
        timeout = math.nan
    if not 0 < timeout < 10**7:  # 0 or less: every collective failed at once, with a C++ trace
        raise BpsrmError(
            f"BPSRM_DIST_TIMEOUT={os.environ['BPSRM_DIST_TIMEOUT']!r}: expected seconds, > 0 (and below 10**7)"
        )
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return Distributed(dist.get_rank(), dist.get_world_size(), dist.get_backend(), owns)


class GlobalBatchSampler(Sampler[list[int]]):
    """This rank's share of every global batch, in the order of a single-process run.

    The permutation is ``torch.randperm(n, generator=generator)`` drawn when iteration starts;
    a DataLoader given the same generator first draws its base seed from it, exactly as
    ``DataLoader(shuffle=True, generator=generator)`` does, so a single process gets that
    loader's batches. Global batch k is ``perm[k B : (k+1) B]`` and rank r takes its elements
    r, r + N, r + 2N, ... A last global batch with fewer samples than ranks is dropped (every
    rank must take part in each step). ``start`` skips the first global batches of the same permutation (an
    epoch resumed in its middle).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        generator: torch.Generator,
        rank: int = 0,
        world_size: int = 1,
        max_batches: int | None = None,
        start: int = 0,
    ) -> None:
        if batch_size < world_size:
            raise BpsrmError(
                f"train.batch_size={batch_size} is the global batch and must be >= the number of processes "
                f"({world_size})"
            )
        self.size, self.batch_size, self.generator = size, batch_size, generator
        self.rank, self.world_size = rank, world_size
        full, rest = divmod(size, batch_size)
        batches = full + (1 if rest >= world_size else 0)
        self.capped = max_batches is not None and max_batches < batches
        """Whether ``max_batches`` ends an epoch before its last batch."""
        self.batches = min(batches, max_batches) if max_batches is not None else batches
        self.start = min(start, self.batches)

    @property
    def dropped(self) -> int:
        """Samples of each epoch in no batch: a last global batch smaller than the number of ranks (not counting a
        ``max_batches`` cap)."""
        rest = self.size % self.batch_size
        return rest if rest < self.world_size else 0

    def global_size(self, index: int) -> int:
        """Samples in global batch ``index``."""
        return min(self.batch_size, self.size - index * self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        for k in range(self.start, self.batches):
            chunk = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield chunk[self.rank :: self.world_size]

    def __len__(self) -> int:
        return self.batches - self.start
