"""``load_bundle``: a verified bundle in milliseconds, from memory when it can.

This is the path apps call per request, so it imports neither dagster nor
pandas, does no LIST and no HEAD, and keeps what it read in one bounded,
thread-safe, process-wide cache (see :mod:`.cache`).  A bundle
stored under ``(data_id, config_id)`` never changes, so a cached copy never
goes stale; only pointers ("the config last published for this data_id",
"the latest version of this dataset") are read from the store each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from ..bundle.config import StatsConfig
from ..bundle.ids import validate_config_id, validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted, BundleError, BundleMismatch, BundleNotFound
from ..store.bundle_store import BundleStore
from ..store.locate import choose_store, open_store
from ..store.packing import unpack_bundle
from .cache import BundleCache

__all__ = [
    "PrewarmReport",
    "aload_bundle",
    "cache_report",
    "clear_cache",
    "configure_cache",
    "load_bundle",
    "prewarm",
]

_CACHE = BundleCache()


def _config_id(config: StatsConfig | str | None) -> str | None:
    if config is None:
        return None
    if isinstance(config, StatsConfig):
        return config.config_id
    return validate_config_id(config)


def _cache_key(store: BundleStore, data_id: str, config_id: str) -> tuple[Any, ...]:
    return (store.identity, data_id, config_id)


def _fetch(store: BundleStore, data_id: str, config_id: str) -> tuple[Bundle, int]:
    manifest, pack = store.fetch(data_id, config_id)
    bundle = unpack_bundle(manifest, pack, where=store.manifest_url(data_id, config_id))
    stats_size = next(p["size"] for p in manifest["parts"] if p["name"] == "stats")
    # Decoded Python objects weigh several times their JSON; Arrow buffers weigh what they say.
    return bundle, bundle.first_window.get_total_buffer_size() + 4 * stats_size


def _check_schema(bundle: Bundle, schema: pa.Schema) -> None:
    stored = bundle.schema
    if stored.names != schema.names:
        raise BundleMismatch(
            f"bundle {bundle.data_id} has columns {stored.names[:10]}, "
            f"the live schema has {schema.names[:10]}",
            reason="schema",
        )
    changed = [
        f"{f.name}: {f.type} -> {g.type}" for f, g in zip(stored, schema, strict=True)
        if not f.type.equals(g.type)
    ]
    if changed:
        raise BundleMismatch(
            f"bundle {bundle.data_id} column types differ from the live schema: "
            + "; ".join(changed[:10]),
            reason="schema",
        )


def _explain_missing(
    store: BundleStore, data_id: str, config_id: str, error: BundleNotFound
) -> BundleError:
    """A missing (data_id, config_id) whose data_id exists under another config is a mismatch."""
    try:
        _, stored = store.resolve(data_id)
    except BundleError:
        return error
    if stored == config_id:
        return error
    return BundleMismatch(
        f"data_id {data_id!r} is stored with config_id {stored}, not {config_id}: "
        "rebuild it with this config, or load it without one",
        reason="config_id",
    )


def _request(
    data_id: str | None,
    dataset: str | None,
    store: BundleStore | str | os.PathLike[str] | None,
    config: StatsConfig | str | None,
    storage_options: dict[str, Any] | None,
) -> tuple[BundleStore, str | None]:
    """Validate the ids (before any I/O) and find the store and config_id a request names."""
    if data_id is not None:
        validate_data_id(data_id)
    if dataset is not None:
        validate_data_id(dataset, what="dataset name")
    config_id = _config_id(config)
    return open_store(store, storage_options), config_id


def load_bundle(
    data_id: str | None = None,
    *,
    dataset: str | None = None,
    store: BundleStore | str | os.PathLike[str] | None = None,
    config: StatsConfig | str | None = None,
    storage_options: dict[str, Any] | None = None,
    schema: pa.Schema | None = None,
    cache: bool = True,
    timeout: float | None = None,
    allow_partial: bool = False,
) -> Bundle:
    """Load a verified bundle by ``data_id`` or by ``dataset`` name.

    ``config`` (a StatsConfig or its config_id) selects the bundle computed
    with that config; without it, the one last published for the data_id
    (or dataset).  With both ``data_id`` and ``config`` a cached bundle is
    returned without any I/O.  ``schema`` checks that the bundle still
    describes the live data.  ``timeout`` bounds the wait for a free fetch slot.
    Raises ``BundleNotFound``, ``BundleMismatch``, ``BundleCorrupted``, or
    ``ValueError`` for an unsafe id (before any I/O).  Treat the result as
    read-only: it is shared with other callers.

    With ``allow_partial``, when no complete bundle exists but a build of it
    is in progress, its first window is returned as a bundle with
    ``partial=True`` (stats: labels and types only; never cached).
    """
    st, config_id = _request(data_id, dataset, store, config, storage_options)
    if data_id is not None and config_id is not None:
        key = (data_id, config_id)
        if cache and (hit := _CACHE.peek(_cache_key(st, *key))) is not None:
            return _handshake(hit, schema, dataset)

    def complete() -> Bundle:
        nonlocal key
        if data_id is None or config_id is None:
            key = st.resolve(data_id, config_id, dataset=dataset)
        return _CACHE.get(
            _cache_key(st, *key), lambda: _fetch(st, *key), use_cache=cache, timeout=timeout
        )

    try:
        bundle = complete()
    except BundleNotFound as exc:
        building = _building(st, data_id, config_id, dataset)
        if allow_partial and building is not None:
            try:
                return _handshake(st.get_partial(*building), schema, dataset)
            except (BundleNotFound, BundleCorrupted):
                with contextlib.suppress(BundleNotFound):  # the build committed meanwhile
                    return _handshake(complete(), schema, dataset)
        if data_id is not None and config_id is not None:
            explained = _explain_missing(st, data_id, config_id, exc)
            if not isinstance(explained, BundleNotFound):
                raise explained from None
        raise _searched(exc, st, store, storage_options, data_id, building) from None
    return _handshake(bundle, schema, dataset)


def _building(
    st: BundleStore, data_id: str | None, config_id: str | None, dataset: str | None
) -> tuple[str, str] | None:
    """The key of the newest live build a missed request names, if any (read on misses only).

    One LIST of the builds in progress (of the data_id, when the request names one).
    """
    try:
        if data_id is not None and config_id is not None:
            entries = [e for e in st.in_progress(data_id) if e.config_id == config_id]
        else:
            entries = st.in_progress(data_id, dataset=dataset)
            if config_id is not None:
                entries = [e for e in entries if e.config_id == config_id]
    except BundleError:
        return None  # a miss stays a miss; the store's trouble shows on the next request
    live = [e for e in entries if not e.stale]
    return (live[0].data_id, live[0].config_id) if live else None


def _searched(
    error: BundleNotFound,
    st: BundleStore,
    store: BundleStore | str | os.PathLike[str] | None,
    storage_options: dict[str, Any] | None,
    data_id: str | None,
    building: tuple[str, str] | None,
) -> BundleNotFound:
    """The same miss, saying how the store was chosen, whether a build of it is in progress,
    and pointing at a dataset of that name."""
    if isinstance(store, BundleStore):
        reason = "given explicitly"
    else:
        reason = choose_store(store, storage_options).reason
    message = f"{error} (store {reason})"
    if building is not None:
        message += (
            f"; a build of ({building[0]}, {building[1]}) is in progress: its stats are not "
            "ready yet, and load_bundle(..., allow_partial=True) returns its first rows"
        )
    if data_id is not None:
        try:
            st.resolve(dataset=data_id)
        except (BundleError, ValueError):
            pass
        else:
            message += f"; a dataset is named {data_id!r}: load_bundle(dataset={data_id!r})"
    return BundleNotFound(message)


def _handshake(bundle: Bundle, schema: pa.Schema | None, dataset: str | None) -> Bundle:
    if schema is not None:
        _check_schema(bundle, schema)
    if dataset is not None and bundle.dataset != dataset:  # one version can serve two datasets
        return replace(bundle, dataset=dataset)
    return bundle


async def aload_bundle(
    data_id: str | None = None,
    *,
    dataset: str | None = None,
    store: BundleStore | str | os.PathLike[str] | None = None,
    config: StatsConfig | str | None = None,
    storage_options: dict[str, Any] | None = None,
    schema: pa.Schema | None = None,
    cache: bool = True,
    timeout: float | None = None,
    allow_partial: bool = False,
) -> Bundle:
    """``load_bundle`` for asyncio: cache hits return at once, fetches run in a thread."""
    kwargs = dict(
        dataset=dataset, store=store, config=config, storage_options=storage_options,
        schema=schema, cache=cache, timeout=timeout, allow_partial=allow_partial,
    )
    st, config_id = _request(data_id, dataset, store, config, storage_options)
    if cache and data_id is not None and config_id is not None:
        hit = _CACHE.peek(_cache_key(st, data_id, config_id))
        if hit is not None:
            return _handshake(hit, schema, dataset)
    return await asyncio.to_thread(load_bundle, data_id, **kwargs)  # type: ignore[arg-type]


@dataclass
class PrewarmReport:
    loaded: list[tuple[str, str]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def prewarm(
    keys: Iterable[str | tuple[str, str]],
    *,
    store: BundleStore | str | os.PathLike[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> PrewarmReport:
    """Load bundles into the cache ahead of requests, within the cache's fetch bound.

    A key is a data_id (its latest config) or a ``(data_id, config_id)`` pair.
    Failures are reported per key, not raised, so one bad key spoils nothing.
    """
    st = open_store(store, storage_options)
    wanted = [(k, None) if isinstance(k, str) else (k[0], k[1]) for k in keys]

    def one(item: tuple[str, str | None]) -> Bundle:
        return load_bundle(item[0], store=st, config=item[1])

    report = PrewarmReport()
    workers = max(1, min(len(wanted), _CACHE.report()["max_fetches"]))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prewarm") as pool:
        futures = [(item, pool.submit(one, item)) for item in wanted]
        for item, future in futures:
            try:
                bundle = future.result()
            except Exception as exc:
                label = item[0] if item[1] is None else f"{item[0]}/{item[1]}"
                report.failed[label] = f"{type(exc).__name__}: {exc}"
            else:
                report.loaded.append((bundle.data_id, bundle.config_id))
    return report


def cache_report() -> dict[str, Any]:
    """Entries, bytes, hits, misses, coalesced loads, evictions, fetches in flight, waiters."""
    return _CACHE.report()


def clear_cache() -> None:
    """Forget every cached bundle (counters are kept)."""
    _CACHE.clear()


def configure_cache(
    *, max_bytes: int | None = None, max_fetches: int | None = None, timeout: float | None = None
) -> None:
    """Bound the cache by bytes, the concurrent fetches to stores, and the wait for a slot."""
    _CACHE.configure(max_bytes=max_bytes, max_fetches=max_fetches, timeout=timeout)
