"""Listing a store reads names, not bundles: ``list()``, ``ls`` and ``ls --dataset``.

On S3 (moto over real HTTP, every request counted by a proxy) a listing costs
the LISTs and one GET per dataset pointer, however many bundles each dataset
has; what it says equals what reading every manifest says. The entry objects
that make this possible follow the commit protocol (never a bundle whose
manifest is not written), survive concurrent writers, older stores without
them, and gc and delete.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buckaroo_assets.cli.main import main
from buckaroo_assets.store import BundleStore

from .conftest import S3Server
from .test_store import (
    CFG_A,
    CFG_B,
    STORE_KINDS,
    ZERO,
    A,
    CountingProxy,
    StoreCase,
    at_once,
    bundle_of,
    make_case,
    manifest_path,
    stored_files,
)

DATASETS = 10
VERSIONS = 3  # 30 bundles


@pytest.fixture(params=STORE_KINDS)
def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return make_case(request.param, tmp_path, request)


@pytest.fixture(scope="module")
def proxy(s3_server: S3Server) -> Iterator[CountingProxy]:
    counting = CountingProxy(s3_server.endpoint)
    yield counting
    counting.close()


# ---------------------------------------------------------------- what the manifests say


def oracle(store: BundleStore, dataset: str | None = None) -> list[dict[str, Any]]:
    """``list()`` as JSON, from reading every manifest and pointer as plain JSON, directly.

    With ``dataset``: its bundles, pinned by its own pointers.
    """
    store.fs.invalidate_cache()
    paths = store.fs.find(f"{store.root}/v1")
    pinned: dict[tuple[str, str], list[str]] = {}
    for path in sorted(p for p in paths if "/v1/datasets/" in p):
        owner, name = path.rsplit("/", 2)[-2:]
        if dataset in (None, owner):
            pointer = json.loads(store.fs.cat_file(path))
            label = owner if name == "latest.json" else f"{owner}@{name[7:-5]}"
            pinned.setdefault((pointer["data_id"], pointer["config_id"]), []).append(label)
    rows = []
    for path in (p for p in paths if p.endswith("/manifest.json")):
        raw = store.fs.cat_file(path)
        manifest = json.loads(raw)
        if dataset not in (None, manifest.get("dataset")):
            continue
        key = (manifest["data_id"], manifest["config_id"])
        rows.append({
            "dataset": manifest.get("dataset"),
            "data_id": key[0],
            "config_id": key[1],
            "rows": manifest["rows"],
            "columns": manifest["columns"],
            "bytes": len(raw) + manifest["pack"]["size"],
            "manifest_bytes": len(raw),
            "pack_bytes": manifest["pack"]["size"],
            "created_at": dt.datetime.fromisoformat(manifest["created_at"]).isoformat(),
            "pinned_by": pinned.get(key, []),
        })  # fmt: skip
    created = dt.datetime.fromisoformat
    return sorted(rows, key=lambda r: (created(r["created_at"]), r["data_id"], r["config_id"]))


def listed(store: BundleStore, dataset: str | None = None) -> list[dict[str, Any]]:
    return [e.to_json() for e in store.list(dataset=dataset)]


def entry_objects(store: BundleStore) -> dict[str, list[str]]:
    """Bundle folder (relative to the root) -> names of the entry objects in it."""
    found: dict[str, list[str]] = {}
    for path in stored_files(store):
        folder, name = path.rsplit("/", 1)
        if name.startswith("entry~"):
            found.setdefault(folder, []).append(name)
    return found


def manifest_folders(store: BundleStore) -> set[str]:
    return {p.rsplit("/", 1)[0] for p in stored_files(store) if p.endswith("/manifest.json")}


def assert_one_entry_per_manifest(store: BundleStore) -> None:
    """No orphan entry, no earlier publication's entry, no bundle of this version without one."""
    entries = entry_objects(store)
    assert set(entries) == manifest_folders(store)
    assert all(len(names) == 1 for names in entries.values()), entries


def publish(store: BundleStore, versions: range) -> None:
    """``ds<d>`` gets version ``v`` of its data; a few versions under a second config
    (the same datasets' whatever the versions, so the same pointers)."""
    for v in versions:
        for d in range(DATASETS):
            config = CFG_B if (d + v % VERSIONS) % 4 == 0 else CFG_A
            store.put(bundle_of(100 * d + v, config, f"ds{d}-v{v}"), dataset=f"ds{d}")


# ---------------------------------------------------------------- requests on S3


@dataclass
class Requests:
    lists: list[str]  # prefixes listed
    gets: list[str]  # objects read
    others: list[tuple[str, str]]


def requests_of(proxy: CountingProxy) -> Requests:
    seen = Requests([], [], [])
    for method, target in proxy.take():
        path, _, query = target.partition("?")
        if method == "GET" and "list-type=2" in query:
            seen.lists.append(query.split("prefix=", 1)[1].split("&", 1)[0])
        elif method == "GET" and not query:
            seen.gets.append(path)
        else:
            seen.others.append((method, target))
    return seen


def pointer_paths(store: BundleStore, dataset: str | None = None) -> list[str]:
    """Every dataset pointer (of one dataset) as the proxy sees its path."""
    store.fs.invalidate_cache()
    under = f"{store.root}/v1/datasets" + (f"/{dataset}" if dataset else "")
    return sorted(f"/{p}" for p in store.fs.find(under) if p.endswith(".json"))


def cli_ls(case: StoreCase, endpoint: str, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    options = S3Server(endpoint).storage_options
    flags = [
        "--store", case.url,
        "--storage-option", f"key={options['key']}",
        "--storage-option", f"secret={options['secret']}",
        "--storage-option", f"client_kwargs.endpoint_url={endpoint}",
        "--storage-option", "client_kwargs.region_name=us-east-1",
    ]  # fmt: skip
    capsys.readouterr()
    assert main(["ls", *args, "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)["bundles"]


def counted_store(s3_server: S3Server, proxy: CountingProxy) -> tuple[StoreCase, BundleStore]:
    """A fresh S3 store reached through ``proxy``, and the same store reached directly."""
    case = StoreCase(
        "s3", f"s3://{s3_server.new_bucket()}/listed", S3Server(proxy.endpoint).storage_options
    )
    return case, StoreCase("s3", case.url, s3_server.storage_options).open()


def assert_requests(seen: Requests, prefixes: list[str], gets: list[str]) -> None:
    """Exactly these LISTs (key prefixes) and these GETs, in any order; nothing else."""
    assert sorted(seen.lists) == sorted(prefixes)
    assert sorted(seen.gets) == sorted(gets)
    assert seen.others == []


def test_listing_s3_costs_a_get_per_dataset_pointer_not_per_bundle(
    s3_server: S3Server, proxy: CountingProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    case, direct = counted_store(s3_server, proxy)
    store = case.open()
    publish(store, range(VERSIONS))
    everything = oracle(direct)
    assert len(everything) == DATASETS * VERSIONS
    pointers = pointer_paths(direct)
    assert len(pointers) == 27  # per dataset: latest, and one per config it used (1 or 2)
    bundles, datasets = "listed/v1/bundles/", "listed/v1/datasets/"

    requests_of(proxy)
    assert listed(store) == everything
    assert_requests(requests_of(proxy), [bundles, datasets], pointers)
    assert cli_ls(case, proxy.endpoint, capsys) == everything
    assert_requests(requests_of(proxy), [bundles, datasets], pointers)

    one = "ds3"  # two configs: three pointers
    mine = oracle(direct, one)
    assert len(mine) == VERSIONS
    assert listed(store, one) == mine
    assert_requests(requests_of(proxy), [bundles, f"{datasets}{one}/"], pointer_paths(direct, one))
    assert cli_ls(case, proxy.endpoint, capsys, "--dataset", one) == mine
    assert_requests(requests_of(proxy), [bundles, f"{datasets}{one}/"], pointer_paths(direct, one))
    assert len(pointer_paths(direct, one)) == 3

    # Twice the versions, the same datasets and configs: the same requests.
    publish(store, range(VERSIONS, 2 * VERSIONS))
    assert len(oracle(direct)) == 2 * DATASETS * VERSIONS
    assert pointer_paths(direct) == pointers
    requests_of(proxy)
    assert listed(store) == oracle(direct)
    assert_requests(requests_of(proxy), [bundles, datasets], pointers)

    # verify still reads (and checks) every manifest.
    report = store.verify()
    assert report.ok and report.checked == 2 * DATASETS * VERSIONS
    read = {p for p in requests_of(proxy).gets if p.endswith("/manifest.json")}
    assert len(read) == 2 * DATASETS * VERSIONS


def test_bundles_without_entry_objects_are_read_from_their_manifests_only(
    s3_server: S3Server, proxy: CountingProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store written before entry objects existed: those bundles, and only those, are read."""
    case, direct = counted_store(s3_server, proxy)
    store = case.open()
    publish(store, range(2))
    store.put(bundle_of(7, data_id="loose"))  # of no dataset
    old = [folder for folder in entry_objects(direct) if folder.split("/")[2].endswith("-v0")]
    old.append(f"v1/bundles/loose/{A}")
    for folder in old:  # what an older version wrote: pack, manifest, pointers
        for name in entry_objects(direct)[folder]:
            direct.fs.rm_file(f"{direct.root}/{folder}/{name}")
    old_manifests = sorted(f"/{direct.root}/{folder}/manifest.json" for folder in old)

    requests_of(proxy)
    assert listed(store) == oracle(direct)
    seen = requests_of(proxy)
    assert sorted(seen.gets) == sorted(pointer_paths(direct) + old_manifests)
    assert cli_ls(case, proxy.endpoint, capsys, "--dataset", "ds1") == oracle(direct, "ds1")
    seen = requests_of(proxy)
    assert sorted(seen.gets) == sorted(pointer_paths(direct, "ds1") + old_manifests)

    # gc, which reads every manifest anyway, gives each kept bundle its entry.
    assert store.gc(keep_latest=2).removed == []
    assert_one_entry_per_manifest(direct)
    requests_of(proxy)
    assert listed(store) == oracle(direct)
    assert sorted(requests_of(proxy).gets) == pointer_paths(direct)


# ---------------------------------------------------------------- the commit protocol


class Killed(Exception):
    """The writer stopped here."""


def test_a_bundle_whose_manifest_is_missing_never_appears(store_case: StoreCase) -> None:
    store = store_case.open()
    store.put(bundle_of(1, data_id="kept"), dataset="sales")
    store.put(bundle_of(2, data_id="unpublished"), dataset="sales")

    # A put stopped before its manifest: only the pack is there.
    writer = store_case.open()
    real_write = writer.files.write

    def write(path: str, data: bytes) -> None:
        if path.endswith("/manifest.json"):
            raise Killed(path)
        real_write(path, data)

    writer.files.write = write  # type: ignore[method-assign]
    with pytest.raises(Killed):
        writer.put(bundle_of(3, data_id="killed"), dataset="sales")
    assert [p.rsplit("/", 1)[-1][:5] for p in stored_files(store) if "/killed/" in p] == ["pack-"]

    # A delete stopped after unpublishing: pack and entry object, no manifest.
    store.fs.rm_file(manifest_path(store, "unpublished", A))
    orphans = sorted(
        f"{store.root}/{p}"
        for p in stored_files(store)
        if "/unpublished/" in p and "/latest" not in p
    )
    assert [p.rsplit("/", 1)[-1][:5] for p in orphans] == ["entry", "pack-"]

    expected = oracle(store)
    assert [(e["data_id"], e["dataset"]) for e in expected] == [("kept", "sales")]
    assert listed(store) == expected
    assert listed(store, "sales") == oracle(store, "sales")

    # verify and gc see the entry object of no bundle as a leftover, once past grace.
    assert store.verify().orphans == []
    killed_pack = [f"{store.root}/{p}" for p in stored_files(store) if "/killed/" in p]
    assert store.verify(grace=ZERO).orphans == sorted(orphans + killed_pack)
    assert store.gc(keep_latest=5, grace=ZERO).removed_files == sorted(orphans + killed_pack)
    assert_one_entry_per_manifest(store)
    assert listed(store) == expected


def test_an_entry_older_than_its_manifest_is_not_used(store_case: StoreCase) -> None:
    """Put again, stopped between the manifest and the entry: the listing reads the manifest."""
    store = store_case.open()
    first = store.put(bundle_of(1), dataset="sales")
    time.sleep(1.1)  # object stores list modification times to the second
    writer = store_case.open()
    real_write = writer.files.write

    def write(path: str, data: bytes) -> None:
        if path.rsplit("/", 1)[-1].startswith("entry~"):
            raise Killed(path)
        real_write(path, data)

    writer.files.write = write  # type: ignore[method-assign]
    with pytest.raises(Killed):
        writer.put(bundle_of(1), dataset="sales")
    (entry,) = store.list()
    assert entry.created_at > first.created_at
    assert listed(store) == oracle(store)

    # gc removes the earlier publication's entry and writes this one's.
    assert store.gc(keep_latest=1, grace=ZERO).removed == []
    assert_one_entry_per_manifest(store)
    assert store.list() == [entry]


def test_gc_and_delete_leave_no_entry_object_without_its_bundle(store_case: StoreCase) -> None:
    store = store_case.open()
    for seed in (1, 2, 3, 4):
        time.sleep(0.002)  # created_at has millisecond resolution
        store.put(bundle_of(seed), dataset="sales")
    odd = "odd.tmp-name"  # a dataset name a temporary file's mark is part of
    store.put(bundle_of(5, data_id="o1"), dataset=odd)
    store.put(bundle_of(6, data_id="loose"))
    store.put(bundle_of(4), dataset="sales")  # v4 put again: its earlier entry goes
    assert_one_entry_per_manifest(store)

    assert store.delete("v2", A)
    assert not any("/v2/" in folder for folder in entry_objects(store))
    report = store.gc(keep_latest=1, grace=ZERO)
    assert sorted(e.data_id for e in report.removed) == ["v1", "v3"]
    assert report.removed_files == []  # the odd dataset's entry is no temporary file
    assert_one_entry_per_manifest(store)
    expected = oracle(store)
    assert [(e["data_id"], e["dataset"]) for e in expected] == [
        ("o1", odd), ("loose", None), ("v4", "sales"),
    ]  # fmt: skip
    assert listed(store) == expected
    assert listed(store, odd) == oracle(store, odd)
    assert store.delete("o1", A, force=True)
    assert_one_entry_per_manifest(store)
    assert listed(store) == oracle(store)


def test_two_writers_of_different_datasets_at_once_both_appear(store_case: StoreCase) -> None:
    def writer(name: str, seeds: range) -> Callable[[BundleStore], None]:
        def write(store: BundleStore) -> None:
            for seed in seeds:
                store.put(bundle_of(seed, data_id=f"{name}-{seed}"), dataset=name)

        return write

    at_once(store_case, writer("left", range(0, 6)), writer("right", range(10, 16)))
    store = store_case.open()
    expected = oracle(store)
    assert len(expected) == 12
    assert listed(store) == expected
    for name in ("left", "right"):
        assert [e["data_id"] for e in listed(store, name)] == [
            e["data_id"] for e in expected if e["dataset"] == name
        ]
    assert_one_entry_per_manifest(store)


def test_two_writers_of_one_key_at_once_leave_one_entry(store_case: StoreCase) -> None:
    """Each put leaves only the entry of the manifest it finds; gc makes sure of it."""
    bundles = [bundle_of(5, data_id="same") for _ in range(2)]

    def writer(bundle: Any, dataset: str) -> Callable[[BundleStore], None]:
        def write(store: BundleStore) -> None:
            for _ in range(6):
                store.put(bundle, dataset=dataset)

        return write

    at_once(store_case, *(writer(b, n) for b, n in zip(bundles, ("left", "right"), strict=True)))
    store = store_case.open()
    assert [len(names) for names in entry_objects(store).values()] == [1]
    assert len(store.list()) == 1
    store.gc(keep_latest=1, grace=ZERO)
    assert_one_entry_per_manifest(store)
    assert listed(store) == oracle(store)
