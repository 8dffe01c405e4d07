"""load_bundle: handshake, windows, the byte-bounded cache, coalescing, the fetch bound, async."""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import buckaroo_assets as ba
from buckaroo_assets.reader.cache import BundleCache, FifoLimiter


def _table(rows: int, seed: int = 0) -> pa.Table:
    return pa.table(
        {
            "n": pa.array([(i * 7 + seed) % 101 for i in range(rows)], pa.int64()),
            "f": pa.array([i / 3 + seed for i in range(rows)], pa.float64()),
            "s": pa.array([f"v{(i + seed) % 13}" for i in range(rows)], pa.string()),
        }
    )


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return (tmp_path / "store").as_uri()


@pytest.fixture
def published(store_url: str) -> ba.Bundle:
    bundle = ba.build_bundle(_table(2500))
    ba.BundleStore(store_url).put(bundle, dataset="demo")
    return bundle


@pytest.fixture
def small_cache() -> Iterator[None]:
    yield
    ba.configure_cache(max_bytes=256 * 1024 * 1024, max_fetches=8, timeout=60.0)


def _same_bundle(a: ba.Bundle, b: ba.Bundle) -> bool:
    return (
        (a.data_id, a.config_id) == (b.data_id, b.config_id)
        and a.stats == b.stats
        and a.first_window.equals(b.first_window, check_metadata=True)
        and a.meta == b.meta
    )


# ---------------------------------------------------------------- loading and handshake


def test_load_by_key_by_data_id_and_by_dataset(store_url: str, published: ba.Bundle) -> None:
    by_key = ba.load_bundle(published.data_id, store=store_url, config=published.config)
    by_id = ba.load_bundle(published.data_id, store=store_url)
    by_name = ba.load_bundle(dataset="demo", store=store_url)
    by_config_id = ba.load_bundle(published.data_id, store=store_url, config=published.config_id)
    for loaded in (by_key, by_id, by_name, by_config_id):
        assert _same_bundle(loaded, published)


def test_store_from_environment(
    store_url: str, published: ba.Bundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUCKAROO_STORE_URL", store_url)
    assert ba.load_bundle(dataset="demo").data_id == published.data_id
    monkeypatch.delenv("BUCKAROO_STORE_URL")
    # Without it, the default store under the working directory, named in the miss.
    with pytest.raises(ba.BundleNotFound, match=r"\.buckaroo/store.*default"):
        ba.load_bundle(dataset="demo")


def test_not_found(store_url: str, published: ba.Bundle) -> None:
    with pytest.raises(ba.BundleNotFound, match="nope"):
        ba.load_bundle("nope", store=store_url)
    with pytest.raises(ba.BundleNotFound, match="other"):
        ba.load_bundle(dataset="other", store=store_url)
    with pytest.raises(LookupError):
        ba.load_bundle("nope", store=store_url, config=published.config)


def test_other_config_is_a_mismatch_with_the_reason(store_url: str, published: ba.Bundle) -> None:
    other = published.config.replace(top_k=3)
    with pytest.raises(ba.BundleMismatch, match=published.config_id) as caught:
        ba.load_bundle(published.data_id, store=store_url, config=other)
    assert caught.value.reason == "config_id"


def test_schema_handshake(store_url: str, published: ba.Bundle) -> None:
    live = _table(3).schema
    loaded = ba.load_bundle(published.data_id, store=store_url, schema=live)
    assert loaded.schema.equals(live)
    renamed = pa.schema([("n", pa.int64()), ("g", pa.float64()), ("s", pa.string())])
    with pytest.raises(ba.BundleMismatch, match="columns") as caught:
        ba.load_bundle(published.data_id, store=store_url, schema=renamed)
    assert caught.value.reason == "schema"
    retyped = pa.schema([("n", pa.int32()), ("f", pa.float64()), ("s", pa.string())])
    with pytest.raises(ba.BundleMismatch, match="n: int64 -> int32"):
        ba.load_bundle(published.data_id, store=store_url, config=published.config, schema=retyped)


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 5000, "a\x00b", "s3://x"])
def test_unsafe_ids_refused_before_io(tmp_path: Path, bad: str) -> None:
    missing = tmp_path / "never-created"
    with pytest.raises(ValueError):
        ba.load_bundle(bad, store=missing.as_uri())
    with pytest.raises(ValueError):
        ba.load_bundle(dataset=bad, store=missing.as_uri())
    with pytest.raises(ValueError):
        ba.load_bundle("fine", store=missing.as_uri(), config=bad)
    assert not missing.exists()


# ---------------------------------------------------------------- windows and frames


def test_window_slices_clamps_and_says_what_is_missing(store_url: str, published: ba.Bundle) -> None:
    loaded = ba.load_bundle(published.data_id, store=store_url)
    source = _table(2500)
    assert loaded.rows == 2500 and loaded.first_window.num_rows == 1000
    assert loaded.window(10, 20).equals(source.slice(10, 10))
    inside = loaded.window(0, 1000)
    assert inside.equals(source.slice(0, 1000)) and inside.schema.metadata is None
    straddling = loaded.window(990, 1010)
    assert straddling.num_rows == 10
    assert straddling.column("n").to_pylist() == source.column("n").to_pylist()[990:1000]
    assert straddling.schema.metadata == {b"buckaroo_assets.missing_rows": b"1000:1010"}
    assert loaded.missing_rows(990, 1010) == range(1000, 1010)
    beyond = loaded.window(5000, 6000)
    assert beyond.num_rows == 0 and loaded.missing_rows(5000, 6000) == range(5000, 5000)
    assert loaded.window(30, 10).num_rows == 0
    with pytest.raises(ValueError, match=">= 0"):
        loaded.window(-1, 5)


def test_window_of_a_small_dataset_misses_nothing() -> None:
    bundle = ba.build_bundle(_table(40))
    assert bundle.window(0, 100).num_rows == 40
    assert bundle.window(0, 100).schema.metadata is None
    assert bundle.missing_rows(0, 100) == range(40, 40)


def test_stats_frame_has_a_column_per_label_and_a_row_per_stat() -> None:
    table = pa.Table.from_arrays(
        [pa.array([1, 2, 2]), pa.array(["a", None, "a"]), pa.array([1.5, 2.5, None])],
        names=["x", "y", "x"],
    )
    bundle = ba.build_bundle(table, data_id="frame")
    frame = bundle.stats_frame()
    assert list(frame.columns) == ["x", "y", "x"]
    assert list(frame.index[:4]) == ["dtype", "length", "null_count", "non_null_count"]
    for position, entry in enumerate(bundle.stats.values()):
        for stat in ("null_count", "distinct_count", "min", "max"):
            assert frame.iloc[:, position][stat] == entry[stat]
    assert frame.loc["null_count"].tolist() == [0, 1, 1]


# ---------------------------------------------------------------- the cache


def _counted_since(before: dict[str, int]) -> dict[str, int]:
    """The process-wide counters only grow; a test looks at what it added."""
    now = ba.cache_report()
    counters = ("hits", "misses", "coalesced", "evictions", "errors")
    return {k: v - before[k] if k in counters else v for k, v in now.items()}


def test_hits_cost_no_io(store_url: str, published: ba.Bundle, tmp_path: Path) -> None:
    before = ba.cache_report()
    first = ba.load_bundle(published.data_id, store=store_url, config=published.config)
    folder = tmp_path / "store"
    moved = tmp_path / "moved"
    folder.rename(moved)  # the store is gone: only the cache can answer
    again = ba.load_bundle(published.data_id, store=store_url, config=published.config)
    assert again is first
    report = _counted_since(before)
    assert (report["hits"], report["misses"], report["entries"]) == (1, 1, 1)
    with pytest.raises(ba.BundleNotFound):
        ba.load_bundle(published.data_id, store=store_url, config=published.config, cache=False)


def test_lru_is_bounded_by_bytes(store_url: str, small_cache: None) -> None:
    before = ba.cache_report()
    store = ba.BundleStore(store_url)
    bundles = [ba.build_bundle(_table(1500, seed)) for seed in range(4)]
    for bundle in bundles:
        store.put(bundle)
    ba.load_bundle(bundles[0].data_id, store=store_url, config=bundles[0].config)
    one = ba.cache_report()["bytes"]
    ba.configure_cache(max_bytes=2 * one + one // 2)
    for bundle in bundles:
        ba.load_bundle(bundle.data_id, store=store_url, config=bundle.config)
    report = _counted_since(before)
    assert report["entries"] == 2 and report["bytes"] <= report["max_bytes"]
    assert report["evictions"] == 2
    # the two most recent stay: loading them again is a hit
    hits = report["hits"]
    for bundle in bundles[2:]:
        ba.load_bundle(bundle.data_id, store=store_url, config=bundle.config)
    assert _counted_since(before)["hits"] == hits + 2
    ba.configure_cache(max_bytes=one // 2)  # shrinking evicts at once; too-big values are not kept
    assert ba.cache_report()["entries"] == 0
    ba.load_bundle(bundles[0].data_id, store=store_url, config=bundles[0].config)
    assert ba.cache_report()["entries"] == 0


def test_concurrent_loads_of_one_key_share_one_fetch(store_url: str, published: ba.Bundle) -> None:
    before = ba.cache_report()
    callers = 16
    barrier = threading.Barrier(callers)
    results: list[ba.Bundle] = []

    def load() -> None:
        barrier.wait()
        results.append(ba.load_bundle(published.data_id, store=store_url, config=published.config))

    threads = [threading.Thread(target=load) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = _counted_since(before)
    assert report["misses"] == 1
    assert report["hits"] + report["coalesced"] == callers - 1
    assert all(result is results[0] for result in results)


def test_cache_coalesces_while_a_fetch_runs() -> None:
    cache = BundleCache()
    release = threading.Event()
    calls: list[int] = []

    def slow_fetch() -> tuple[str, int]:
        calls.append(1)
        release.wait(5)
        return "value", 10

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow_fetch)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while cache.report()["coalesced"] < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join()
    assert results == ["value"] * 5 and len(calls) == 1
    assert cache.report()["coalesced"] == 4


def test_a_failed_fetch_fails_every_waiter_and_is_not_cached() -> None:
    cache = BundleCache()

    def broken() -> tuple[str, int]:
        raise ba.BundleCorrupted("bad bytes")

    with pytest.raises(ba.BundleCorrupted):
        cache.get("k", broken)
    assert cache.report()["entries"] == 0 and cache.report()["errors"] == 1
    assert cache.get("k", lambda: ("fixed", 1)) == "fixed"


def test_fetch_slots_are_granted_first_come_first_served() -> None:
    limiter = FifoLimiter(1)
    limiter.acquire(None)
    order: list[int] = []

    def wait_turn(i: int) -> None:
        limiter.acquire(5)
        order.append(i)
        limiter.release()

    threads = []
    for i in range(6):
        thread = threading.Thread(target=wait_turn, args=(i,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while limiter.waiting < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    limiter.release()
    for thread in threads:
        thread.join()
    assert order == list(range(6))
    assert limiter.waiting == 0 and limiter.busy == 0


def test_waiting_for_a_slot_times_out_clearly() -> None:
    cache = BundleCache(max_fetches=1)
    release = threading.Event()
    holder = threading.Thread(target=cache.get, args=("a", lambda: (release.wait(5), 1)))
    holder.start()
    while cache.report()["fetches_in_flight"] < 1:
        time.sleep(0.001)
    started = time.monotonic()
    with pytest.raises(ba.BundleLoadTimeout, match="1 fetches already in flight"):
        cache.get("b", lambda: ("b", 1), timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2
    assert cache.report()["waiting"] == 0
    release.set()
    holder.join()
    assert cache.get("b", lambda: ("b", 1)) == "b"
    assert cache.report()["fetches_in_flight"] == 0


def test_prewarm_reports_per_key(store_url: str, published: ba.Bundle) -> None:
    other = ba.build_bundle(_table(100, seed=5))
    ba.BundleStore(store_url).put(other)
    report = ba.prewarm(
        [published.data_id, (other.data_id, other.config_id), "missing-id"], store=store_url
    )
    assert sorted(report.loaded) == sorted(
        [(published.data_id, published.config_id), (other.data_id, other.config_id)]
    )
    assert list(report.failed) == ["missing-id"] and "BundleNotFound" in report.failed["missing-id"]
    hits = ba.cache_report()["hits"]
    ba.load_bundle(other.data_id, store=store_url, config=other.config)
    assert ba.cache_report()["hits"] == hits + 1


def test_async_loads_equal_sync_loads(store_url: str, published: ba.Bundle) -> None:
    async def main() -> list[ba.Bundle]:
        return list(
            await asyncio.gather(
                ba.aload_bundle(published.data_id, store=store_url, config=published.config),
                ba.aload_bundle(published.data_id, store=store_url),
                ba.aload_bundle(dataset="demo", store=store_url, cache=False),
                ba.aload_bundle(published.data_id, store=store_url, config=published.config),
            )
        )

    loaded = asyncio.run(main())
    sync = ba.load_bundle(published.data_id, store=store_url, cache=False)
    assert all(_same_bundle(bundle, sync) for bundle in loaded)

    async def failing() -> None:
        await ba.aload_bundle("missing", store=store_url)

    with pytest.raises(ba.BundleNotFound):
        asyncio.run(failing())


# ---------------------------------------------------------------- concurrency with writers


def test_readers_never_see_torn_or_mixed_bundles_while_republishing_and_gc(
    store_url: str,
) -> None:
    """8 threads x 500 loads while one thread republishes two contents under one key and GCs."""
    store = ba.BundleStore(store_url)
    versions = [ba.build_bundle(_table(1200, seed), data_id="same-key") for seed in (1, 2)]
    transient = ba.build_bundle(_table(300, 9), data_id="transient")
    store.put(versions[0], dataset="hot")
    stop = threading.Event()
    problems: list[str] = []
    seen = {0: 0, 1: 0}
    not_found = [0]

    def republish() -> None:
        i = 0
        while not stop.is_set():
            store.put(versions[i % 2], dataset="hot")
            store.put(transient)
            store.gc(older_than=datetime.timedelta(0), grace=datetime.timedelta(0))
            i += 1

    def read() -> None:
        for n in range(500):
            key = "same-key" if n % 5 else "transient"
            try:
                loaded = ba.load_bundle(key, store=store_url, cache=False)
            except ba.BundleNotFound:
                not_found[0] += 1
                continue
            except Exception as exc:  # anything else is a torn read
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            candidates = versions if key == "same-key" else [transient]
            matches = [i for i, v in enumerate(candidates) if _same_stats_and_rows(loaded, v)]
            if not matches:
                problems.append(f"mixed or torn bundle for {key}")
            elif key == "same-key":
                seen[matches[0]] += 1

    writer = threading.Thread(target=republish)
    writer.start()
    readers = [threading.Thread(target=read) for _ in range(8)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    stop.set()
    writer.join()
    assert problems == []
    assert seen[0] + seen[1] + not_found[0] >= 8 * 400
    assert store.verify().ok


def _same_stats_and_rows(loaded: ba.Bundle, expected: ba.Bundle) -> bool:
    return loaded.stats == expected.stats and loaded.first_window.equals(expected.first_window)


# ---------------------------------------------------------------- the reader path stays light


def test_loading_and_viewing_import_neither_pandas_nor_dagster_nor_the_stats_engine(
    store_url: str, published: ba.Bundle
) -> None:
    script = (
        "import sys, json, buckaroo_assets as ba\n"
        f"b = ba.load_bundle({published.data_id!r}, store={store_url!r}, "
        f"config={published.config_id!r})\n"
        "b.to_buckaroo_artifact('Buckaroo')\n"  # the viewer is on the reader path too
        "import buckaroo_assets.viewer.server\n"
        "heavy = [m for m in ('pandas', 'dagster', 'polars', 'buckaroo', "
        "'buckaroo_assets.stats.engine', 'buckaroo_assets.build') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'rows': b.rows}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == {"heavy": [], "rows": 2500}
