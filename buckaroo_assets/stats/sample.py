"""A deterministic, bounded, weighted summary of a column's value distribution.

Once a column has more distinct values than the threshold, exact medians,
histograms and top-k need memory proportional to the data. This summary keeps
at most ``capacity`` weighted points instead: rows enter through a systematic
stride over the column's global row positions (no randomness, so results are
repeatable), and when the buffer overflows it is compressed to evenly spaced
ranks of its cumulative weight. A value that holds more than 1/capacity of the
rows survives every compression, so heavy hitters stay visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# Sorts an array of values and returns the permutation; numpy and Arrow values
# need different sort implementations.
ArgSort = Callable[[Any], np.ndarray]


class WeightedSample:
    """Mergeable weighted point set with a hard size bound."""

    def __init__(self, capacity: int, values: Any, weights: np.ndarray, *, ops: ValueOps) -> None:
        self.capacity = capacity
        self.ops = ops
        self.values = values
        self.weights = weights.astype(np.float64)
        self.stride = 1
        self.seen = int(self.weights.sum())  # rows offered: the global position for striding
        self._compress_if_needed()

    def add_strided(self, values: Any) -> None:
        """Offer every row; keep those on the current stride of global positions."""
        n = len(values)
        first = (-self.seen) % self.stride
        picked = values[first :: self.stride] if self.stride > 1 else values
        self.seen += n
        if len(picked):
            # Appended as a sorted run: compressing then merges runs instead of sorting afresh.
            picked = self.ops.take(picked, self.ops.argsort(picked))
            self._append(picked, np.full(len(picked), float(self.stride)))

    def add_weighted(self, values: Any, weights: np.ndarray) -> None:
        """Add already-counted distinct values (exact weights, nothing skipped)."""
        self.seen += int(weights.sum())
        self._append(values, weights.astype(np.float64))

    def merge(self, other: WeightedSample) -> None:
        self.seen += other.seen
        self.stride = max(self.stride, other.stride)
        self._append(other.values, other.weights)

    def _append(self, values: Any, weights: np.ndarray) -> None:
        self.values = self.ops.concat([self.values, values])
        self.weights = np.concatenate([self.weights, weights])
        self._compress_if_needed()

    def sorted_points(self) -> tuple[Any, np.ndarray]:
        """Distinct values in ascending order with their summed weights."""
        return _group_sorted(self.values, self.weights, self.ops)

    def _compress_if_needed(self) -> None:
        if len(self.weights) <= 2 * self.capacity:
            return
        values, weights = _group_sorted(self.values, self.weights, self.ops)
        if len(weights) > self.capacity:
            cumulative = np.cumsum(weights)
            total = cumulative[-1]
            targets = (np.arange(self.capacity) + 0.5) * (total / self.capacity)
            chosen = np.searchsorted(cumulative, targets, side="right")
            # chosen ascends, so equal picks are adjacent: merge them by run length.
            starts = np.flatnonzero(np.concatenate([[True], chosen[1:] != chosen[:-1]]))
            repeats = np.diff(np.append(starts, len(chosen)))
            values = self.ops.take(values, chosen[starts])
            weights = repeats * (total / self.capacity)
        self.values, self.weights = values, weights
        # Keep the intake rate proportional to the space we have.
        while self.seen // self.stride > self.capacity:
            self.stride *= 2


class ValueOps:
    """The three array operations the sample needs, per value representation."""

    def __init__(self, concat: Callable, take: Callable, argsort: ArgSort, equal_next: Callable):
        self.concat = concat
        self.take = take
        self.argsort = argsort
        self.equal_next = equal_next


def _group_sorted(values: Any, weights: np.ndarray, ops: ValueOps) -> tuple[Any, np.ndarray]:
    if len(weights) == 0:
        return values, weights
    order = ops.argsort(values)
    values = ops.take(values, order)
    weights = weights[order]
    starts = np.flatnonzero(np.concatenate([[True], ~ops.equal_next(values)]))
    if len(starts) == len(weights):  # all distinct, as most sketched columns are
        return values, weights
    return ops.take(values, starts), np.add.reduceat(weights, starts)
