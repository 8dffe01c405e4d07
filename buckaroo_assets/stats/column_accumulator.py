"""The base of every per-column accumulator: fed block by block, mergeable, finalised once.

An accumulator keeps only per-column state (counts, moments, extremes, a
Distribution), so memory never grows with the number of rows, and
``a.merge(b)`` gives the stats of the concatenated data.

Whatever size the blocks come in, an accumulator sees a column as units of
``UNIT_ROWS`` rows (fewer where text or binary values reach ``UNIT_BYTES``):
the few steps that depend on how rows are grouped (when counting gives way to
sketches, what each sketch update holds) happen only at unit ends, so the
stats are the same for every block size.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import histogram
from .counts import unify, value_offsets
from .distribution import Distribution, Summary
from .settings import StatsSettings

UNIT_ROWS = 65_536
# A unit of text or binary also ends at the row where its values reach this many bytes:
# the rows of a unit are buffered once sketched, and cells of 10 KB would make
# a unit of rows 650 MB.
UNIT_BYTES = 64 << 20


@functools.cache
def frequency_keys(k: int) -> tuple[str, ...]:
    """Buckaroo's names for the k most frequent values: most_freq, 2nd_freq, ...
    (asked for by every column, three times: made once)."""
    suffix = {2: "nd", 3: "rd"}
    return ("most_freq", *(f"{i}{suffix.get(i, 'th')}_freq" for i in range(2, k + 1)))


class ColumnAccumulator:
    """Counts rows and nulls; subclasses add what their type supports."""

    counts_values = False  # whether distinct values are counted (not for nested or skipped columns)

    def __init__(self, arrow_type: pa.DataType, config: StatsSettings) -> None:
        self.type = arrow_type
        self.config = config
        self.length = 0
        self.null_count = 0
        self.distribution: Distribution | None = None  # for the types whose values are counted
        self.unit_length = 0  # rows, and bytes of values, of the unit in progress
        self.unit_bytes = 0

    def update(self, array: pa.Array) -> None:
        if isinstance(array, pa.DictionaryArray):
            array = plain_dictionary(array)
        start = 0
        while start < len(array):
            take = min(UNIT_ROWS - self.unit_length, len(array) - start)
            take, size = unit_cut(array, start, take, UNIT_BYTES - self.unit_bytes)
            piece = array if start == 0 and take == len(array) else array.slice(start, take)
            start += take
            self.length += take
            self.null_count += piece.null_count
            self.unit_length += take
            self.unit_bytes += size
            self._update(piece)
            if self.unit_length == UNIT_ROWS or self.unit_bytes >= UNIT_BYTES:
                self.unit_length = self.unit_bytes = 0
                if self.distribution is not None:
                    self.distribution.end_unit()

    def _update(self, array: pa.Array) -> None:
        """Nested and null columns: counts only."""

    def merge(self, other: ColumnAccumulator) -> None:
        self.length += other.length
        self.null_count += other.null_count

    def state(self) -> dict[str, Any]:
        """What ``merge`` needs, as plain values, numpy and Arrow arrays: partial stats travel as it."""
        return {"length": self.length, "null_count": self.null_count}

    def restore(self, state: dict[str, Any]) -> None:
        """Become the accumulator ``state()`` described; called on a fresh one of the same type."""
        self.length, self.null_count = state["length"], state["null_count"]

    def _merge_extremes(self, other: ColumnAccumulator) -> None:
        for bound, pick in (("min", min), ("max", max)):
            mine, theirs = getattr(self, bound), getattr(other, bound)
            setattr(self, bound, theirs if mine is None else mine if theirs is None else pick(mine, theirs))

    def result(self) -> dict[str, Any]:
        stats = empty_stats(self.config)
        stats.update(length=self.length, null_count=self.null_count)
        stats["non_null_count"] = self.length - self.null_count
        if self.counts_values and self.null_count == self.length:
            # No values, so none distinct (as pandas' nunique says), exactly.
            stats.update(distinct_count=0, distinct_count_exact=True, unique_count=0)
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
            # The bounds the sketches guarantee: any quantile's rank (as a fraction of the
            # rows) and how many rows any frequent value's count may fall short by.
            stats["sketch_error"] = {"rank": summary.rank_error, "count": summary.count_error}

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


def unit_cut(array: pa.Array, start: int, take: int, room: int) -> tuple[int, int]:
    """How many of the ``take`` rows from ``start`` stay in a unit with ``room`` bytes left,
    and their bytes: the unit ends with the row that fills it. Only values held in one
    data buffer (text, binary) count; a row is the smallest step, so a unit is never empty."""
    ends = value_offsets(array, start, take)
    if ends is None:
        return take, 0
    size = int(ends[-1] - ends[0])
    if size < room:
        return take, size
    rows = int(np.searchsorted(ends[1:] - ends[0], room, side="left")) + 1
    return rows, int(ends[rows] - ends[0])


def plain_dictionary(array: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same rows with every null in the indices and no view-typed dictionary.

    A null inside the dictionary is a null row (``is_null`` and pandas say so)
    but not in ``null_count``, and Arrow has no kernel to take from a
    dictionary of string or binary views.
    """
    indices, dictionary = array.indices, array.dictionary
    if dictionary.null_count:
        indices = pc.if_else(pc.is_null(array), pa.scalar(None, indices.type), indices)
    if pa.types.is_string_view(dictionary.type) or pa.types.is_binary_view(dictionary.type):
        dictionary = unify(dictionary)
    if indices is array.indices and dictionary is array.dictionary:
        return array
    return pa.DictionaryArray.from_arrays(indices, dictionary, ordered=array.type.ordered)


def empty_stats(config: StatsSettings) -> dict[str, Any]:
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


class NullAccumulator(ColumnAccumulator):
    """A column of Arrow's null type: every row is null, so no value is distinct."""

    counts_values = True
