"""Per-column accumulators: fed block by block, mergeable, finalised once.

Each accumulator keeps only per-column state (moments, extremes, a
Distribution), so memory never grows with the number of rows, and
``a.merge(b)`` gives the stats of the concatenated data.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import StatsConfig
from . import histogram
from .columns import Kind, kind_of
from .counts import ArrowCounts, NumpyCounts
from .distribution import Distribution, Summary
from .hll import HyperLogLog

_DECIMAL_CONTEXT = decimal.Context(prec=120)


def frequency_keys(k: int) -> list[str]:
    """Buckaroo's names for the k most frequent values: most_freq, 2nd_freq, ..."""
    suffix = {2: "nd", 3: "rd"}
    return ["most_freq"] + [f"{i}{suffix.get(i, 'th')}_freq" for i in range(2, k + 1)]


class ColumnAccumulator:
    """Counts rows and nulls; subclasses add what their type supports."""

    def __init__(self, arrow_type: pa.DataType, config: StatsConfig) -> None:
        self.type = arrow_type
        self.config = config
        self.length = 0
        self.null_count = 0

    def update(self, array: pa.Array) -> None:
        self.length += len(array)
        self.null_count += array.null_count
        self._update(array)

    def _update(self, array: pa.Array) -> None:
        """Nested and null columns: counts only."""

    def merge(self, other: ColumnAccumulator) -> None:
        self.length += other.length
        self.null_count += other.null_count

    def _merge_extremes(self, other: ColumnAccumulator) -> None:
        for bound, pick in (("min", min), ("max", max)):
            mine, theirs = getattr(self, bound), getattr(other, bound)
            setattr(self, bound, theirs if mine is None else mine if theirs is None else pick(mine, theirs))

    def result(self) -> dict[str, Any]:
        stats = _empty_stats(self.config)
        stats.update(length=self.length, null_count=self.null_count)
        stats["non_null_count"] = self.length - self.null_count
        if self.length and self.null_count == self.length:
            stats["histogram"] = histogram.categorical_histogram([], [], 0, 0, self.length, 1.0)
        return stats

    def _with_summary(self, stats: dict[str, Any], summary: Summary) -> None:
        """Fill the count-derived stats shared by every value-bearing type."""
        stats.update(
            distinct_count=summary.distinct_count,
            distinct_count_exact=summary.exact,
            unique_count=summary.unique_count,
        )
        keys = frequency_keys(self.config.top_k)
        for key, value in zip(keys, summary.top_values, strict=False):
            stats[key] = value
        if not summary.exact:
            stats["approximate"] = ["distinct_count", "unique_count", *keys, "median", "histogram"]

    def _categorical(self, stats: dict[str, Any], summary: Summary, names: list[str]) -> list[dict]:
        top = self.config.categorical_histogram_top
        non_null = self.length - self.null_count
        counts = summary.top_counts[:top]
        return histogram.categorical_histogram(
            names[:top],
            counts,
            non_null - sum(counts),
            summary.unique_count,
            self.length,
            self.null_count / self.length if self.length else 0.0,
        )

    def _top_needed(self) -> int:
        return max(self.config.top_k, self.config.categorical_histogram_top)


class NumberAccumulator(ColumnAccumulator):
    """Ints, uints, floats and temporal ticks, all as numpy arrays."""

    def __init__(self, arrow_type: pa.DataType, config: StatsConfig) -> None:
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
        self.distribution = Distribution(NumpyCounts(self.dtype), HyperLogLog.add_numbers, config)
        self.min: Any = None
        self.max: Any = None
        self.n = 0  # finite values in the moments
        self.total: int | float = 0
        self.m2 = 0.0  # floats: centred second moment
        self.square_total = 0  # integers: exact sum of squares
        self.pos_inf = 0
        self.neg_inf = 0

    def _update(self, array: pa.Array) -> None:
        values = self._numpy_values(array)
        if len(values) == 0:
            return
        lo, hi = values.min(), values.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        if not self.temporal:
            self._add_moments(values, lo, hi)
        self.distribution.add_values(values)

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
        n = len(values)
        if self.is_float:
            with np.errstate(over="ignore", invalid="ignore"):  # near-max floats overflow as in pandas
                total = float(values.sum())
                centred = values - total / n
                self._merge_moments(n, total, float((centred * centred).sum()))
        else:
            # Integers keep exact power sums, so mean and std do not depend on
            # how the rows were split or merged.
            bound = max(abs(int(lo)), abs(int(hi)))
            self.n += n
            self.total += exact_sum(values, bound)
            self.square_total += exact_square_sum(values, bound)

    def _merge_moments(self, n: int, total: float, m2: float) -> None:
        """Chan et al.'s pairwise update of (count, sum, centred second moment)."""
        if self.n == 0:
            self.n, self.total, self.m2 = n, total, m2
            return
        delta = total / n - self.total / self.n
        combined = self.n + n
        self.m2 += m2 + delta * delta * self.n * n / combined
        self.n = combined
        self.total += total

    def merge(self, other: NumberAccumulator) -> None:
        super().merge(other)
        self._merge_extremes(other)
        if self.is_float:
            if other.n:
                self._merge_moments(other.n, other.total, other.m2)
        else:
            self.n += other.n
            self.total += other.total
            self.square_total += other.square_total
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        self.distribution.merge(other.distribution)

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
            names = [str(self._typed(v)) for v in summary.top_values]
            stats["histogram"] = self._categorical(stats, summary, names)
            return stats
        stats.update(self._moments())
        cumulative = np.cumsum(summary.weights)
        stats["median"] = histogram.median(summary.points, cumulative)
        null_fraction = self.null_count / self.length
        numeric, bins = histogram.numeric_histogram(
            summary.points, summary.weights, self.config.histogram_bins, null_fraction
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
        mean = self.total / self.n  # int / int is correctly rounded: exact for integers
        if self.n < 2:
            std = None
        elif self.is_float:
            std = math.sqrt(self.m2 / (self.n - 1))
        else:
            spread = self.n * self.square_total - self.total * self.total
            std = math.sqrt(Fraction(spread, self.n * (self.n - 1)))
        total = self.total if not self.is_float else float(self.total)
        return {"mean": float(mean), "std": std, "sum": total}

    def _typed(self, value: Any) -> Any:
        """numpy scalars to Python values; temporal ticks to datetimes and friends."""
        if isinstance(value, np.generic):
            value = value.item()
        if not self.temporal:
            return value
        return temporal_value(int(value), self.value_type)


_CHUNK = 1 << 16  # int64 sums of 2**16 products below 2**46 cannot overflow
_LIMB = 21


def exact_sum(values: np.ndarray, bound: int | None = None) -> int:
    """Sum of int64/uint64 values as a Python int, never wrapping around.

    ``bound``, when given, is the largest absolute value: small enough, the
    plain int64 sum cannot overflow and one pass does.
    """
    if bound is not None and bound * len(values) < 2**63:
        return int(values.sum(dtype=np.int64))
    kind = values.dtype.type
    total = 0
    for start in range(0, len(values), _CHUNK):  # 2**16 halves of 32 bits fit in 64
        chunk = values[start : start + _CHUNK]
        high = chunk >> kind(32)
        low = chunk & kind(0xFFFFFFFF)
        total += (int(high.sum(dtype=high.dtype)) << 32) + int(low.sum(dtype=low.dtype))
    return total


def exact_square_sum(values: np.ndarray, bound: int | None = None) -> int:
    """Sum of squares as a Python int, via 21-bit limbs whose products fit int64."""
    if bound is not None and bound * bound * len(values) < 2**63:
        small = values.astype(np.int64, copy=False)
        return int(np.dot(small, small))
    total = 0
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        if chunk.min() > -(1 << 23) and chunk.max() < (1 << 23):
            small = chunk.astype(np.int64)
            total += int(np.dot(small, small))
            continue
        mask = chunk.dtype.type((1 << _LIMB) - 1)
        c = (chunk & mask).astype(np.int64)
        b = ((chunk >> chunk.dtype.type(_LIMB)) & mask).astype(np.int64)
        a = (chunk >> chunk.dtype.type(2 * _LIMB)).astype(np.int64)
        total += (
            (int(np.dot(a, a)) << (4 * _LIMB))
            + (2 * int(np.dot(a, b)) << (3 * _LIMB))
            + ((2 * int(np.dot(a, c)) + int(np.dot(b, b))) << (2 * _LIMB))
            + (2 * int(np.dot(b, c)) << _LIMB)
            + int(np.dot(c, c))
        )
    return total


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


class BoolAccumulator(ColumnAccumulator):
    def __init__(self, arrow_type: pa.DataType, config: StatsConfig) -> None:
        super().__init__(arrow_type, config)
        self.trues = 0

    def _update(self, array: pa.Array) -> None:
        self.trues += int(pc.sum(array).as_py() or 0)

    def merge(self, other: BoolAccumulator) -> None:
        super().merge(other)
        self.trues += other.trues

    def result(self) -> dict[str, Any]:
        stats = super().result()
        falses = self.length - self.null_count - self.trues
        if falses + self.trues == 0:
            return stats
        present = [(c, v) for v, c in ((False, falses), (True, self.trues)) if c]
        ranked = sorted(present, key=lambda cv: (-cv[0], cv[1]))
        summary = Summary(
            exact=True,
            distinct_count=len(ranked),
            unique_count=sum(1 for c, _ in ranked if c == 1),
            top_values=[v for _, v in ranked],
            top_counts=[c for c, _ in ranked],
            points=None,
            weights=np.zeros(0),
        )
        self._with_summary(stats, summary)
        stats["min"], stats["max"] = min(v for _, v in ranked), max(v for _, v in ranked)
        stats["histogram"] = self._categorical(stats, summary, [str(v) for v in summary.top_values])
        return stats


class BinaryLikeAccumulator(ColumnAccumulator):
    """Strings, binary, fixed-size binary and decimals, counted with Arrow kernels."""

    def __init__(self, arrow_type: pa.DataType, config: StatsConfig) -> None:
        super().__init__(arrow_type, config)
        value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
        self.value_type = value_type
        self.is_decimal = pa.types.is_decimal(value_type)
        self.has_empty = not (self.is_decimal or pa.types.is_fixed_size_binary(value_type))
        unified = ArrowCounts.of_block(pa.array([], type=value_type))[0].type
        self.distribution = Distribution(ArrowCounts(unified), _sketch_adder(unified), config)
        self.min: Any = None
        self.max: Any = None
        self.empty_count = 0
        self.total = decimal.Decimal(0)

    def _update(self, array: pa.Array) -> None:
        values, counts = ArrowCounts.of_block(array)
        if len(values) == 0:
            return
        lo, hi = _min_max(values)
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        if self.has_empty:
            empty = pc.equal(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
            self.empty_count += int(counts[empty].sum())
        if self.is_decimal:
            with decimal.localcontext(_DECIMAL_CONTEXT):
                self.total += sum(
                    (v * int(c) for v, c in zip(values.to_pylist(), counts, strict=True)),
                    decimal.Decimal(0),
                )
        self.distribution.add_counts(values, counts)

    def merge(self, other: BinaryLikeAccumulator) -> None:
        super().merge(other)
        self._merge_extremes(other)
        self.empty_count += other.empty_count
        with decimal.localcontext(_DECIMAL_CONTEXT):
            self.total += other.total
        self.distribution.merge(other.distribution)

    def result(self) -> dict[str, Any]:
        stats = super().result()
        if self.has_empty:
            stats["empty_count"] = self.empty_count
        if self.min is None:
            return stats
        summary = self.distribution.summarize(self._top_needed())
        self._with_summary(stats, summary)
        stats["min"], stats["max"] = self.min, self.max
        if self.is_decimal:
            non_null = self.length - self.null_count
            with decimal.localcontext(_DECIMAL_CONTEXT):
                stats["sum"] = self.total
                stats["mean"] = self.total / non_null
        stats["histogram"] = self._categorical(stats, summary, [str(v) for v in summary.top_values])
        return stats


def _min_max(values: pa.Array) -> tuple[Any, Any]:
    try:
        result = pc.min_max(values)
        return result["min"].as_py(), result["max"].as_py()
    except pa.ArrowNotImplementedError:
        python_values = values.to_pylist()
        return min(python_values), max(python_values)


def _sketch_adder(t: pa.DataType):
    if pa.types.is_decimal(t) or pa.types.is_fixed_size_binary(t):
        return HyperLogLog.add_fixed_size_bytes
    return HyperLogLog.add_binary_like


def _empty_stats(config: StatsConfig) -> dict[str, Any]:
    stats: dict[str, Any] = dict.fromkeys(
        (
            "length",
            "null_count",
            "non_null_count",
            "distinct_count",
            "distinct_count_exact",
            "unique_count",
            "empty_count",
            "min",
            "max",
            "mean",
            "std",
            "median",
            "sum",
        )
    )
    stats.update(dict.fromkeys(frequency_keys(config.top_k)))
    stats.update(histogram=[], histogram_bins=[])
    return stats


def accumulator_for(arrow_type: pa.DataType, config: StatsConfig) -> ColumnAccumulator:
    kind = kind_of(arrow_type)
    if kind in (Kind.NUMBER, Kind.TEMPORAL):
        return NumberAccumulator(arrow_type, config)
    if kind is Kind.BOOL:
        return BoolAccumulator(arrow_type, config)
    if kind is Kind.BINARY_LIKE:
        return BinaryLikeAccumulator(arrow_type, config)
    return ColumnAccumulator(arrow_type, config)
