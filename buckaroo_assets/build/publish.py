"""Make sure a store holds the bundle of one dataset version: reuse it, or build and publish it.

This is what every producer does (Dagster assets, the CLI): derive the
data_id cheaply, and read the data only when ``(data_id, config_id)`` is not
already published.  A damaged stored bundle is rebuilt, never trusted.

Rows first, stats after: before a build starts, the source's first window is
published as the build's partial state (see ``store.partial_state``), so a
viewer shows rows within moments while the stats are computed.  The partial
state is never a bundle; the build removes it once the bundle is committed, or
when it fails or is interrupted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted, BundleError, BundleNotFound
from ..store import BundleEntry, BundleStore
from .builder import BuildProgress, build_bundle, stats_entries
from .data_id import data_id_for
from .sources import open_source

__all__ = ["Published", "ensure_bundle", "first_rows"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """The stored bundle, whether it was already there (``hit``), and what it cost."""

    bundle: Bundle
    entry: BundleEntry
    hit: bool
    seconds: float


def ensure_bundle(
    store: BundleStore,
    source: Any,
    *,
    config: StatsConfig | None = None,
    data_id: str | None = None,
    dataset: str | None = None,
    storage_options: dict[str, Any] | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
) -> Published:
    """The bundle of ``source`` under ``config`` in ``store``, built only if missing.

    A build first publishes the source's first rows as a partial state (not
    for a one-shot ``RecordBatchReader``, which can be read only once) and
    removes it when it ends, committed, failed or interrupted.
    """
    config = config or StatsConfig()
    started = time.perf_counter()
    if dataset is not None:
        validate_data_id(dataset, what="dataset name")
    if data_id is None:
        data_id = data_id_for(source, storage_options=storage_options, memo=store.file_hashes)
    try:
        bundle = store.get(data_id, config.config_id)
    except BundleNotFound:
        bundle = None
    except BundleCorrupted as exc:
        log.warning("stored bundle %s/%s is damaged (%s); rebuilding", data_id, config.config_id, exc)
        bundle = None
    if bundle is not None:
        entry = store.point(data_id, config.config_id, dataset=dataset)
        return Published(bundle, entry, True, time.perf_counter() - started)
    rows_first = not isinstance(source, pa.RecordBatchReader)
    build = uuid.uuid4().hex
    committed = False
    try:
        if rows_first:
            source = open_source(source, storage_options=storage_options)  # read twice, opened once
            store.put_partial(
                first_rows(source, data_id, config, storage_options), build=build, dataset=dataset
            )
        bundle = build_bundle(source, data_id, config, storage_options=storage_options, progress=progress)
        entry = store.put(bundle, dataset=dataset)
        committed = True
    finally:
        if rows_first:
            # Once committed, any partial state of this key is obsolete; otherwise only ours goes.
            _remove_partial(store, data_id, config.config_id, None if committed else build)
    return Published(bundle, entry, False, time.perf_counter() - started)


def first_rows(
    source: Any, data_id: str, config: StatsConfig, storage_options: dict[str, Any] | None = None
) -> Bundle:
    """The partial bundle of ``source``: its first ``window_rows`` rows and column labels, no stats.

    Read with the build's own source reader and cast to the types the build
    stores, so the window equals the finished bundle's; only the first rows
    are read (for Parquet, the first pages of the first row group).
    """
    opened = open_source(source, storage_options=storage_options)
    limit = config.window_rows
    batches: list[pa.RecordBatch] = []
    rows = 0
    if limit:
        for batch in opened.batches(min(limit, config.block_rows), None):
            batches.append(batch.slice(0, limit - rows))
            rows += batches[-1].num_rows
            if rows >= limit:
                break
    columns = []
    for position, field in enumerate(opened.schema):
        pieces = [b.column(position) for b in batches]
        pieces = [p if p.type == field.type else p.cast(field.type) for p in pieces]
        columns.append(pa.chunked_array(pieces, type=field.type).combine_chunks())
    window = pa.Table.from_arrays(columns, schema=opened.schema)
    stats = stats_entries(
        opened.schema, opened.names, opened.dtypes, opened.notes, config, [{}] * len(columns)
    )
    meta: dict[str, Any] = {"data_id": data_id, "config_id": config.config_id}
    if opened.rows_total is not None:
        meta["rows"] = opened.rows_total
    return Bundle(data_id, config, stats, window, meta, partial=True)


def _remove_partial(store: BundleStore, data_id: str, config_id: str, build: str | None) -> None:
    """Best effort: a store failure here must not hide the build's own outcome; gc collects."""
    try:
        store.remove_partial(data_id, config_id, build=build)
    except (BundleError, OSError) as exc:
        log.warning("could not remove the partial state of %s/%s (%s)", data_id, config_id, exc)
