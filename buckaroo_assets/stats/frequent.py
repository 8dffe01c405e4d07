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
keeps one representative value to report. A block is folded in by sorting its
keys (numpy's radix-fast integer sort) and looking them up in the sorted
counters, so no value is compared or grouped as a string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from .shared_arrays import all_ones, ones

# Value arrays are numpy (numbers) or Arrow (strings, binary, decimals).
Values = Any
# Representative values for some of the keys being folded in, by their positions.
Representatives = Callable[[np.ndarray], Values]


class FrequentValues:
    """Mergeable heavy-hitter counters with a deterministic error bound."""

    def __init__(self, capacity: int, values: Values, key_dtype: np.dtype | type = np.uint64) -> None:
        self.capacity = capacity
        self.keys = np.zeros(0, dtype=key_dtype)  # ascending
        self.counts = np.zeros(0, dtype=np.int64)
        self.values = values[:0]  # one representative per key, aligned with keys
        self.error = 0  # no estimate falls short of its true count by more
        self.rows = 0

    def add(self, keys: np.ndarray, counts: np.ndarray, values: Values) -> None:
        """Distinct ``keys`` (any order) seen ``counts`` times; ``values`` aligned with them."""
        if len(keys) == 0:
            return
        order = _ascending(keys)
        self.rows += int(counts.sum())
        self._fold(keys[order], counts[order].astype(np.int64), lambda idx: _take(values, order[idx]))

    def add_rows(self, keys: np.ndarray, values: Values) -> np.ndarray:
        """One key per row with the row's value; returns the block's distinct keys, ascending."""
        distinct, counts = sorted_counts(np.sort(keys))
        self.rows += len(keys)
        self._fold(distinct, counts, lambda idx: _take(values, _first_rows(keys, distinct[idx])))
        return distinct

    def add_sorted(self, distinct: np.ndarray, counts: np.ndarray) -> None:
        """Distinct, ascending values that are their own keys (numbers), with their counts."""
        self.rows += int(counts.sum())
        self._fold(distinct, counts, lambda idx: distinct[idx])

    def merge(self, other: FrequentValues) -> None:
        self.rows += other.rows
        self.error += other.error
        if len(other.keys):
            self._fold(other.keys, other.counts, lambda idx: _take(other.values, idx))

    def state(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "counts": self.counts,
            "values": self.values,
            "error": self.error,
            "rows": self.rows,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.keys = np.asarray(state["keys"], dtype=self.keys.dtype)
        self.counts = np.asarray(state["counts"], dtype=np.int64)
        self.values, self.error, self.rows = state["values"], state["error"], state["rows"]

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

    def _fold(self, keys: np.ndarray, counts: np.ndarray, representatives: Representatives) -> None:
        """Add distinct, ascending ``keys`` with their counts, then cut back to capacity."""
        held = self.counts.copy()
        at, found = _common(self.keys, keys)
        held[at] += counts[found]
        over = len(held) + len(keys) - len(found) > self.capacity
        if over and all_ones(counts):
            # At most ``capacity`` counters are held and every new key has one row: the
            # (capacity + 1)-th largest count is one, and that cut drops every new key.
            fresh, cut = found[:0], 1
        else:
            fresh = _other_positions(len(keys), found)
            cut = _cut(held, counts[fresh], self.capacity) if over else 0
        self.error += cut
        kept = np.flatnonzero(held > cut)
        added = fresh[counts[fresh] > cut]
        if len(added) == 0:  # the kept counters are still in order
            self.keys, self.counts = self.keys[kept], held[kept] - cut
            self.values = self.values if len(kept) == len(held) else _take(self.values, kept)
            return
        merged_keys = np.concatenate([self.keys[kept], keys[added]])
        order = np.argsort(merged_keys, kind="stable")  # two ascending runs: a linear merge
        self.keys = merged_keys[order]
        self.counts = (np.concatenate([held[kept], counts[added]]) - cut)[order]
        self.values = _concat(_take(self.values, kept), representatives(added), order)


def _common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and in ``b`` of the values both hold (each distinct and
    ascending): the shorter is looked up in the longer, a few thousand counters in a
    block's keys costing far less than a block's keys in the counters."""
    if len(a) > len(b):
        in_b, in_a = _common(b, a)
        return in_a, in_b
    at = np.searchsorted(b, a)
    hit = at < len(b)
    hit[hit] = b[at[hit]] == a[hit]
    return np.flatnonzero(hit), at[hit]


def _other_positions(length: int, taken: np.ndarray) -> np.ndarray:
    """The positions below ``length`` that are not in ``taken``."""
    left = np.ones(length, dtype=bool)
    left[taken] = False
    return np.flatnonzero(left)


def _cut(held: np.ndarray, fresh: np.ndarray, capacity: int) -> int:
    """The (capacity + 1)-th largest of all counts (every count is at least 1).

    On data where most values are new (keys, ids, text), few counts exceed 1:
    when no more than ``capacity`` do, the answer is 1 without a selection.
    """
    repeated = int(np.count_nonzero(held > 1)) + int(np.count_nonzero(fresh > 1))
    if repeated <= capacity:
        return 1
    both = np.concatenate([held, fresh])
    position = len(both) - capacity - 1
    return int(np.partition(both, position)[position])


def sorted_counts(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs (int64)."""
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    change = ordered[1:] != ordered[:-1]
    if change.all():  # every value distinct (keys, hashes, noise): nothing to group
        return ordered, ones(len(ordered))
    starts = np.empty(int(np.count_nonzero(change)) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = np.flatnonzero(change) + 1
    counts = np.empty(len(starts), dtype=np.int64)
    counts[:-1] = starts[1:] - starts[:-1]
    counts[-1] = len(ordered) - starts[-1]
    return ordered[starts], counts


def _ascending(keys: np.ndarray) -> np.ndarray:
    """The order that sorts ``keys``: numpy's vectorised sort, which is several times
    faster than its stable one; that is used only where keys repeat (a hash collision),
    so that which of the equal keys comes first never depends on the machine."""
    order = np.argsort(keys)
    ordered = keys[order]
    if len(keys) > 1 and not (ordered[1:] != ordered[:-1]).all():
        return np.argsort(keys, kind="stable")
    return order


def _first_rows(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each of the ascending ``wanted`` keys, the first row whose key it is."""
    if len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    slot = np.minimum(np.searchsorted(wanted, keys), len(wanted) - 1)
    rows = np.flatnonzero(wanted[slot] == keys)
    _, first = np.unique(slot[rows], return_index=True)
    return rows[first]


def _take(values: Values, index: np.ndarray) -> Values:
    if isinstance(values, np.ndarray):
        return values[index]
    return values.take(pa.array(index, type=pa.int64()))


def _concat(first: Values, second: Values, order: np.ndarray) -> Values:
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])[order]
    return pa.concat_arrays([first, second]).take(pa.array(order, type=pa.int64()))


def _numpy_view(values: Values) -> np.ndarray:
    """Values as a numpy array that sorts in value order (Arrow values by their rank)."""
    if isinstance(values, np.ndarray):
        return values
    import pyarrow.compute as pc

    return pc.rank(values, sort_keys="ascending", tiebreaker="first").to_numpy()
