"""Strings, binary and decimals: counted by value with Arrow kernels, sketched past the threshold."""

from __future__ import annotations

import decimal
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .column_accumulator import ColumnAccumulator
from .counts import ArrowCounts, unify
from .distribution import Distribution, Keying
from .hashed_counts import HashedCounts
from .hashing import binary_hashes, hash_fixed_size_bytes, hashes_and_bounds
from .hll import HyperLogLog
from .settings import StatsSettings

_DECIMAL_CONTEXT = decimal.Context(prec=120)


class BinaryLikeAccumulator(ColumnAccumulator):
    """Strings, binary, fixed-size binary and decimals: text and binary counted by hash
    (each group checked byte for byte) or, where blocks repeat, with Arrow kernels."""

    counts_values = True

    def __init__(self, arrow_type: pa.DataType, config: StatsSettings) -> None:
        super().__init__(arrow_type, config)
        value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
        # decimal32/64 have few kernels yet: they are summarised as the decimal128 they equal.
        self.widened = _wide_decimal(value_type)
        value_type = self.widened or value_type
        self.value_type = value_type
        self.is_decimal = pa.types.is_decimal(value_type)
        self.has_empty = not (self.is_decimal or pa.types.is_fixed_size_binary(value_type))
        unified = ArrowCounts.of_block(pa.array([], type=value_type))[0].type
        counts = HashedCounts(unified) if self.has_empty else ArrowCounts(unified)
        self.distribution = Distribution(counts, _keying(unified), config)
        # Whether the last block counted exactly had at most half as many distinct
        # values as rows (nulls included, in either path): then grouped by value.
        self.repeats = False
        # Ordered categoricals compare by category order, not by code point.
        self.order = CategoryOrder() if pa.types.is_dictionary(arrow_type) and arrow_type.ordered else None
        self.min: Any = None
        self.max: Any = None
        self.empty_count = 0
        self.total = decimal.Decimal(0)

    def _update(self, array: pa.Array) -> None:
        if self.widened is not None:
            array = array.cast(self.widened)
        if not (self.is_decimal or self.order) and (
            self.distribution.sketched
            or (self.has_empty and not self.repeats and not isinstance(array, pa.DictionaryArray))
        ):
            self._update_rows(array)
            return
        # Dictionary indices, decimals, ordered categoricals and text that repeats:
        # counted by value. (Arrow groups a block of text by value faster than its rows
        # are hashed and sorted, unless more than half its values are distinct.)
        values, counts = ArrowCounts.of_block(array)
        self.repeats = 2 * len(values) <= len(array)
        if len(values) == 0:
            return
        lo, hi = self.order.extremes(array, values) if self.order else _min_max(values)
        self._extend(lo, hi)
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

    def _update_rows(self, array: pa.Array) -> None:
        """Values keyed row by row, never grouped by value: text and binary are hashed,
        bounded and checked for emptiness in one pass, then counted by hash (exactly)
        or, past the threshold, sketched."""
        if isinstance(array, pa.DictionaryArray):
            array = array.dictionary_decode()
        values = unify(array)  # views first: few kernels take them yet
        values = values.drop_null() if values.null_count else values
        if len(values) == 0:
            return
        if self.has_empty:
            keys, lowest, highest, empties = hashes_and_bounds(values)
            self._extend(values[lowest].as_py(), values[highest].as_py())
            self.empty_count += empties
        else:  # fixed-size binary: hashed by words, never empty
            keys = self.distribution.keying.keys(values)
            self._extend(*_min_max(values))
        distinct = self.distribution.add_rows(values, keys)
        if distinct is not None:
            self.repeats = 2 * distinct <= len(array)

    def _extend(self, lo: Any, hi: Any) -> None:
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def merge(self, other: BinaryLikeAccumulator) -> None:
        super().merge(other)
        self._merge_extremes(other)
        self.empty_count += other.empty_count
        with decimal.localcontext(_DECIMAL_CONTEXT):
            self.total += other.total
        self.distribution.merge(other.distribution)

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "min": self.min,
            "max": self.max,
            "empty_count": self.empty_count,
            "total": self.total,
            "distribution": self.distribution.state(),
            "categories": None if self.order is None else self.order.categories,
        }

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.min, self.max = state["min"], state["max"]
        self.empty_count, self.total = state["empty_count"], state["total"]
        self.distribution.restore(state["distribution"])
        if self.order is not None:
            self.order.categories = state["categories"]

    def result(self) -> dict[str, Any]:
        stats = super().result()
        if self.has_empty:
            stats["empty_count"] = self.empty_count
        if self.min is None:
            return stats
        summary = self.distribution.summarize(self._top_needed())
        self._with_summary(stats, summary)
        stats["min"], stats["max"] = self.min, self.max
        if self.order:
            stats["min"], stats["max"] = self.min[1], self.max[1]  # (category rank, value)
        if self.is_decimal:
            non_null = self.length - self.null_count
            with decimal.localcontext(_DECIMAL_CONTEXT):
                stats["sum"] = self.total
                stats["mean"] = self.total / non_null
        stats["histogram"] = self._categorical(stats, summary, [str(v) for v in summary.top_values])
        return stats


class CategoryOrder:
    """Ranks of an ordered categorical's values, in the order its categories were declared.

    Blocks normally share one dictionary; values of a block whose dictionary
    differs and that were never seen are ranked after all known categories.
    """

    def __init__(self) -> None:
        self.categories: pa.Array | None = None

    def extremes(
        self, block: pa.DictionaryArray, values: pa.Array
    ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        """(rank, value) of the lowest and highest of a block's present ``values``."""
        if self.categories is None:
            self.categories = block.dictionary.cast(values.type)
        ranks = pc.index_in(values, value_set=self.categories)
        if ranks.null_count:
            unseen = pc.filter(values, pc.is_null(ranks))
            self.categories = pa.concat_arrays([self.categories, unseen])
            ranks = pc.index_in(values, value_set=self.categories)
        ranks = ranks.to_numpy()
        lo, hi = int(ranks.argmin()), int(ranks.argmax())
        return (int(ranks[lo]), values[lo].as_py()), (int(ranks[hi]), values[hi].as_py())


def _wide_decimal(t: pa.DataType) -> pa.DataType | None:
    if pa.types.is_decimal(t) and t.bit_width < 128:
        return pa.decimal128(t.precision, t.scale)
    return None


def _min_max(values: pa.Array) -> tuple[Any, Any]:
    try:
        result = pc.min_max(values)
        return result["min"].as_py(), result["max"].as_py()
    except pa.ArrowNotImplementedError:
        python_values = values.to_pylist()
        return min(python_values), max(python_values)


def _keying(t: pa.DataType) -> Keying:
    """Values are keyed by a 64-bit hash of their bytes, computed once per distinct value."""
    if pa.types.is_decimal(t) or pa.types.is_fixed_size_binary(t):
        keys = partial(_fixed_size_keys, width=t.byte_width)
    else:
        keys = binary_hashes
    return Keying(keys=keys, add_to_hll=_add_hashes, keys_are_values=False)


def _fixed_size_keys(values: pa.Array, width: int) -> np.ndarray:
    return hash_fixed_size_bytes(values, width)


def _add_hashes(hll: HyperLogLog, values: pa.Array, keys: np.ndarray) -> None:
    hll.add_hashes(keys)
