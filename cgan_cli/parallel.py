"""Bounded, order-keeping parallel map for decode/encode work in threads (Pillow and torch release
the GIL in their heavy parts, so threads scale without worker-process start-up costs)."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(pool: cf.Executor, fn: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """pool.map that keeps at most `ahead` items in flight, so memory stays bounded for any input count."""
    it = iter(items)
    queue = collections.deque(pool.submit(fn, x) for x in itertools.islice(it, max(1, ahead)))
    while queue:
        result = queue.popleft().result()
        for x in itertools.islice(it, 1):
            queue.append(pool.submit(fn, x))
        yield result
