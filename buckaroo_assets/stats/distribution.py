"""A column's value distribution: exact counts up to a threshold, then sketches.

Exact distinct counts, top-k, medians and histograms need one counter per
distinct value. Up to ``distinct_threshold`` distinct values that is what we
keep; past it the counts are folded into three sketches, each with a bound
that holds whatever the row order:

* a HyperLogLog for the distinct count, clamped to what is certain: at least
  the distinct values counted exactly before the switch, at most the rows;
* Misra-Gries counters for the most frequent values, each count short of the
  truth by at most ``rows / (sketch_size + 1)``;
* for numbers, a KLL sketch for the median and histograms, every rank within
  ``3 / k`` of the rows, ``k = sketch_size / 4``.

Every stat derived from them is marked approximate. Memory per column is
bounded by the threshold (and, for text and binary, ``COUNT_BYTES`` of
distinct values), the sketch size and one unit of rows, never by the row
count. The switch is decided, and the sketches are fed, only at the end of
a unit (``end_unit``), so the result does not depend on the block size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .counts import ArrowCounts, NumpyCounts
from .frequent import FrequentValues, sorted_counts
from .hll import HyperLogLog
from .kll import QuantileSketch
from .settings import StatsSettings

# Exact counts of text or binary also give way to sketches once their distinct values
# hold this many bytes: 100,000 distinct cells of 10 KB would otherwise take 1 GB.
COUNT_BYTES = 64 << 20


@dataclass(frozen=True)
class Keying:
    """How one kind of value enters the sketches: its 64-bit keys and its HyperLogLog update."""

    keys: Callable[[Any], np.ndarray]
    add_to_hll: Callable[[HyperLogLog, Any, np.ndarray], None]
    # Numbers are their own keys and have an order worth a quantile sketch; strings,
    # binary and decimals are keyed by a hash and need none (no median is shown).
    keys_are_values: bool


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
    rank_error: float = 0.0  # bound on any quantile's rank, as a fraction of the rows
    count_error: int = 0  # bound on how far any top count falls short of the truth


class _Sketch:
    def __init__(self, counts: NumpyCounts | ArrowCounts, keying: Keying, config: StatsSettings):
        counts.consolidate()
        self.keying = keying
        self.hll = HyperLogLog(config.hll_precision)
        key_dtype = counts.values.dtype if keying.keys_are_values else np.uint64
        self.frequent = FrequentValues(config.sketch_size, counts.values, key_dtype)
        self.quantiles = (
            QuantileSketch(max(8, config.sketch_size // 4), counts.values.dtype)
            if keying.keys_are_values
            else None
        )
        self.floor = len(counts.values)  # distinct values known exactly when the sketch took over
        self.add_counts(counts.values, counts.counts, getattr(counts, "keys", None))

    def add_counts(self, values: Any, counts: np.ndarray, keys: np.ndarray | None = None) -> None:
        """Distinct values with their row counts (and their keys, if already known)."""
        if keys is None:
            keys = self.keying.keys(values)
        self.keying.add_to_hll(self.hll, values, keys)
        if self.keying.keys_are_values:  # a NumpyCounts' values: distinct and ascending
            self.frequent.add_sorted(values, counts)
        else:
            self.frequent.add(keys, counts, values)
        if self.quantiles is not None:
            self.quantiles.add_weighted(values, counts)

    def add_rows(self, values: Any, keys: np.ndarray | None = None) -> None:
        """A block of non-null values, one per row (with their keys, if already known):
        keyed once, never grouped as values."""
        if self.keying.keys_are_values:
            # Numbers: one sort serves the counters (distinct values are their own keys),
            # the HyperLogLog (distinct values suffice) and the quantile sketch.
            ordered = np.sort(values)
            distinct, counts = sorted_counts(ordered)
            self.frequent.add_sorted(distinct, counts)
            self.keying.add_to_hll(self.hll, distinct, distinct)
            self.quantiles.add(ordered, presorted=True)
            return
        if keys is None:
            keys = self.keying.keys(values)
        distinct = self.frequent.add_rows(keys, values)
        self.keying.add_to_hll(self.hll, values, distinct)

    def merge(self, other: _Sketch) -> None:
        self.hll.merge(other.hll)
        self.frequent.merge(other.frequent)
        if self.quantiles is not None and other.quantiles is not None:
            self.quantiles.merge(other.quantiles)
        self.floor = max(self.floor, other.floor)

    def state(self) -> dict[str, Any]:
        return {
            "hll": self.hll.registers,
            "frequent": self.frequent.state(),
            "quantiles": None if self.quantiles is None else self.quantiles.state(),
            "floor": self.floor,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.hll.restore(state["hll"])
        self.frequent.restore(state["frequent"])
        if self.quantiles is not None:
            self.quantiles.restore(state["quantiles"])
        self.floor = state["floor"]

    def distinct_count(self) -> int:
        """The HyperLogLog estimate, never below what was counted nor above the rows."""
        return min(max(self.hll.estimate(), self.floor), self.frequent.rows)


class Distribution:
    """Exact value counts that degrade to sketches past the configured threshold."""

    def __init__(
        self, counts: NumpyCounts | ArrowCounts, keying: Keying, config: StatsSettings
    ) -> None:
        self.counts: NumpyCounts | ArrowCounts | None = counts
        self.sketch: _Sketch | None = None
        self.keying = keying
        self.config = config
        # Once sketched, what the current unit brought, fed to the sketches at its end.
        self.unit_counts = counts.empty_like()
        self.unit_rows: list[Any] = []
        self.unit_keys: list[np.ndarray] = []

    def add_counts(self, values: Any, counts: np.ndarray) -> None:
        (self.counts if self.counts is not None else self.unit_counts).add_counts(values, counts)

    @property
    def sketched(self) -> bool:
        return self.sketch is not None

    def add_values(
        self, values: np.ndarray, extremes: tuple[Any, Any] | None = None, ordered: bool = False
    ) -> None:
        """Numbers, one per row: counted exactly, or once sketched, keyed by their bits
        (``extremes``: the block's min and max, if known; ``ordered``: already ascending)."""
        if self.counts is not None:
            self.counts.add_values(values, extremes, ordered)
        else:
            self.unit_rows.append(values)

    def add_rows(self, values: Any, keys: np.ndarray) -> int | None:
        """Text or binary values one per row, with their keys: counted by key (exactly;
        returns how many were distinct), or once sketched, buffered for the sketches."""
        if self.counts is not None:
            return self.counts.add_rows(values, keys)
        self.unit_rows.append(values)
        self.unit_keys.append(keys)
        return None

    def end_unit(self) -> None:
        """The unit is complete (or the column ends): switch to sketches if the counts
        outgrew the threshold, or feed the sketches what the unit brought."""
        if self.counts is not None:
            self._escalate_if_needed()
            return
        if self.unit_rows:
            rows, keys = self.unit_rows, self.unit_keys
            self.unit_rows, self.unit_keys = [], []
            self.sketch.add_rows(
                rows[0] if len(rows) == 1 else _concatenated(rows),
                (keys[0] if len(keys) == 1 else np.concatenate(keys)) if keys else None,
            )
        if self.unit_counts.distinct_upper_bound():
            self.unit_counts.consolidate()
            self.sketch.add_counts(self.unit_counts.values, self.unit_counts.counts)
            self.unit_counts = self.unit_counts.empty_like()

    def merge(self, other: Distribution) -> None:
        self.end_unit()
        other.end_unit()
        if self.counts is not None and other.counts is not None:
            self.counts.merge(other.counts)
            self._escalate_if_needed()
            return
        if self.counts is not None:
            self._to_sketch()
        theirs = other.sketch if other.sketch is not None else _Sketch(other.counts, other.keying, other.config)
        self.sketch.merge(theirs)

    def state(self) -> dict[str, Any]:
        """Exact counts (distinct values and their counts), or the sketches' state."""
        self.end_unit()
        if self.counts is None:
            return {"sketch": self.sketch.state()}
        self.counts.consolidate()
        return {"values": self.counts.values, "counts": self.counts.counts}

    def restore(self, state: dict[str, Any]) -> None:
        """On a fresh, empty distribution: its sketches take their types from the empty counts."""
        if "sketch" in state:
            self._to_sketch()
            self.sketch.restore(state["sketch"])
        else:
            self.counts.add_counts(state["values"], state["counts"])

    def summarize(self, k: int) -> Summary:
        self.end_unit()
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
        sketch = self.sketch
        top_values, top_counts = sketch.frequent.top(k)
        if sketch.quantiles is not None:
            points, weights = sketch.quantiles.sorted_points()
            rank_error = sketch.quantiles.rank_error()
        else:
            points, weights, rank_error = top_values[:0], np.zeros(0, dtype=np.int64), 0.0
        return Summary(
            exact=False,
            distinct_count=sketch.distinct_count(),
            unique_count=None,
            top_values=_as_list(top_values),
            top_counts=[int(c) for c in top_counts],
            points=points,
            weights=weights,
            rank_error=rank_error,
            count_error=sketch.frequent.error,
        )

    def _escalate_if_needed(self) -> None:
        limit = self.config.distinct_threshold
        if self.counts.distinct_upper_bound() <= limit and self.counts.variable_bytes() <= COUNT_BYTES:
            return
        self.counts.consolidate()
        if len(self.counts.values) > limit or self.counts.variable_bytes() > COUNT_BYTES:
            self._to_sketch()

    def _to_sketch(self) -> None:
        self.sketch = _Sketch(self.counts, self.keying, self.config)
        self.counts = None


def _concatenated(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pa.concat_arrays(parts)


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return [v.item() for v in values]
    return values.to_pylist()
