"""Building a bundle: one streaming pass over any source.

Kept apart from :mod:`buckaroo_assets.bundle` so that readers, which only
load bundles, never import the stats engine, numpy kernels or source readers.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..bundle.columns import column_key
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle, same_label
from ..stats.accumulators import ColumnAccumulator, accumulator_for
from ..stats.distribution import COUNT_BYTES
from ..stats.engine import accumulate, balanced_groups
from ..version import __version__
from .data_id import data_id_for
from .sources import Source, open_source

__all__ = ["BuildProgress", "build_bundle"]


def build_bundle(
    source: Any,
    data_id: str | None = None,
    config: StatsConfig | None = None,
    *,
    storage_options: dict | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
) -> Bundle:
    """Compute a bundle from a frame, table, stream, dataset, file path or URL.

    ``data_id`` defaults to the content identity of ``source`` (see
    ``data_id_for``); a one-shot stream has none, so it must be given.
    ``progress`` is called after every block of rows, from a build thread (one
    call at a time); raising from it (e.g. on cancellation) stops every column
    group at its next block, and the build with nothing returned.

    A column no bundle can hold raises ``UnsupportedColumnError`` naming the
    source, the column's label and position and its type; a file whose bytes
    are damaged, ``UnreadableSourceError`` naming the file.
    """
    config = config or StatsConfig()
    started = time.perf_counter()
    if data_id is None:
        if isinstance(source, pa.RecordBatchReader):
            raise ValueError("a RecordBatchReader can be read only once: pass data_id explicitly")
        data_id = data_id_for(source, storage_options=storage_options)
    validate_data_id(data_id)
    opened = open_source(source, storage_options=storage_options)
    scan = scan_source(opened, config, progress, started)
    meta = {
        "data_id": data_id,
        "config_id": config.config_id,
        "rows": scan.rows,
        "columns": len(opened.schema),
        "column_groups": scan.groups,
        "source_kind": opened.kind,
        "build_seconds": round(time.perf_counter() - started, 6),
        "producer": producer(),
    }
    return Bundle(
        data_id=data_id,
        config=config,
        stats=stats_entries(opened.schema, opened.names, opened.dtypes, opened.notes, config, scan.results),
        first_window=scan.window,
        meta=meta,
    )


@dataclass
class Scan:
    """One pass of the engine over a source: its rows, first window and per-column outcome."""

    rows: int
    window: pa.Table
    groups: int
    results: list[dict[str, Any]]  # each column's stats
    # Each column's accumulator state, for partial stats (``keep_state``); else None.
    states: list[dict[str, Any]] | None


def scan_source(
    opened: Source,
    config: StatsConfig,
    progress: Callable[[BuildProgress], None] | None,
    started: float,
    *,
    row_range: tuple[int, int] | None = None,
    keep_state: bool = False,
) -> Scan:
    """Run the engine over every column group of ``opened``, optionally over rows
    ``row_range`` only, and keeping each accumulator's state for a later merge."""
    accumulators = [
        new_accumulator(f.type, name, config) for f, name in zip(opened.schema, opened.names, strict=True)
    ]
    groups = column_groups(opened, config)
    reporter = _Reporter(progress, opened.rows_total, len(groups), started)
    results: list[Any] = [None] * len(accumulators)
    states: list[Any] | None = [None] * len(accumulators) if keep_state else None
    window_columns: list[Any] = [None] * len(accumulators)

    def summarise(index: int) -> int:
        """One pass over a group of columns; its counters are freed as soon as it is done."""
        group = groups[index]
        block_rows = group_block_rows(opened, config, group)
        window = _WindowCollector(config.window_rows)
        columns = None if len(groups) == 1 else group
        if row_range is None:
            batches = opened.batches(block_rows, columns)
        elif opened.seekable:
            start, stop = row_range
            batches = rows_between(opened.batches(block_rows, columns, start=start), 0, stop - start)
        else:
            batches = rows_between(opened.batches(block_rows, columns), *row_range)
        rows, group_results = accumulate(
            batches,
            [accumulators[i] for i in group],
            block_rows,
            reporter.watch(window.add, index),
            workers=None if len(groups) == 1 else 1,
            read_ahead=len(groups) == 1,
        )
        for slot, (position, result) in enumerate(zip(group, group_results, strict=True)):
            results[position] = result
            if states is not None:
                states[position] = accumulators[position].state()
            window_columns[position] = window.column(slot, opened.schema.field(position).type)
            accumulators[position] = None
        return rows

    if len(groups) == 1:
        rows = summarise(0)
    else:
        # Groups run side by side, one per core, each reading and summarising on its own
        # thread: one group's decoding overlaps another's stats.
        with ThreadPoolExecutor(max_workers=GROUPS_AT_ONCE, thread_name_prefix="buckaroo-assets-group") as pool:
            rows = list(pool.map(summarise, range(len(groups))))[-1]
    window = pa.Table.from_arrays(window_columns, schema=opened.schema)
    return Scan(rows, window, len(groups), results, states)


def rows_between(batches: Iterator[pa.RecordBatch], start: int, stop: int) -> Iterator[pa.RecordBatch]:
    """Rows ``start`` to ``stop`` (exclusive) of a batch stream; reading ends at ``stop``."""
    seen = 0
    for batch in batches:
        if seen >= stop:
            return
        lo, hi = max(start - seen, 0), min(stop - seen, batch.num_rows)
        seen += batch.num_rows
        if lo < hi:
            yield batch.slice(lo, hi - lo)


def stats_entries(
    schema: pa.Schema,
    names: list[Hashable],
    dtypes: list[str],
    notes: dict[int, str],
    config: StatsConfig,
    results: list[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Each column's stats under its Buckaroo key, with its label, dtype, type and notes."""
    stats: dict[str, dict[str, Any]] = {}
    for position, result in enumerate(results):
        entry: dict[str, Any] = {
            "orig_col_name": names[position],
            "dtype": dtypes[position],
            "arrow_type": str(schema.field(position).type),
        }
        entry.update(result)
        if _is_skipped(names[position], config):
            entry["skipped"] = True
        if position in notes:
            entry["note"] = notes[position]
        stats[column_key(position)] = entry
    return stats


def producer() -> dict[str, str]:
    """The versions that computed a bundle, for its meta."""
    return {
        "buckaroo_assets": __version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class BuildProgress:
    """How far a build is: rows summarised so far, of ``rows_total`` when the source knows it."""

    rows_done: int
    rows_total: int | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.rows_total is None or not self.rows_done:
            return None
        return max(0.0, (self.rows_total - self.rows_done) / self.rows_per_second)


class _Reporter:
    """Counts rows as blocks pass and tells the caller, if it asked.

    With columns summarised in groups, every row is read once per group:
    ``rows_done`` then counts rows times the share of columns done, so it still
    ends at ``rows_total`` and the rate and ETA stay honest. Once the caller's
    callback raises (a cancellation), every group stops at its next block.
    """

    def __init__(
        self,
        progress: Callable[[BuildProgress], None] | None,
        rows_total: int | None,
        groups: int,
        started: float,
    ) -> None:
        self.progress, self.rows_total, self.started = progress, rows_total, started
        self.rows = [0] * max(groups, 1)
        self.lock = threading.Lock()
        self.stopped: BaseException | None = None

    def watch(
        self, inner: Callable[[pa.RecordBatch], None], group: int
    ) -> Callable[[pa.RecordBatch], None]:
        def on_block(block: pa.RecordBatch) -> None:
            inner(block)
            with self.lock:
                if self.stopped is not None:
                    raise self.stopped
                self.rows[group] += block.num_rows
                if self.progress is None:
                    return
                done = sum(self.rows) // len(self.rows)
                seconds = time.perf_counter() - self.started
                try:
                    self.progress(BuildProgress(done, self.rows_total, seconds))
                except BaseException as error:
                    self.stopped = error
                    raise

        return on_block


def new_accumulator(arrow_type: pa.DataType, label: Hashable, config: StatsConfig) -> ColumnAccumulator:
    """The column's accumulator; a skipped column only counts rows and nulls."""
    if _is_skipped(label, config):
        return ColumnAccumulator(arrow_type, config)
    return accumulator_for(arrow_type, config)


def _is_skipped(name: Hashable, config: StatsConfig) -> bool:
    return any(same_label(name, skip) for skip in config.skip_columns)


class _WindowCollector:
    """Keeps the first ``limit`` rows of the stream, in order, and nothing more."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, block: pa.RecordBatch) -> None:
        if self.rows < self.limit:
            # A copy of the rows kept: a slice would hold the whole block alive for the build.
            kept = pa.concat_batches([block.slice(0, self.limit - self.rows)])
            self.batches.append(kept)
            self.rows += kept.num_rows

    def column(self, slot: int, target: pa.DataType) -> pa.Array:
        """The window of the ``slot``-th column read, as ``target`` (Parquet text may have
        been read dictionary-encoded for speed)."""
        pieces = [b.column(slot) for b in self.batches]
        pieces = [p.cast(target) if p.type != target else p for p in pieces]
        return pa.chunked_array(pieces, type=target).combine_chunks()


# Memory for the groups summarised at once: their blocks in flight and exact counters.
# With the interpreter and its libraries (about 120 MiB) a build then peaks under 400 MB.
GROUP_BUDGET_BYTES = 192 << 20
GROUPS_AT_ONCE = max(1, min(2, os.cpu_count() or 1))
# Bytes a column costs per byte of one of its blocks, as measured on wide Parquet files
# (peak RSS less the interpreter's, per column summarised at once): the block being
# summarised, the reader's decoded pages and buffers, the allocator's slack.
_BLOCKS_IN_FLIGHT = 8
_COUNTER_OVERHEAD = 16  # bytes per distinct value besides the value: its count and slack
_FEWEST_BLOCK_ROWS = 64


def column_groups(source: Source, config: StatsConfig) -> list[list[int]]:
    """Columns split, in order, into groups whose blocks and counters fit the budget.

    Columns that would all fit one group are shared out, by bytes, between
    ``GROUPS_AT_ONCE`` groups where reading them means decoding them: one group
    has one reader, which kept a core busy while the stats waited on it.
    """
    positions = list(range(len(source.schema)))
    if source.column_bytes is None or len(positions) <= 1:
        return [positions]
    block, distinct = _block_and_distinct(source, config)
    budget = GROUP_BUDGET_BYTES / GROUPS_AT_ONCE
    costs = [block * w * _BLOCKS_IN_FLIGHT + _counter_bytes(w, distinct) for w in source.column_bytes]
    groups: list[list[int]] = [[]]
    used = 0.0
    for position, cost in zip(positions, costs, strict=True):
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0.0
        groups[-1].append(position)
        used += cost
    if len(groups) < GROUPS_AT_ONCE and source.decodes_columns:
        return [sorted(group) for group in balanced_groups(costs, GROUPS_AT_ONCE)]
    return groups


def group_block_rows(source: Source, config: StatsConfig, group: list[int]) -> int:
    """Rows per block for one group: ``block_rows``, or fewer where the group's rows are so
    wide (cells of kilobytes) that its blocks in flight would not fit its budget. Blocks
    are sized by bytes, then; the stats do not depend on their size."""
    if source.column_bytes is None:
        return config.block_rows
    block, distinct = _block_and_distinct(source, config)
    widths = [source.column_bytes[i] for i in group]
    room = GROUP_BUDGET_BYTES / GROUPS_AT_ONCE - sum(_counter_bytes(w, distinct) for w in widths)
    per_row = sum(widths) * _BLOCKS_IN_FLIGHT
    if per_row * block <= room or per_row <= 0:
        return config.block_rows
    # Counters may claim the whole budget (one column of huge cells): blocks keep an eighth.
    return max(_FEWEST_BLOCK_ROWS, int(max(room, GROUP_BUDGET_BYTES / 8) / per_row))


def _block_and_distinct(source: Source, config: StatsConfig) -> tuple[int, int]:
    rows = source.rows_total or config.block_rows
    return min(config.block_rows, rows), min(rows, config.distinct_threshold)


def _counter_bytes(width: float, distinct: int) -> float:
    """Exact counters of a column: capped where the engine switches text to sketches by bytes."""
    return min(distinct * (width + _COUNTER_OVERHEAD), COUNT_BYTES + distinct * _COUNTER_OVERHEAD)
