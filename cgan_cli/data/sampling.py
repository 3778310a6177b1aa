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
    """Yields (index, augmentation seed) keys for one epoch, starting at `start`; set epoch/start first."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.epoch, self.start = 0, 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = epoch_order(self.n, self.seed, self.epoch)
        for pos in range(self.start, self.n):
            yield int(order[pos]), item_seed(self.seed, self.epoch, pos)

    def __len__(self) -> int:
        return self.n - self.start
