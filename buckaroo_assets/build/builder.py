"""Building a bundle: one streaming pass over any source.

Kept apart from :mod:`buckaroo_assets.bundle` so that readers, which only
load bundles, never import the stats engine, numpy kernels or source readers.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..bundle.columns import column_key
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle, same_label
from ..stats.accumulators import ColumnAccumulator, accumulator_for
from ..stats.engine import accumulate
from ..version import __version__
from .data_id import data_id_for
from .sources import open_source

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
    ``progress`` is called after every block of rows, from the reading thread;
    raising from it (e.g. on cancellation) stops the build with nothing returned.
    """
    config = config or StatsConfig()
    started = time.perf_counter()
    if data_id is None:
        if isinstance(source, pa.RecordBatchReader):
            raise ValueError("a RecordBatchReader can be read only once: pass data_id explicitly")
        data_id = data_id_for(source, storage_options=storage_options)
    validate_data_id(data_id)
    opened = open_source(source, storage_options=storage_options)
    skipped = {i for i, name in enumerate(opened.names) if _is_skipped(name, config)}
    accumulators = [
        ColumnAccumulator(f.type, config) if i in skipped else accumulator_for(f.type, config)
        for i, f in enumerate(opened.schema)
    ]
    window = _WindowCollector(config.window_rows)
    on_block = window.add
    if progress is not None:
        on_block = _Reporter(window.add, progress, opened.rows_total, started)
    rows, results = accumulate(opened.batches(config.block_rows), accumulators, config.block_rows, on_block)
    stats: dict[str, dict[str, Any]] = {}
    for position, result in enumerate(results):
        entry: dict[str, Any] = {
            "orig_col_name": opened.names[position],
            "dtype": opened.dtypes[position],
            "arrow_type": str(opened.schema.field(position).type),
        }
        entry.update(result)
        if position in skipped:
            entry["skipped"] = True
        if position in opened.notes:
            entry["note"] = opened.notes[position]
        stats[column_key(position)] = entry
    meta = {
        "data_id": data_id,
        "config_id": config.config_id,
        "rows": rows,
        "columns": len(accumulators),
        "source_kind": opened.kind,
        "build_seconds": round(time.perf_counter() - started, 6),
        "producer": {
            "buckaroo_assets": __version__,
            "pyarrow": pa.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    return Bundle(
        data_id=data_id,
        config=config,
        stats=stats,
        first_window=window.table(opened.schema),
        meta=meta,
    )


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
    """Counts rows as blocks pass, then tells the caller."""

    def __init__(
        self,
        inner: Callable[[pa.RecordBatch], None],
        progress: Callable[[BuildProgress], None],
        rows_total: int | None,
        started: float,
    ) -> None:
        self.inner, self.progress, self.rows_total, self.started = inner, progress, rows_total, started
        self.rows = 0

    def __call__(self, block: pa.RecordBatch) -> None:
        self.inner(block)
        self.rows += block.num_rows
        seconds = time.perf_counter() - self.started
        self.progress(BuildProgress(self.rows, self.rows_total, seconds))


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
            kept = block.slice(0, self.limit - self.rows)
            self.batches.append(kept)
            self.rows += kept.num_rows

    def table(self, schema: pa.Schema) -> pa.Table:
        columns = []
        for i, target in enumerate(schema):
            pieces = [b.column(i) for b in self.batches]
            # Parquet text may have been read dictionary-encoded for speed.
            pieces = [p.cast(target.type) if p.type != target.type else p for p in pieces]
            columns.append(pa.chunked_array(pieces, type=target.type).combine_chunks())
        return pa.Table.from_arrays(columns, schema=schema)
