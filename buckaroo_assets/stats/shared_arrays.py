"""Read-only views of shared arrays of ones and of 1, 2, 3, ...

A column of distinct values has a count of one for every value and a running
total of 1..n. Allocating (and faulting in) such arrays afresh for every
block and column cost more than the sort that found the values distinct
(measured on 2,000 float columns); a slice of one shared array costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_SHARED: dict[str, np.ndarray] = {}


def _prefix(name: str, n: int, make: Callable[[int], np.ndarray]) -> np.ndarray:
    have = _SHARED.get(name)
    if have is None or len(have) < n:
        have = make(max(n, 65_536, 2 * len(have) if have is not None else 0))
        have.setflags(write=False)
        _SHARED[name] = have  # a racing thread may replace it with an equal array: harmless
    return have[:n]


def ones(n: int) -> np.ndarray:
    """n int64 ones, read-only."""
    return _prefix("ones", n, lambda size: np.ones(size, dtype=np.int64))


def all_ones(counts: np.ndarray) -> bool:
    """Whether every one of these positive counts is one: at once for a view of ``ones``."""
    shared = _SHARED.get("ones")
    return (shared is not None and counts.base is shared) or int(counts.sum()) == len(counts)


def running_total(counts: np.ndarray) -> np.ndarray:
    """np.cumsum(counts) of positive counts; read-only 1..n when every count is one."""
    if all_ones(counts):
        return _prefix("ranks", len(counts), lambda size: np.arange(1, size + 1, dtype=np.int64))
    return np.cumsum(counts)
