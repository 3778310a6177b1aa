"""Data order that can be stopped and resumed exactly: a permutation per epoch derived from
(seed, epoch), and a per-item augmentation seed derived from (seed, epoch, position)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def item_seed(seed: int, epoch: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class ResumableSampler(Sampler):
    """Yields (index, augmentation seed) keys for one epoch, starting at `start`; set epoch/start first.

    Under data parallelism (`world` > 1) each global batch of `world` × `batch` consecutive positions of the
    epoch's order is split into `world` slices of `batch`, and this sampler yields slice `rank`; a last global
    batch that runs past the end is filled from the epoch's start, as DistributedSampler pads, so every rank
    takes the same number of steps. `start` counts positions of the epoch already consumed by all ranks.
    `full` fills a single process's last batch the same way, for nets that batch-normalise vectors (a batch
    of one has no variance to normalise by)."""

    def __init__(
        self, n: int, seed: int, rank: int = 0, world: int = 1, batch: int = 1, full: bool = False
    ) -> None:
        self.n, self.seed = n, seed
        self.rank, self.world, self.batch = rank, world, batch
        self.padded = world > 1 or full
        self.epoch, self.start = 0, 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = epoch_order(self.n, self.seed, self.epoch)
        if not self.padded:
            for pos in range(self.start, self.n):
                yield int(order[pos]), item_seed(self.seed, self.epoch, pos)
            return
        for block in range(self.start, self.n, self.world * self.batch):
            for pos in range(block + self.rank * self.batch, block + (self.rank + 1) * self.batch):
                yield int(order[pos % self.n]), item_seed(self.seed, self.epoch, pos)

    def steps(self) -> int:
        """Steps left in this epoch."""
        return -(-(self.n - self.start) // (self.world * self.batch))

    def __len__(self) -> int:
        return self.steps() * self.batch if self.padded else self.n - self.start
