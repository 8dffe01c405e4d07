"""The most frequent values of a column past the distinct threshold: a Misra-Gries summary.

Keeps at most ``capacity`` (key, count) counters. When a block pushes it over,
the ``capacity + 1``-th largest count is subtracted from every counter and
the counters that reach zero are dropped (Agarwal et al., "Mergeable
Summaries", 2012). Every estimate is then a lower bound of the true count and
falls short of it by at most ``error`` rows, the sum of what was subtracted,
itself at most ``rows / (capacity + 1)``. The bound is deterministic: it holds
for every row order and every way of splitting the rows into merged parts.

Keys are 64-bit: a number's own bit pattern, or a string's hash (two distinct
strings share a key with probability about ``n**2 / 2**65``). Each counter
keeps one representative value to report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

# Value arrays are numpy (numbers) or Arrow (strings, binary, decimals).
Values = Any


class FrequentValues:
    """Mergeable heavy-hitter counters with a deterministic error bound."""

    def __init__(self, capacity: int, values: Values) -> None:
        self.capacity = capacity
        self.keys = np.zeros(0, dtype=np.uint64)  # ascending
        self.counts = np.zeros(0, dtype=np.int64)
        self.values = values[:0]  # one representative per key, aligned with keys
        self.error = 0  # no estimate falls short of its true count by more
        self.rows = 0

    def add(self, keys: np.ndarray, counts: np.ndarray, values: Values) -> None:
        """Distinct ``keys`` (any order) counted ``counts`` times; ``values`` aligned with them."""
        if len(keys) == 0:
            return
        self.rows += int(counts.sum())
        self._fold(keys.astype(np.uint64, copy=False), counts.astype(np.int64, copy=False), values)

    def merge(self, other: FrequentValues) -> None:
        self.rows += other.rows
        self.error += other.error
        if len(other.keys):
            self._fold(other.keys, other.counts, other.values)

    def top(self, k: int) -> tuple[Values, np.ndarray]:
        """Up to ``k`` values that surely repeat (estimate >= 2), most frequent first.

        Ties go to the smaller value, as for exact counts.
        """
        sure = np.flatnonzero(self.counts >= 2)
        if len(sure) == 0:
            return self.values[:0], self.counts[:0]
        ranked_values = _numpy_view(_take(self.values, sure))
        order = np.lexsort((ranked_values, -self.counts[sure]))[:k]
        chosen = sure[order]
        return _take(self.values, chosen), self.counts[chosen]

    def _fold(self, keys: np.ndarray, counts: np.ndarray, values: Values) -> None:
        all_keys = np.concatenate([self.keys, keys])
        all_counts = np.concatenate([self.counts, counts])
        order = np.argsort(all_keys, kind="stable")  # ours first among equal keys
        all_keys, all_counts = all_keys[order], all_counts[order]
        starts = np.flatnonzero(np.concatenate([[True], all_keys[1:] != all_keys[:-1]]))
        summed = np.add.reduceat(all_counts, starts) if len(starts) else all_counts
        survivors = np.arange(len(starts))
        if len(starts) > self.capacity:
            cut = np.partition(summed, len(summed) - self.capacity - 1)[len(summed) - self.capacity - 1]
            summed = summed - cut
            self.error += int(cut)
            survivors = np.flatnonzero(summed > 0)
        source = order[starts[survivors]]  # first holder of each surviving key
        mine = source < len(self.keys)
        self.values = _gather(self.values, values, source, mine, len(self.keys))
        self.keys = all_keys[starts[survivors]]
        self.counts = summed[survivors]


def _take(values: Values, index: np.ndarray) -> Values:
    if isinstance(values, np.ndarray):
        return values[index]
    return values.take(pa.array(index, type=pa.int64()))


def _gather(ours: Values, theirs: Values, source: np.ndarray, mine: np.ndarray, split: int) -> Values:
    """Representatives in ``source`` order, from ours (index < split) or theirs (index - split)."""
    from_ours = _take(ours, source[mine])
    from_theirs = _take(theirs, source[~mine] - split)
    position = np.empty(len(source), dtype=np.int64)
    position[np.flatnonzero(mine)] = np.arange(len(from_ours))
    position[np.flatnonzero(~mine)] = len(from_ours) + np.arange(len(from_theirs))
    if isinstance(ours, np.ndarray):
        return np.concatenate([from_ours, from_theirs])[position]
    return pa.concat_arrays([from_ours, from_theirs]).take(pa.array(position, type=pa.int64()))


def _numpy_view(values: Values) -> np.ndarray:
    """Values as a numpy array that sorts in value order (Arrow values by their rank)."""
    if isinstance(values, np.ndarray):
        return values
    import pyarrow.compute as pc

    return pc.rank(values, sort_keys="ascending", tiebreaker="first").to_numpy()
