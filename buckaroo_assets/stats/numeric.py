"""Ints, uints, floats and temporal columns: exact moments, extremes and a Distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from ..units import text_of
from . import histogram
from .column_accumulator import ColumnAccumulator, frequency_keys
from .counts import NumpyCounts
from .distribution import Distribution, Keying
from .exact_sums import (
    FLOAT_SQUARE_SCALE,
    FLOAT_SUM_SCALE,
    exact_float_sums,
    exact_square_sum,
    exact_sum,
)
from .kinds import Kind, kind_of
from .settings import StatsSettings
from .shared_arrays import running_total

NUMBER_KEYS = Keying(
    # A number is its own key (-0.0 is folded into 0.0 and NaN removed before).
    keys=lambda values: values,
    add_to_hll=lambda hll, values, keys: hll.add_numbers(values),
    keys_are_values=True,
)


class NumberAccumulator(ColumnAccumulator):
    """Ints, uints, floats and temporal ticks, all as numpy arrays."""

    counts_values = True

    def __init__(self, arrow_type: pa.DataType, config: StatsSettings) -> None:
        super().__init__(arrow_type, config)
        value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
        self.value_type = value_type
        self.temporal = kind_of(value_type) is Kind.TEMPORAL
        self.is_float = pa.types.is_floating(value_type)
        self.dtype = np.dtype(
            np.float64
            if self.is_float
            else np.uint64
            if pa.types.is_unsigned_integer(value_type)
            else np.int64
        )
        self.distribution = Distribution(NumpyCounts(self.dtype), NUMBER_KEYS, config)
        self.min: Any = None
        self.max: Any = None
        self.n = 0  # finite values in the moments
        # Exact sums of the values and of their squares, as integers: floats in units of
        # 2**-1074 and 2**-2148 (the scales below), so no stat depends on the row order.
        self.total = 0
        self.square_total = 0
        self.scale = (FLOAT_SUM_SCALE, FLOAT_SQUARE_SCALE) if self.is_float else (0, 0)
        self.pos_inf = 0
        self.neg_inf = 0

    def _update(self, array: pa.Array) -> None:
        values = self._numpy_values(array)
        if len(values) == 0:
            return
        # Float values are a fresh array here: while they are counted exactly, sorting it in
        # place serves the counts, and gives the extremes (sums do not depend on the order).
        ordered = self.is_float and not self.distribution.sketched
        if ordered:
            values.sort()
            lo, hi = values[0], values[-1]
        else:
            lo, hi = values.min(), values.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        if not self.temporal:
            self._add_moments(values, lo, hi)
        self.distribution.add_values(values, (lo, hi), ordered)

    def _numpy_values(self, array: pa.Array) -> np.ndarray:
        if isinstance(array, pa.DictionaryArray):
            array = array.dictionary_decode()
        if array.null_count:
            array = array.drop_null()
        if self.temporal:
            width = pa.int32() if self.value_type.bit_width == 32 else pa.int64()
            array = array.view(width)
        values = array.to_numpy(zero_copy_only=False)
        if values.dtype != self.dtype:
            values = values.astype(self.dtype)
        if self.is_float:
            nan = np.isnan(values)
            nan_count = int(np.count_nonzero(nan))
            if nan_count:
                self.null_count += nan_count  # pandas counts NaN as missing
                values = values[~nan]
            values = values + 0.0  # fold -0.0 into 0.0 so they count as one value
        return values

    def _add_moments(self, values: np.ndarray, lo: Any, hi: Any) -> None:
        """Fold a block into the moments; lo and hi are the block's extremes."""
        if self.is_float and (np.isinf(lo) or np.isinf(hi)):
            self.pos_inf += int(np.count_nonzero(values == np.inf))
            self.neg_inf += int(np.count_nonzero(values == -np.inf))
            values = values[np.isfinite(values)]
            if len(values) == 0:
                return
        self.n += len(values)
        if self.is_float:
            total, square_total = exact_float_sums(values)
        else:
            bound = max(abs(int(lo)), abs(int(hi)))
            total, square_total = exact_sum(values, bound), exact_square_sum(values, bound)
        self.total += total
        self.square_total += square_total

    def merge(self, other: NumberAccumulator) -> None:
        super().merge(other)
        self._merge_extremes(other)
        self.n += other.n
        self.total += other.total
        self.square_total += other.square_total
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        self.distribution.merge(other.distribution)

    def state(self) -> dict[str, Any]:
        state = super().state()
        state.update(
            extremes=None if self.min is None else np.array([self.min, self.max], dtype=self.dtype),
            pos_inf=self.pos_inf,
            neg_inf=self.neg_inf,
            distribution=self.distribution.state(),
            n=self.n,
            total=self.total,
            square_total=self.square_total,
        )
        return state

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        if state["extremes"] is not None:
            self.min, self.max = state["extremes"][0], state["extremes"][1]
        self.pos_inf, self.neg_inf = state["pos_inf"], state["neg_inf"]
        self.distribution.restore(state["distribution"])
        self.n, self.total, self.square_total = state["n"], state["total"], state["square_total"]

    def result(self) -> dict[str, Any]:
        stats = super().result()
        if self.min is None:
            return stats
        summary = self.distribution.summarize(self._top_needed())
        self._with_summary(stats, summary)
        stats["min"], stats["max"] = self._typed(self.min), self._typed(self.max)
        for key in frequency_keys(self.config.top_k)[: len(summary.top_values)]:
            stats[key] = self._typed(stats[key])
        if self.temporal:
            names = [text_of(self._typed(v)) for v in summary.top_values]
            stats["histogram"] = self._categorical(stats, summary, names)
            return stats
        stats.update(self._moments())
        cumulative = running_total(summary.weights)
        stats["median"] = histogram.median(summary.points, cumulative)
        null_fraction = self.null_count / self.length
        numeric, bins = histogram.numeric_histogram(
            summary.points, cumulative, self.config.histogram_bins, null_fraction
        )
        stats["histogram_bins"] = bins
        names = [str(v) for v in summary.top_values]
        stats["histogram"] = numeric if numeric is not None else self._categorical(stats, summary, names)
        return stats

    def _moments(self) -> dict[str, Any]:
        if self.pos_inf or self.neg_inf:
            infinite = math.inf if not self.neg_inf else -math.inf if not self.pos_inf else math.nan
            return {"mean": infinite, "sum": infinite, "std": math.nan}
        if self.n == 0:
            return {}
        # Exact integers divided once: Python's int / int is correctly rounded.
        sum_scale, square_scale = self.scale
        std = None
        if self.n >= 2:
            spread = self.n * self.square_total - (self.total * self.total << (square_scale - 2 * sum_scale))
            std = _square_root(spread, self.n * (self.n - 1) << square_scale)
        total = self.total if not self.is_float else _quotient(self.total, 1 << sum_scale)
        return {"mean": self.total / (self.n << sum_scale), "std": std, "sum": total}

    def _typed(self, value: Any) -> Any:
        """numpy scalars to Python values; temporal ticks to datetimes and friends."""
        if isinstance(value, np.generic):
            value = value.item()
        if not self.temporal:
            return value
        return temporal_value(int(value), self.value_type)


def _quotient(numerator: int, denominator: int) -> float:
    """The nearest float; infinite past the largest, as a float sum would overflow."""
    try:
        return numerator / denominator
    except OverflowError:
        return math.inf if numerator > 0 else -math.inf


def _square_root(numerator: int, denominator: int) -> float:
    """sqrt of an exact non-negative ratio, to float precision even past float range."""
    try:
        return math.sqrt(numerator / denominator)
    except OverflowError:  # a variance past 1.8e308 can still have a finite root
        return _quotient(math.isqrt((numerator << 128) // denominator), 1 << 64)


def temporal_value(tick: int, t: pa.DataType) -> Any:
    """A Python date/time value when exact, else an Arrow scalar (nanoseconds, far dates)."""
    scalar = pa.scalar(tick, type=t)
    if getattr(t, "unit", None) == "ns":
        if tick % 1000:
            return scalar  # Python's datetime stops at microseconds
        micro = {
            pa.types.is_timestamp: lambda: pa.timestamp("us", tz=t.tz),
            pa.types.is_duration: lambda: pa.duration("us"),
            pa.types.is_time64: lambda: pa.time64("us"),
        }
        coarser = next(make() for test, make in micro.items() if test(t))
        scalar = pa.scalar(tick // 1000, type=coarser)
    try:
        return scalar.as_py()
    except (ValueError, OverflowError):
        return pa.scalar(tick, type=t)
