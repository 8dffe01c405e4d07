"""A column's value distribution: exact counts up to a threshold, then sketches.

Exact distinct counts, top-k, medians and histograms need one counter per
distinct value. Up to ``distinct_threshold`` distinct values that is what we
keep; past it the counts are folded into a HyperLogLog (distinct count) and a
bounded weighted summary (top-k, quantiles, histogram), and every stat derived
from them is marked approximate. Memory per column is therefore bounded by the
threshold, never by the row count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .counts import ArrowCounts, NumpyCounts
from .hll import HyperLogLog
from .sample import WeightedSample
from .settings import StatsSettings

# Feeds values (a numpy array or an Arrow array, as the counts hold them) to a sketch.
SketchAdder = Callable[[HyperLogLog, Any], None]


@dataclass
class Summary:
    """What the stats are derived from, exact or not."""

    exact: bool
    distinct_count: int
    unique_count: int | None  # values seen exactly once; unknowable from sketches
    top_values: list[Any]
    top_counts: list[int]
    points: Any  # sorted distinct values (or sketch points) for quantiles
    weights: np.ndarray


class _Sketch:
    def __init__(self, counts: NumpyCounts | ArrowCounts, adder: SketchAdder, config: StatsSettings):
        counts.consolidate()
        self.hll = HyperLogLog(config.hll_precision)
        adder(self.hll, counts.values)
        self.sample = WeightedSample(config.sketch_size, counts.values, counts.counts, ops=counts.ops)
        self.adder = adder

    def add_counts(self, values: Any, counts: np.ndarray) -> None:
        self.adder(self.hll, values)
        self.sample.add_weighted(values, counts)

    def add_values(self, values: np.ndarray) -> None:
        self.adder(self.hll, values)
        self.sample.add_strided(values)

    def merge(self, other: _Sketch) -> None:
        self.hll.merge(other.hll)
        self.sample.merge(other.sample)


class Distribution:
    """Exact value counts that degrade to sketches past the configured threshold."""

    def __init__(
        self, counts: NumpyCounts | ArrowCounts, adder: SketchAdder, config: StatsSettings
    ) -> None:
        self.counts: NumpyCounts | ArrowCounts | None = counts
        self.sketch: _Sketch | None = None
        self.adder = adder
        self.config = config

    def add_counts(self, values: Any, counts: np.ndarray) -> None:
        if self.counts is not None:
            self.counts.add_counts(values, counts)
            self._escalate_if_needed()
        else:
            self.sketch.add_counts(values, counts)

    def add_values(self, values: np.ndarray) -> None:
        """Numeric fast path: once sketched, rows are hashed and strided, not counted."""
        if self.counts is not None:
            self.counts.add_values(values)
            self._escalate_if_needed()
        else:
            self.sketch.add_values(values)

    def merge(self, other: Distribution) -> None:
        if self.counts is not None and other.counts is not None:
            self.counts.merge(other.counts)
            self._escalate_if_needed()
            return
        if self.counts is not None:
            self._to_sketch()
        theirs = other.sketch if other.sketch is not None else _Sketch(other.counts, other.adder, other.config)
        self.sketch.merge(theirs)

    def summarize(self, k: int) -> Summary:
        if self.counts is not None:
            self.counts.consolidate()
            counts = self.counts.counts
            top_values, top_counts = self.counts.ranked(k)
            return Summary(
                exact=True,
                distinct_count=len(counts),
                unique_count=int(np.count_nonzero(counts == 1)),
                top_values=top_values,
                top_counts=[int(c) for c in top_counts],
                points=self.counts.values,
                weights=counts,
            )
        points, weights = self.sketch.sample.sorted_points()
        order = np.lexsort((np.arange(len(weights)), -weights))[:k]
        # A point heavier than a compressed point's share is a real repeat; the
        # rest are arbitrary representatives and must not pose as frequent values.
        order = order[weights[order] > 1.5 * weights.sum() / self.config.sketch_size]
        top = _take_list(points, order)
        return Summary(
            exact=False,
            distinct_count=self.sketch.hll.estimate(),
            unique_count=None,
            top_values=top,
            top_counts=[round(float(w)) for w in weights[order]],
            points=points,
            weights=weights,
        )

    def _escalate_if_needed(self) -> None:
        if self.counts.distinct_upper_bound() <= self.config.distinct_threshold:
            return
        self.counts.consolidate()
        if len(self.counts.values) > self.config.distinct_threshold:
            self._to_sketch()

    def _to_sketch(self) -> None:
        self.sketch = _Sketch(self.counts, self.adder, self.config)
        self.counts = None


def _take_list(points: Any, order: np.ndarray) -> list[Any]:
    if isinstance(points, np.ndarray):
        return [v.item() for v in points[order]]
    return points.take(order).to_pylist()
