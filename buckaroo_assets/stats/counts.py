"""Exact value -> count tables that grow by blocks and merge.

Two representations share one interface: numbers live in sorted numpy arrays
(fast radix/merge sorts), everything else (strings, binary, decimals) in Arrow
arrays grouped with Arrow's hash kernels (text and binary, by their own hashes
first: ``hashed_counts``). Block results are buffered and folded
in only once the buffer is as large as the table itself, so the cost of
keeping counts exact stays proportional to the data, not to rows x distinct.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .frequent import sorted_counts
from .shared_arrays import all_ones


class NumpyCounts:
    """Sorted distinct values with their counts, for ints, floats and time ticks."""

    def __init__(self, dtype: np.dtype) -> None:
        self.values = np.zeros(0, dtype=dtype)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        # Integers in a compact range are counted in place, table[v - base],
        # which needs no sorting and knows its distinct count at every block.
        self._table: np.ndarray | None = None
        self._base = 0
        self._table_distinct = 0

    @staticmethod
    def of_block(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values and counts of one block (nulls already removed)."""
        if len(values) == 0:
            return values, np.zeros(0, dtype=np.int64)
        dense = _dense_block(values)
        if dense is not None:
            return _present(dense[1], values.dtype.type(dense[0]))
        return sorted_counts(np.sort(values))

    def empty_like(self) -> NumpyCounts:
        return NumpyCounts(self.values.dtype)

    def add_values(
        self, values: np.ndarray, extremes: tuple[Any, Any] | None = None, ordered: bool = False
    ) -> None:
        """Count one block of values (nulls already removed); ``extremes``, the block's
        min and max when the caller knows them already; ``ordered``, already ascending."""
        if len(values) == 0:
            return
        dense = _dense_block(values, extremes)
        if dense is None:
            self.add_counts(*sorted_counts(values if ordered else np.sort(values)))
        elif not self._into_table(*dense):
            self.add_counts(*_present(dense[1], values.dtype.type(dense[0])))

    def _into_table(self, block_lo: int, block: np.ndarray) -> bool:
        """Add a block's dense counts to the table, if the table stays compact."""
        if self._table is None and (len(self.values) or self._pending):
            return False
        lo, hi = block_lo, block_lo + len(block) - 1
        if self._table is not None:
            lo, hi = min(lo, self._base), max(hi, self._base + len(self._table) - 1)
        if not _dense_enough(lo, hi, self._table_distinct + int(np.count_nonzero(block))):
            self.consolidate()  # leaves the table for sorted arrays
            return False
        if self._table is None or lo != self._base or hi - lo + 1 != len(self._table):
            table = np.zeros(hi - lo + 1, dtype=np.int64)
            if self._table is not None:
                table[self._base - lo : self._base - lo + len(self._table)] = self._table
            self._table, self._base = table, lo
        self._table[block_lo - lo : block_lo - lo + len(block)] += block
        self._table_distinct = int(np.count_nonzero(self._table))
        return True

    def add_counts(self, values: np.ndarray, counts: np.ndarray) -> None:
        """Fold in counts of sorted, distinct values (as ``of_block`` returns them)."""
        self._pending.append((values, counts))
        self._pending_rows += len(values)
        if self._pending_rows >= max(len(self.values), 65_536):
            self.consolidate()

    def consolidate(self) -> None:
        if self._table is not None:
            self.values, self.counts = _present(self._table, self.values.dtype.type(self._base))
            self._table, self._table_distinct = None, 0
        if not self._pending:
            return
        parts = [(v, c) for v, c in [(self.values, self.counts), *self._pending] if len(v)]
        self._pending, self._pending_rows = [], 0
        if parts and parts[0][0].dtype.kind in "iu":
            # Every part is sorted and duplicate-free: its ends are its extremes,
            # and scattered adds into a dense table never collide within a part.
            lo, hi = min(int(v[0]) for v, _ in parts), max(int(v[-1]) for v, _ in parts)
            if _dense_enough(lo, hi, sum(len(v) for v, _ in parts)):
                base = parts[0][0].dtype.type(lo)
                dense = np.zeros(hi - lo + 1, dtype=np.int64)
                for v, c in parts:
                    dense[(v - base).astype(np.intp)] += c
                self.values, self.counts = _present(dense, base)
                return
        if not parts:
            return
        if len(parts) == 1:  # already sorted and distinct
            self.values, self.counts = parts[0]
            return
        values = np.concatenate([v for v, _ in parts])
        counts = np.concatenate([c for _, c in parts])
        order = np.argsort(values, kind="stable")
        values, counts = values[order], counts[order]
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        if len(starts) == len(values):  # no value repeats across the parts
            self.values, self.counts = values, counts
        else:
            self.values, self.counts = values[starts], np.add.reduceat(counts, starts)

    def merge(self, other: NumpyCounts) -> None:
        other.consolidate()
        self.add_counts(other.values, other.counts)

    def distinct_upper_bound(self) -> int:
        return self._table_distinct + len(self.values) + self._pending_rows

    def variable_bytes(self) -> int:
        """0: numbers have a fixed width, so the distinct threshold bounds their memory."""
        return 0

    def ranked(self, k: int) -> tuple[list[Any], np.ndarray]:
        """Top-k values by count, ties broken by ascending value."""
        self.consolidate()
        counts = self.counts
        if 0 < k < len(counts) and all_ones(counts):  # all distinct: the k smallest values
            return self.values[:k].tolist(), counts[:k]
        if 0 < k < len(counts):
            # Only counts above the k-th largest, and the first (smallest) values that
            # equal it, can rank: values are ascending, so ties go by position.
            floor = np.partition(counts, len(counts) - k)[len(counts) - k]
            above = np.flatnonzero(counts > floor)
            tied = np.flatnonzero(counts == floor)[: k - len(above)]
            candidates = np.sort(np.concatenate([above, tied]))
        else:
            candidates = np.arange(len(counts))
        order = candidates[np.argsort(-counts[candidates], kind="stable")[:k]]
        return self.values[order].tolist(), counts[order]


def _dense_enough(lo: int, hi: int, n: int) -> bool:
    """A table of hi - lo + 1 counters costs no more than sorting n values."""
    return hi - lo < 4 * n + 1024


def _dense_block(
    values: np.ndarray, extremes: tuple[Any, Any] | None = None
) -> tuple[int, np.ndarray] | None:
    """(lo, counts of lo, lo + 1, ..., hi) for an integer block of compact range, else None."""
    if values.dtype.kind not in "iu":
        return None
    lo, hi = (int(values.min()), int(values.max())) if extremes is None else map(int, extremes)
    if not _dense_enough(lo, hi, len(values)):
        return None
    offsets = (values - values.dtype.type(lo)).astype(np.intp, copy=False)
    return lo, np.bincount(offsets, minlength=hi - lo + 1)


def _present(dense: np.ndarray, base: np.generic) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero entries of a dense count table, as sorted values and counts."""
    present = np.flatnonzero(dense)
    # Offsets are added in the column's own dtype: base may exceed int64 (uint64).
    return present.astype(base.dtype) + base, dense[present].astype(np.int64)


class ArrowCounts:
    """Distinct values with their counts for strings, binary and decimals."""

    def __init__(self, value_type: pa.DataType) -> None:
        self.values = pa.array([], type=value_type)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[pa.Array, np.ndarray]] = []
        self._pending_rows = 0

    @staticmethod
    def of_block(array: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Distinct non-null values and counts of one block."""
        if isinstance(array, pa.DictionaryArray):
            indices = array.indices.drop_null().to_numpy()
            dense = np.bincount(indices, minlength=len(array.dictionary))
            present = np.flatnonzero(dense)
            values = array.dictionary.take(pa.array(present, type=pa.int64()))
            return unify(values), dense[present].astype(np.int64)
        if pa.types.is_string_view(array.type) or pa.types.is_binary_view(array.type):
            array = unify(array)  # few kernels accept view types yet
        result = pc.value_counts(array.drop_null())
        return unify(result.field(0)), result.field(1).to_numpy().astype(np.int64)

    def empty_like(self) -> ArrowCounts:
        return ArrowCounts(self.values.type)

    def add_counts(self, values: pa.Array, counts: np.ndarray) -> None:
        self._pending.append((values, counts))
        self._pending_rows += len(values)
        if self._pending_rows >= max(len(self.values), 65_536):
            self.consolidate()

    def consolidate(self) -> None:
        if not self._pending:
            return
        values = pa.concat_arrays([self.values, *(v for v, _ in self._pending)])
        counts = np.concatenate([self.counts, *(c for _, c in self._pending)])
        self._pending, self._pending_rows = [], 0
        # One hash pass gives each distinct value an index; the counts add up by index.
        # (A group-by with a sum aggregate costs about twenty times more on strings.)
        encoded = values.dictionary_encode()
        indices = encoded.indices.to_numpy()
        summed = np.bincount(indices, weights=counts, minlength=len(encoded.dictionary))
        self.values = encoded.dictionary
        self.counts = summed.astype(np.int64)

    def merge(self, other: ArrowCounts) -> None:
        other.consolidate()
        self.add_counts(other.values, other.counts)

    def distinct_upper_bound(self) -> int:
        return len(self.values) + self._pending_rows

    def variable_bytes(self) -> int:
        """Bytes of the distinct values held, blocks not yet folded in included (so an
        upper bound until ``consolidate``): text and binary cells can be of any size."""
        return sum(_data_bytes(v) for v in [self.values, *(v for v, _ in self._pending)])

    def ranked(self, k: int) -> tuple[list[Any], np.ndarray]:
        """Top-k values by count, ties broken by ascending value."""
        self.consolidate()
        table = pa.table({"v": self.values, "c": self.counts})
        order = pc.sort_indices(table, sort_keys=[("c", "descending"), ("v", "ascending")])
        order = order[:k]
        return table.column("v").take(order).to_pylist(), self.counts[order.to_numpy()]


def value_offsets(array: pa.Array, start: int, rows: int) -> np.ndarray | None:
    """Where the values of rows ``start`` to ``start + rows`` of a text or binary array
    begin and end, in bytes (None for other types): the array's own offsets where it has
    them, not copied."""
    t = array.type
    if pa.types.is_string(t) or pa.types.is_binary(t):
        width = np.dtype(np.int32)
    elif pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        width = np.dtype(np.int64)
    elif pa.types.is_string_view(t) or pa.types.is_binary_view(t):  # views have no offsets
        return value_offsets(unify(array.slice(start, rows)), 0, rows)
    elif pa.types.is_fixed_size_binary(t):
        return np.arange(rows + 1, dtype=np.int64) * t.byte_width
    else:
        return None
    first = (array.offset + start) * width.itemsize
    return np.frombuffer(array.buffers()[1], dtype=width, count=rows + 1, offset=first)


def _data_bytes(values: pa.Array) -> int:
    if not len(values):
        return 0
    ends = value_offsets(values, 0, len(values))
    if ends is None:  # decimals
        return len(values) * values.type.byte_width
    return int(ends[-1] - ends[0])


def unify(values: pa.Array) -> pa.Array:
    """Plain (non-dictionary, non-view, large-offset) values so blocks concatenate."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if pa.types.is_string(t) or pa.types.is_string_view(t):
        return values.cast(pa.large_string())
    if pa.types.is_binary(t) or pa.types.is_binary_view(t):
        return values.cast(pa.large_binary())
    return values
