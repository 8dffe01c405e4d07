"""BundleStore on a local folder, ``memory://`` and S3 (moto over real HTTP).

Publish and read back, list, dataset pointers, delete, gc, the request count
of the hot path, other processes, unsafe ids, and concurrent writers.
Damage and crashes are in ``test_store_integrity.py``, which reuses the
helpers defined here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import http.client
import json
import math
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
from buckaroo_assets.errors import UnsafeDataIdError
from buckaroo_assets.store import BundleStore, VerifyReport

from .conftest import S3Server

REPO_ROOT = Path(__file__).resolve().parents[1]
STORE_KINDS = ("file", "memory", "s3")
CFG_A = ba.StatsConfig(window_rows=5)
CFG_B = ba.StatsConfig(window_rows=7)
A, B = CFG_A.config_id, CFG_B.config_id
ROWS = 12
ZERO = dt.timedelta(0)


# ---------------------------------------------------------------- stores under test


@dataclass(frozen=True)
class StoreCase:
    """How to open one store under test, here or in another process."""

    kind: str
    url: str
    storage_options: dict[str, Any] | None = None

    def open(self) -> BundleStore:
        return BundleStore(self.url, self.storage_options)

    def load(self, *args: Any, **kwargs: Any) -> ba.Bundle:
        return ba.load_bundle(*args, store=self.url, storage_options=self.storage_options, **kwargs)


def make_case(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreCase:
    """A fresh, empty store.

    Local and memory roots hold glob characters, which fsspec expands when
    given lists of paths; the S3 root is plain, so the store's concurrent
    many-object reads run there.
    """
    if kind == "file":
        return StoreCase(kind, str(tmp_path / "store[1]"))
    if kind == "memory":
        found = StoreCase(kind, f"memory://test-{uuid.uuid4().hex}/store[1]")
        request.addfinalizer(lambda: forget_memory(found.open().root))
        return found
    server: S3Server = request.getfixturevalue("s3_server")
    return StoreCase(kind, f"s3://{server.new_bucket()}/store", server.storage_options)


def forget_memory(root: str) -> None:
    """memory:// is one process-wide dict: drop what a test left under ``root``."""
    for key in [k for k in MemoryFileSystem.store if k.startswith(root)]:
        MemoryFileSystem.store.pop(key, None)
    MemoryFileSystem.pseudo_dirs[:] = [
        d for d in MemoryFileSystem.pseudo_dirs if not d.startswith(root)
    ]


@pytest.fixture(params=STORE_KINDS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return make_case(request.param, tmp_path, request)


def stored_files(store: BundleStore) -> dict[str, bytes]:
    """Every object under the store's root, by path relative to it, read directly."""
    store.fs.invalidate_cache()
    try:
        paths = store.fs.find(store.root)
    except FileNotFoundError:
        return {}
    return {p[len(store.root) + 1 :]: store.fs.cat_file(p) for p in paths}


def folder_of(store: BundleStore, data_id: str, config_id: str) -> str:
    """The documented layout: v1/bundles/<data_id>/<config_id>/."""
    return f"{store.root}/v1/bundles/{data_id}/{config_id}"


def pack_path(store: BundleStore, data_id: str, config_id: str) -> str:
    folder = folder_of(store, data_id, config_id)
    store.fs.invalidate_cache()
    packs = [p for p in store.fs.find(folder) if p.rsplit("/", 1)[-1].startswith("pack-")]
    assert len(packs) == 1, packs
    return packs[0]


def write_raw(store: BundleStore, path: str, data: bytes) -> None:
    """Put bytes at ``path`` behind the store's back."""
    store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    store.fs.pipe_file(path, data)


def manifest_path(store: BundleStore, data_id: str, config_id: str) -> str:
    return f"{folder_of(store, data_id, config_id)}/manifest.json"


# ---------------------------------------------------------------- data


def numbers(rows: int = ROWS, seed: int = 0) -> pa.Table:
    """A small deterministic table; other processes import it to build the same data."""
    return pa.table(
        {
            "n": pa.array([(i * 7 + seed) % 101 for i in range(rows)], pa.int64()),
            "s": pa.array([f"v{(i + seed) % 13}" for i in range(rows)], pa.string()),
        }
    )


def bundle_of(seed: int, config: ba.StatsConfig = CFG_A, data_id: str | None = None) -> ba.Bundle:
    return ba.build_bundle(numbers(ROWS, seed), data_id=data_id or f"v{seed}", config=config)


def odd_names_source() -> tuple[pd.DataFrame, pa.Table, list[Any]]:
    """A frame with repeated, int, tuple and unicode labels: (source, expected rows, labels)."""
    n = ROWS
    frame = pd.DataFrame(
        {
            0: np.arange(n, dtype=np.int64) * 3 - 5,
            1: [f"s{i % 4}" if i % 5 else None for i in range(n)],
            2: [math.nan if i % 4 == 0 else i / 4 for i in range(n)],
            3: pd.date_range("2024-03-31 00:00", periods=n, freq="h", tz="Europe/Paris"),
            4: [decimal.Decimal(i).scaleb(-2) - decimal.Decimal("0.05") for i in range(n)],
            5: [i * 1.5 for i in range(n)],
        }
    )
    labels = ["dup", "dup", 7, ("t", 1), "ünï 名前", "a/b..c"]
    frame.columns = labels
    expected = pa.Table.from_arrays(
        [pa.array(frame.iloc[:, i]) for i in range(len(labels))],
        names=[str(label) for label in labels],
    )
    return frame, expected, labels


def arrow_types_source() -> tuple[pa.Table, pa.Table, list[Any]]:
    """Many Arrow types, a repeated name and two chunks: (source, expected rows, labels)."""
    n = ROWS
    ints = list(range(n))
    day = dt.date(2024, 1, 1)
    columns: list[tuple[str, pa.Array]] = [
        ("i8", pa.array(ints, pa.int8())),
        ("u64", pa.array([2**53 + 1 + i for i in ints], pa.uint64())),  # past float precision
        ("f16", pa.array(np.arange(n, dtype=np.float16), pa.float16())),
        ("f64", pa.array([math.nan, math.inf, -0.0, None] + [i / 3 for i in ints[4:]])),
        ("bool", pa.array([i % 3 == 0 if i % 4 else None for i in ints])),
        ("dup", pa.array([f"s{i % 5}" for i in ints])),
        ("dup", pa.array(ints, pa.int32())),
        ("string_view", pa.array([f"v{i}" for i in ints]).cast(pa.string_view())),
        ("large_binary", pa.array([b"\x00" * i for i in ints], pa.large_binary())),
        ("fixed_binary", pa.array([bytes([i, 255]) for i in ints], pa.binary(2))),
        ("date32", pa.array([day + dt.timedelta(days=i) for i in ints])),
        ("time64", pa.array([i * 1_000_001 for i in ints], pa.time64("us"))),
        ("ts_s_tz", pa.array(ints, pa.int64()).cast(pa.timestamp("s", tz="Asia/Kolkata"))),
        (
            "ts_ns_tz",
            pa.array([i * 10**9 + 7 for i in ints], pa.timestamp("ns", tz="America/New_York")),
        ),
        ("ts_naive", pa.array(ints, pa.int64()).cast(pa.timestamp("ms"))),
        ("duration", pa.array(ints, pa.duration("us"))),
        (
            "decimal128",
            pa.array([decimal.Decimal(i).scaleb(-2) for i in ints], pa.decimal128(10, 2)),
        ),
        ("decimal256", pa.array([decimal.Decimal(i) * 10**50 for i in ints], pa.decimal256(70, 0))),
        ("dictionary", pa.array([f"d{i % 3}" for i in ints]).dictionary_encode()),
        ("dictionary_int", pa.array([i % 3 for i in ints]).dictionary_encode()),
        ("null", pa.nulls(n)),
        ("list", pa.array([[i] * (i % 3) if i % 5 else None for i in ints])),
        ("fixed_list", pa.array([[i, -i] for i in ints], pa.list_(pa.int64(), 2))),
        ("struct", pa.array([{"a": i, "b": str(i), "c": [i / 2]} for i in ints])),
        ("map", pa.array([[("k", i)] for i in ints], pa.map_(pa.string(), pa.int64()))),
        ("ünï 名前", pa.array([f"é{i}" for i in ints])),
    ]
    whole = pa.Table.from_arrays([c for _, c in columns], names=[name for name, _ in columns])
    source = pa.concat_tables([whole.slice(0, 3), whole.slice(3)])  # the window spans two chunks
    return source, whole, [name for name, _ in columns]


SOURCES: dict[str, Callable[[], tuple[Any, pa.Table, list[Any]]]] = {
    "odd_names": odd_names_source,
    "arrow_types": arrow_types_source,
}


# ---------------------------------------------------------------- comparisons


def _plain(value: Any) -> Any:
    """Python values with NaN made comparable (NaN != NaN would fail equal tables)."""
    if isinstance(value, float) and math.isnan(value):
        return "<NaN>"
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def assert_same_table(got: pa.Table, expected: pa.Table) -> None:
    assert got.schema.equals(expected.schema, check_metadata=True), (
        f"{got.schema}\n!=\n{expected.schema}"
    )
    assert got.num_rows == expected.num_rows
    for i, field in enumerate(expected.schema):
        assert _plain(got.column(i).to_pylist()) == _plain(expected.column(i).to_pylist()), field


def _untimed(meta: dict[str, Any]) -> bytes:
    return codec.dumps({k: v for k, v in meta.items() if k != "build_seconds"})


def assert_same_bundle(got: ba.Bundle, expected: ba.Bundle) -> None:
    """Same key, stats, meta (but for build timing, which differs between two builds), rows."""
    assert (got.data_id, got.config_id) == (expected.data_id, expected.config_id)
    assert codec.dumps(got.stats) == codec.dumps(expected.stats)
    assert _untimed(got.meta) == _untimed(expected.meta)
    assert_same_table(got.first_window, expected.first_window)


def keys(entries: list[Any]) -> set[tuple[str, str]]:
    return {(e.data_id, e.config_id) for e in entries}


def now_ms() -> dt.datetime:
    """Now, truncated like manifest timestamps (milliseconds)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# ---------------------------------------------------------------- publish and read back


@pytest.mark.parametrize("source_name", sorted(SOURCES))
def test_put_get_round_trip_keeps_stats_rows_and_schema(case: StoreCase, source_name: str) -> None:
    source, whole, labels = SOURCES[source_name]()
    bundle = ba.build_bundle(source, data_id=f"rt-{source_name}", config=CFG_A)
    case.open().put(bundle)

    for got in (
        case.open().get(bundle.data_id, A),
        case.load(bundle.data_id, config=CFG_A, cache=False),
    ):
        assert_same_table(got.first_window, whole.slice(0, CFG_A.window_rows))
        assert got.rows == ROWS
        assert codec.dumps(got.stats) == codec.dumps(bundle.stats)
        stored_labels = [entry["orig_col_name"] for entry in got.stats.values()]
        assert stored_labels == labels
        assert [type(label) for label in stored_labels] == [type(label) for label in labels]
        assert list(got.stats) == [ba.column_key(i) for i in range(len(labels))]
    if source_name == "odd_names":
        decimals = source.iloc[:, 4]
        assert got.stats["e"]["sum"] == sum(decimals)
        assert got.stats["e"]["min"] == min(decimals)
        assert got.stats["c"]["mean"] == pytest.approx(float(np.nanmean(source.iloc[:, 2])))
        assert got.stats["a"]["max"] == int(source.iloc[:, 0].max())
    else:
        assert got.stats["b"]["max"] == 2**53 + ROWS
        assert got.stats["u"]["null_count"] == ROWS


def test_more_than_26_columns_come_back_in_column_order(case: StoreCase) -> None:
    """Keys "z", "ba", "bb" ... sort differently as text; the order must follow the columns."""
    labels = [f"col{i}" for i in range(60)]
    bundle = ba.build_bundle(pa.table({name: [i, i + 1] for i, name in enumerate(labels)}))
    case.open().put(bundle)
    got = case.load(bundle.data_id, cache=False)
    assert list(got.stats) == [ba.column_key(i) for i in range(60)]
    assert [label for _, label in got.columns] == labels == got.first_window.column_names
    assert got.column_stats("col40")["max"] == 41


def test_exists_is_true_exactly_for_published_keys(case: StoreCase) -> None:
    store = case.open()
    assert not store.exists("v1", A)
    store.put(bundle_of(1))
    assert store.exists("v1", A)
    assert not store.exists("v1", B)
    assert not store.exists("v2", A)


def test_list_describes_every_bundle_from_its_manifest(case: StoreCase) -> None:
    store = case.open()
    assert store.list() == []
    started = now_ms()
    put_entries = [store.put(bundle_of(1), dataset="sales")]
    time.sleep(0.002)  # distinct created_at, so the order below is defined
    put_entries.append(store.put(bundle_of(2, CFG_B)))
    finished = dt.datetime.now(dt.UTC)

    entries = case.open().list()
    assert [(e.data_id, e.config_id, e.dataset) for e in entries] == [
        ("v1", A, "sales"),
        ("v2", B, None),
    ]
    assert entries == put_entries
    assert [e.pinned_by for e in entries] == [(f"sales@{A}", "sales"), ()]
    for entry in entries:
        assert started <= entry.created_at <= finished
        assert (entry.rows, entry.columns) == (ROWS, 2)
        manifest = store.fs.cat_file(manifest_path(store, entry.data_id, entry.config_id))
        pack = store.fs.cat_file(pack_path(store, entry.data_id, entry.config_id))
        assert (entry.manifest_bytes, entry.pack_bytes) == (len(manifest), len(pack))
        assert entry.bytes == len(manifest) + len(pack)


def test_dataset_pointers_follow_the_newest_publication_per_config(case: StoreCase) -> None:
    store = case.open()
    v1a, v1b, v2a = bundle_of(1), bundle_of(1, CFG_B), bundle_of(2)
    store.put(v1a, dataset="sales")
    store.put(v1b, dataset="sales")
    assert_same_bundle(store.get(dataset="sales"), v1b)
    store.put(v2a, dataset="sales")  # a newer version of the data, under config A only
    store.put(bundle_of(3), dataset="other")

    assert store.datasets() == {
        "other": ("v3", A),
        f"other@{A}": ("v3", A),
        "sales": ("v2", A),
        f"sales@{A}": ("v2", A),
        f"sales@{B}": ("v1", B),
    }
    reader = case.open()
    assert_same_bundle(reader.get(dataset="sales"), v2a)
    assert_same_bundle(reader.get(dataset="sales", config_id=A), v2a)
    assert_same_bundle(reader.get(dataset="sales", config_id=B), v1b)
    assert_same_bundle(case.load(dataset="sales", cache=False), v2a)
    assert_same_bundle(case.load(dataset="sales", config=CFG_B, cache=False), v1b)
    # Without a config, a data_id means the config last published for it.
    assert_same_bundle(reader.get("v1"), v1b)
    with pytest.raises(ba.BundleNotFound):
        reader.get(dataset="nobody")
    with pytest.raises(ba.BundleNotFound):
        reader.get(dataset="other", config_id=B)


def test_point_moves_pointers_to_a_published_bundle_without_rewriting_it(case: StoreCase) -> None:
    store = case.open()
    old, new = bundle_of(1), bundle_of(2)
    store.put(old, dataset="sales")
    store.put(new)
    files_before = stored_files(store)
    entry = store.point(old.data_id, old.config_id, dataset="sales")
    assert (entry.data_id, entry.pinned_by) == (old.data_id, (f"sales@{old.config_id}", "sales"))
    assert store.resolve(dataset="sales") == (old.data_id, old.config_id)
    store.point(new.data_id, new.config_id, dataset="sales")
    assert store.resolve(dataset="sales") == (new.data_id, new.config_id)
    files_after = stored_files(store)
    changed = {p for p in files_before if files_before[p] != files_after.get(p)}
    assert all("/datasets/" in f"/{p}" or p.endswith("latest.json") for p in changed), changed
    assert {p for p in files_after if "/pack-" in p} == {p for p in files_before if "/pack-" in p}
    with pytest.raises(ba.BundleNotFound):
        store.point("never-published", old.config_id, dataset="sales")
    assert store.resolve(dataset="sales") == (new.data_id, new.config_id)


def test_delete_refuses_a_pointer_named_bundle_unless_forced(case: StoreCase) -> None:
    store = case.open()
    named, loose = bundle_of(1), bundle_of(2)
    store.put(named, dataset="sales")
    store.put(loose)
    before = stored_files(store)

    with pytest.raises(ValueError, match="force=True"):
        store.delete("v1", A)
    assert stored_files(store) == before
    assert_same_bundle(store.get(dataset="sales"), named)

    assert store.delete("v2", A) is True  # named by no dataset: no force needed
    assert store.delete("v1", A, force=True) is True
    assert store.delete("v1", A, force=True) is False  # already gone
    assert store.list() == []
    assert store.datasets() == {}
    assert stored_files(store) == {}
    for request in ({"data_id": "v1", "config_id": A}, {"data_id": "v1"}, {"dataset": "sales"}):
        with pytest.raises(ba.BundleNotFound):
            store.get(**request)
    assert store.verify(grace=ZERO).ok


def test_deleting_a_data_ids_latest_config_falls_back_to_its_newest_other_config(
    case: StoreCase,
) -> None:
    store = case.open()
    store.put(bundle_of(1))
    time.sleep(0.002)
    store.put(bundle_of(1, CFG_B))
    assert store.resolve("v1") == ("v1", B)
    store.delete("v1", B)
    assert store.resolve("v1") == ("v1", A)
    assert_same_bundle(case.load("v1", cache=False), bundle_of(1))
    store.delete("v1", A)
    with pytest.raises(ba.BundleNotFound):
        store.resolve("v1")
    assert store.verify(grace=ZERO).ok


# ---------------------------------------------------------------- gc


def _publish_history(store: BundleStore) -> None:
    """sales: v1..v4 under A (v1 also under B), other: o1, and one bundle of no dataset."""
    store.put(bundle_of(9, data_id="loose"))
    for seed in (1, 2, 3, 4):
        time.sleep(0.002)  # created_at has millisecond resolution
        store.put(bundle_of(seed), dataset="sales")
        if seed == 1:
            time.sleep(0.002)
            store.put(bundle_of(1, CFG_B), dataset="sales")
    store.put(bundle_of(5, data_id="o1"), dataset="other")


PINNED = {("v4", A), ("v1", B), ("o1", A)}  # what the dataset pointers name
EVERYTHING = PINNED | {("loose", A), ("v1", A), ("v2", A), ("v3", A)}


def _bundle_files(files: dict[str, bytes], data_id: str, config_id: str) -> set[str]:
    return {p for p in files if p.startswith(f"v1/bundles/{data_id}/{config_id}/")}


def test_gc_keep_latest_per_dataset_never_removes_pointer_named_bundles(case: StoreCase) -> None:
    store = case.open()
    _publish_history(store)
    before = stored_files(store)

    # Newest first, sales is v4/A (pinned), v3/A, v2/A, v1/B (pinned), v1/A.
    expected = {("v2", A), ("v1", A)}
    dry = store.gc(keep_latest=2, dry_run=True)
    assert dry.dry_run and keys(dry.removed) == expected and dry.kept == 5
    assert stored_files(store) == before

    report = store.gc(keep_latest=2)
    assert keys(report.removed) == expected and report.kept == 5
    assert report.removed_files == []
    assert keys(store.list()) == EVERYTHING - expected
    after = stored_files(store)
    for key in expected:
        assert _bundle_files(after, *key) == set()
        with pytest.raises(ba.BundleNotFound):
            store.get(*key)
    removed_paths = {p for key in expected for p in _bundle_files(before, *key)}
    removed_paths.add("v1/bundles/v2/latest.json")  # v2 has no other config to point to
    assert after == {p: data for p, data in before.items() if p not in removed_paths}

    # keep_latest=0 still keeps every pinned bundle; bundles of no dataset need older_than.
    assert keys(store.gc(keep_latest=0).removed) == {("v3", A)}
    assert keys(store.list()) == PINNED | {("loose", A)}
    assert keys(store.gc(older_than=ZERO).removed) == {("loose", A)}
    assert keys(store.list()) == PINNED
    for data_id, config_id in PINNED:
        store.get(data_id, config_id)
    assert_same_bundle(store.get(dataset="sales", config_id=B), bundle_of(1, CFG_B))
    assert store.verify(grace=ZERO).ok


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_gc_older_than_removes_only_bundles_created_before_the_cutoff(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # gc's cutoff is taken after its own listing, so it lands that long after `middle`:
    # on the fast stores here a short margin covers it (older_than=0 on S3 is tested above).
    store = make_case(kind, tmp_path, request).open()
    store.put(bundle_of(1, data_id="old-loose"))
    store.put(bundle_of(2, data_id="old-named"), dataset="sales")
    store.put(bundle_of(3, data_id="old-pinned"), dataset="pinned")
    time.sleep(0.02)
    middle = dt.datetime.now(dt.UTC)
    time.sleep(0.3)
    store.put(bundle_of(4, data_id="new-loose"))
    store.put(bundle_of(5, data_id="new-named"), dataset="sales")
    store.put(bundle_of(6, data_id="new-named-2"), dataset="sales")

    assert store.gc(older_than=dt.timedelta(days=1)).removed == []
    report = store.gc(older_than=dt.datetime.now(dt.UTC) - middle)
    assert keys(report.removed) == {("old-loose", A), ("old-named", A)}
    assert keys(store.list()) == {
        ("old-pinned", A),
        ("new-loose", A),
        ("new-named", A),
        ("new-named-2", A),
    }
    # Both conditions must hold: new-named is beyond keep_latest=0 but young.
    assert store.gc(keep_latest=0, older_than=dt.timedelta(days=1)).removed == []
    assert keys(store.gc(keep_latest=0).removed) == {("new-named", A)}


def test_gc_removes_leftovers_only_past_grace(case: StoreCase) -> None:
    store = case.open()
    bundle = bundle_of(1)
    store.put(bundle, dataset="sales")
    published = stored_files(store)
    folder = folder_of(store, "v1", A)
    leftovers = sorted(
        [
            f"{folder}/pack-{'0' * 32}.bin",  # a pack no manifest names
            f"{folder}/manifest.json.tmp-{uuid.uuid4().hex}",  # an interrupted local write
            f"{folder_of(store, 'v9', A)}/pack-{'1' * 32}.bin",  # a pack whose manifest never came
            f"{store.root}/v1/datasets/sales/latest.json.tmp-{uuid.uuid4().hex}",
        ]
    )
    for path in leftovers:
        write_raw(store, path, b"partial")
    with_leftovers = stored_files(store)

    assert store.verify().orphans == []  # younger than the default grace: maybe a write in progress
    assert store.gc(keep_latest=1).removed_files == []
    assert store.verify(grace=ZERO).orphans == leftovers
    dry = store.gc(keep_latest=1, grace=ZERO, dry_run=True)
    assert dry.removed_files == leftovers and dry.removed == []
    assert stored_files(store) == with_leftovers

    report = store.gc(keep_latest=1, grace=ZERO)
    assert report.removed_files == leftovers and report.removed == []
    assert stored_files(store) == published
    assert_same_bundle(store.get(dataset="sales"), bundle)
    assert store.verify(grace=ZERO) == VerifyReport(checked=1)


def test_gc_needs_a_policy() -> None:
    store = BundleStore(f"memory://gc-{uuid.uuid4().hex}")
    with pytest.raises(ValueError, match="keep_latest"):
        store.gc()
    with pytest.raises(ValueError, match=">= 0"):
        store.gc(keep_latest=-1)


# ---------------------------------------------------------------- the hot path on S3


class CountingProxy:
    """A reverse proxy in front of the moto server that records every HTTP request."""

    def __init__(self, upstream: str) -> None:
        self._upstream = urlsplit(upstream)
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def take(self) -> list[tuple[str, str]]:
        """Requests seen since the last call, as (method, unquoted path and query)."""
        with self._lock:
            seen, self._requests = self._requests, []
        return seen

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy._requests.append((self.command, unquote(self.path)))
                upstream = http.client.HTTPConnection(
                    proxy._upstream.hostname, proxy._upstream.port, timeout=30
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        return Handler


@pytest.fixture(scope="module")
def s3_proxy(s3_server: S3Server) -> Iterator[CountingProxy]:
    proxy = CountingProxy(s3_server.endpoint)
    yield proxy
    proxy.close()


def counted_case(s3_server: S3Server, proxy: CountingProxy, bucket: str | None = None) -> StoreCase:
    """An S3 store whose every request goes through ``proxy``."""
    bucket = bucket or s3_server.new_bucket()
    return StoreCase("s3", f"s3://{bucket}/hot", S3Server(proxy.endpoint).storage_options)


def test_loading_one_bundle_from_s3_takes_two_gets_and_nothing_else(
    s3_server: S3Server, s3_proxy: CountingProxy
) -> None:
    case = counted_case(s3_server, s3_proxy)
    bucket = urlsplit(case.url).netloc
    bundle = bundle_of(3)
    s3_proxy.take()
    case.open().put(bundle, dataset="hot")
    put_requests = s3_proxy.take()
    direct = StoreCase("s3", case.url, s3_server.storage_options).open()  # not through the proxy
    pack_name = pack_path(direct, "v3", A).rsplit("/", 1)[-1]
    folder = f"/{bucket}/hot/v1/bundles/v3/{A}"
    # put: pack, then the manifest (the commit point), its listing entry, then pointers, then
    # the manifest read back and one LIST of the folder (other entries of the key go).
    (entry,) = [path for _, path in put_requests if "/entry~" in path]
    assert entry.startswith(f"{folder}/entry~hot~")
    prefix = folder.split("/", 2)[2]
    assert put_requests == [
        ("PUT", f"{folder}/{pack_name}"),
        ("PUT", f"{folder}/manifest.json"),
        ("PUT", entry),
        ("PUT", f"/{bucket}/hot/v1/bundles/v3/latest.json"),
        ("PUT", f"/{bucket}/hot/v1/datasets/hot/config-{A}.json"),
        ("PUT", f"/{bucket}/hot/v1/datasets/hot/latest.json"),
        ("GET", f"{folder}/manifest.json"),
        ("GET", f"/{bucket}?list-type=2&prefix={prefix}/&delimiter=&encoding-type=url"),
    ]
    two_gets = [("GET", f"{folder}/manifest.json"), ("GET", f"{folder}/{pack_name}")]

    assert_same_bundle(case.open().get("v3", A), bundle)
    assert s3_proxy.take() == two_gets
    assert_same_bundle(case.load("v3", config=CFG_A), bundle)
    assert s3_proxy.take() == two_gets
    assert_same_bundle(case.load("v3", config=A), bundle)
    assert s3_proxy.take() == []  # served from the process cache
    case.load("v3", cache=False)
    assert s3_proxy.take() == [("GET", f"/{bucket}/hot/v1/bundles/v3/latest.json"), *two_gets]
    case.load(dataset="hot", cache=False)
    assert s3_proxy.take() == [("GET", f"/{bucket}/hot/v1/datasets/hot/latest.json"), *two_gets]


# ---------------------------------------------------------------- other processes


def start_python(code: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    """Another Python process, in the repository (so it can import these helpers)."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err[-3000:]
    return out


WRITE_IN_CHILD = """
import json, sys
import buckaroo_assets as ba
from tests.test_store import CFG_A, numbers
url, options, seed = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
bundle = ba.build_bundle(numbers(seed=seed), data_id=f"child-{seed}", config=CFG_A)
entry = ba.BundleStore(url, options).put(bundle, dataset="from-child")
print(json.dumps([entry.data_id, entry.config_id]))
"""

READ_IN_CHILD = """
import json, sys
import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
url, options, data_id = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
bundle = ba.load_bundle(data_id, store=url, storage_options=options)
print(json.dumps({
    "key": [bundle.data_id, bundle.config_id],
    "stats": codec.dumps(bundle.stats).decode(),
    "schema": bundle.schema.to_string(),
    "window": bundle.first_window.to_pylist(),
    "rows": bundle.rows,
}))
"""


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_written_in_one_process_read_in_another(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = make_case(kind, tmp_path, request)
    options = json.dumps(case.storage_options or {})
    mine = bundle_of(7, data_id="parent-7")
    case.open().put(mine)
    # Both children at once: one writes a bundle for this process, one reads ours.
    writer = start_python(WRITE_IN_CHILD, case.url, options, "4")
    reader = start_python(READ_IN_CHILD, case.url, options, "parent-7")

    assert json.loads(finish(writer)) == ["child-4", A]
    expected = ba.build_bundle(numbers(seed=4), data_id="child-4", config=CFG_A)
    got = case.open().get(dataset="from-child")
    assert codec.dumps(got.stats) == codec.dumps(expected.stats)
    assert_same_table(got.first_window, numbers(seed=4).slice(0, CFG_A.window_rows))

    seen = json.loads(finish(reader))
    assert seen == {
        "key": ["parent-7", A],
        "stats": codec.dumps(mine.stats).decode(),
        "schema": numbers().schema.to_string(),
        "window": numbers(seed=7).slice(0, CFG_A.window_rows).to_pylist(),
        "rows": ROWS,
    }


# ---------------------------------------------------------------- unsafe ids

BAD_IDS = ["../x", "a/b", "", "x" * 5000, "a\x00b", "a\nb", "s3://x", "file:///etc", "..", "a b"]


class _ForgedConfig:
    """A config whose id is not one StatsConfig could produce."""

    def __init__(self, config_id: str) -> None:
        self.config_id = config_id

    def to_dict(self) -> dict[str, Any]:
        return {}


UNSAFE_OPS: dict[str, Callable[[BundleStore, StoreCase, ba.Bundle, str], object]] = {
    "get(data_id, config_id)": lambda s, c, b, bad: s.get(bad, A),
    "get(data_id)": lambda s, c, b, bad: s.get(bad),
    "get(config_id)": lambda s, c, b, bad: s.get("ok", bad),
    "get(dataset)": lambda s, c, b, bad: s.get(dataset=bad),
    "get(dataset, config_id)": lambda s, c, b, bad: s.get(dataset="ok", config_id=bad),
    "put(data_id)": lambda s, c, b, bad: s.put(dataclasses.replace(b, data_id=bad)),
    "put(config_id)": lambda s, c, b, bad: s.put(dataclasses.replace(b, config=_ForgedConfig(bad))),
    "put(dataset)": lambda s, c, b, bad: s.put(b, dataset=bad),
    "exists(data_id)": lambda s, c, b, bad: s.exists(bad, A),
    "exists(config_id)": lambda s, c, b, bad: s.exists("ok", bad),
    "delete(data_id)": lambda s, c, b, bad: s.delete(bad, A, force=True),
    "delete(config_id)": lambda s, c, b, bad: s.delete("ok", bad, force=True),
    "fetch(data_id)": lambda s, c, b, bad: s.fetch(bad, A),
    "load_bundle(data_id, config)": lambda s, c, b, bad: c.load(bad, config=CFG_A),
    "load_bundle(data_id)": lambda s, c, b, bad: c.load(bad),
    "load_bundle(config)": lambda s, c, b, bad: c.load("ok", config=bad),
    "load_bundle(dataset)": lambda s, c, b, bad: c.load(dataset=bad),
    "load_bundle(dataset, config)": lambda s, c, b, bad: c.load(dataset="ok", config=bad),
}


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("op", sorted(UNSAFE_OPS))
def test_unsafe_ids_are_refused_before_any_io(
    kind: str, op: str, tmp_path: Path, s3_server: S3Server, s3_proxy: CountingProxy
) -> None:
    bundle = bundle_of(1, data_id="ok")
    if kind == "file":
        case = StoreCase(kind, str(tmp_path / "never-created"))
    elif kind == "memory":
        case = StoreCase(kind, f"memory://never-{uuid.uuid4().hex}")
    else:  # a bucket that does not exist, behind a proxy that counts every request
        case = counted_case(s3_server, s3_proxy, bucket=f"missing-{uuid.uuid4().hex[:12]}")
    store = case.open()
    s3_proxy.take()
    for bad in BAD_IDS:
        with pytest.raises(UnsafeDataIdError) as raised:
            UNSAFE_OPS[op](store, case, bundle, bad)
        assert isinstance(raised.value, ValueError)
        assert len(str(raised.value)) < 400  # a 5,000-character id is not echoed whole
    assert s3_proxy.take() == []
    assert not (tmp_path / "never-created").exists()
    assert not [
        k for k in [*MemoryFileSystem.store, *MemoryFileSystem.pseudo_dirs] if "never-" in k
    ]


# ---------------------------------------------------------------- concurrent writers


def _assert_one_clean_bundle(case: StoreCase, data_id: str, seed: int) -> None:
    store = case.open()
    report = store.verify(grace=ZERO)
    assert report.ok and report.checked == 1 and report.orphans == [], report
    assert keys(store.list()) == {(data_id, A)}
    got = store.get(dataset="race")
    expected = ba.build_bundle(numbers(seed=seed), data_id=data_id, config=CFG_A)
    assert codec.dumps(got.stats) == codec.dumps(expected.stats)
    assert_same_table(got.first_window, numbers(seed=seed).slice(0, CFG_A.window_rows))
    files = stored_files(store)
    pack = pack_path(store, data_id, A)[len(store.root) + 1 :]
    entries = [p for p in files if p.startswith(f"v1/bundles/{data_id}/{A}/entry~race~")]
    assert len(entries) == 1, entries  # the listing entry of the key: one, however many puts
    assert set(files) == {
        f"v1/bundles/{data_id}/{A}/manifest.json",
        pack,
        *entries,
        f"v1/bundles/{data_id}/latest.json",
        "v1/datasets/race/latest.json",
        f"v1/datasets/race/config-{A}.json",
    }
    assert re.fullmatch(rf"v1/bundles/{data_id}/{A}/pack-[0-9a-f]{{32}}\.bin", pack)


def at_once(store_case: StoreCase, *writers: Callable[[BundleStore], None]) -> None:
    """Runs each writer on its own thread and store, all starting together; none may fail."""
    start = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def run(write: Callable[[BundleStore], None]) -> None:
        try:
            store = store_case.open()
            start.wait()
            write(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(write,)) for write in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_threads_writing_one_key_at_once_leave_one_valid_bundle(case: StoreCase) -> None:
    # Built separately, as two workers would: same key and content, different build timings.
    bundles = [ba.build_bundle(numbers(seed=5), data_id="same", config=CFG_A) for _ in range(2)]

    def writer(bundle: ba.Bundle) -> Callable[[BundleStore], None]:
        def write(store: BundleStore) -> None:
            for _ in range(8):
                store.put(bundle, dataset="race")

        return write

    at_once(case, *map(writer, bundles))
    _assert_one_clean_bundle(case, "same", 5)


RACE_IN_CHILD = """
import json, sys
import buckaroo_assets as ba
from tests.test_store import CFG_A, numbers
url, options = sys.argv[1], json.loads(sys.argv[2])
store = ba.BundleStore(url, options)
bundle = ba.build_bundle(numbers(seed=6), data_id="same", config=CFG_A)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(6):
    store.put(bundle, dataset="race")
print("done", flush=True)
"""


def test_two_processes_writing_one_key_at_once_leave_one_valid_bundle(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Local renames from two processes (threads cover every store kind above).
    case = make_case("file", tmp_path, request)
    options = json.dumps(case.storage_options or {})
    children = [
        start_python(RACE_IN_CHILD, case.url, options, stdin=subprocess.PIPE) for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:  # both start writing together
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    assert [finish(child) for child in children] == ["done\n", "done\n"]
    _assert_one_clean_bundle(case, "same", 6)
