"""Crashes, a dying store and damage: a bundle is visible only once whole, and damage is
reported (``BundleCorrupted``, ``verify``), never returned as data."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from botocore.exceptions import BotoCoreError

import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
from buckaroo_assets.store import BundleStore, VerifyReport

from .conftest import S3Server, free_port, sigkill_at_line
from .test_store import (
    CFG_A,
    CFG_B,
    REPO_ROOT,
    STORE_KINDS,
    ZERO,
    A,
    B,
    StoreCase,
    assert_same_bundle,
    bundle_of,
    folder_of,
    make_case,
    manifest_path,
    numbers,
    pack_path,
    stored_files,
    write_raw,
)


@pytest.fixture(params=STORE_KINDS)
def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return make_case(request.param, tmp_path, request)


def assert_nothing_published(case: StoreCase, data_id: str, dataset: str) -> None:
    """No reader, by any route, sees a bundle of ``data_id``."""
    store = case.open()
    assert store.list() == []
    assert store.datasets() == {}
    assert not store.exists(data_id, A)
    for request in (
        {"data_id": data_id, "config_id": A},
        {"data_id": data_id},
        {"dataset": dataset},
    ):
        with pytest.raises(ba.BundleNotFound):
            store.get(**request)
    with pytest.raises(ba.BundleNotFound):
        case.load(data_id, config=CFG_A, cache=False)
    with pytest.raises(ba.BundleNotFound):
        case.load(data_id, cache=False)


# ---------------------------------------------------------------- killed mid-write

KILLED_IN_CHILD = """
import json, sys, time
import buckaroo_assets as ba
from tests.test_store import CFG_A, numbers

url, options = sys.argv[1], json.loads(sys.argv[2])
store = ba.BundleStore(url, options)
fs = store.fs

def stall_at_commit(path):
    # The manifest is the commit point: its PUT on object stores, its rename on local disk.
    if path.endswith("/manifest.json"):
        print("parts-written", flush=True)
        time.sleep(600)

real_pipe_file, real_mv = fs.pipe_file, fs.mv

def pipe_file(path, *args, **kwargs):
    stall_at_commit(path)
    return real_pipe_file(path, *args, **kwargs)

def mv(source, target, *args, **kwargs):
    stall_at_commit(target)
    return real_mv(source, target, *args, **kwargs)

fs.pipe_file, fs.mv = pipe_file, mv
store.put(ba.build_bundle(numbers(seed=8), data_id="killed", config=CFG_A), dataset="killed")
print("published", flush=True)
"""


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_sigkill_before_the_manifest_leaves_nothing_visible(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = make_case(kind, tmp_path, request)
    args = ["-c", KILLED_IN_CHILD, case.url, json.dumps(case.storage_options or {})]
    sigkill_at_line(args, "parts-written", REPO_ROOT)

    store = case.open()
    files = stored_files(store)
    # The pack (and on local disk the manifest's unrenamed temporary file), nothing else.
    packs = [p for p in files if p.rsplit("/", 1)[-1].startswith("pack-")]
    temps = [p for p in files if ".tmp-" in p]
    assert len(packs) == 1 and set(files) == {*packs, *temps}
    assert [p.rsplit("/", 1)[-1].split(".tmp-")[0] for p in temps] == (
        ["manifest.json"] if kind == "file" else []
    )
    assert_nothing_published(case, "killed", "killed")

    # Within grace this looks like a write in progress: not reported, not collected.
    assert store.verify() == VerifyReport()
    assert store.gc(keep_latest=1).removed_files == []
    leftovers = sorted(f"{store.root}/{p}" for p in files)
    assert store.verify(grace=ZERO) == VerifyReport(orphans=leftovers)
    report = store.gc(keep_latest=1, grace=ZERO)
    assert report.removed == [] and report.removed_files == leftovers
    assert stored_files(store) == {}

    bundle = ba.build_bundle(numbers(seed=8), data_id="killed", config=CFG_A)
    store.put(bundle, dataset="killed")  # the re-run
    assert store.verify(grace=ZERO) == VerifyReport(checked=1)
    assert_same_bundle(case.load("killed", config=CFG_A, cache=False), bundle)
    assert_same_bundle(case.open().get(dataset="killed"), bundle)


# ---------------------------------------------------------------- the store dies mid-write


def test_a_store_that_dies_after_the_pack_fails_the_put_and_publishes_nothing() -> None:
    """The put fails with StoreUnavailable naming the manifest; nothing is published."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = S3Server(f"http://127.0.0.1:{port}")
        fail_fast = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2}
        case = StoreCase(
            "s3",
            f"s3://{s3.new_bucket()}/dying",
            {**s3.storage_options, "config_kwargs": fail_fast},
        )
        writer = case.open()
        seen: dict[str, Any] = {}
        real_write = writer.files.write

        def write(path: str, data: bytes) -> None:
            if path.endswith("/manifest.json"):
                # The parts are stored and nothing is published; then the store goes away.
                seen["files"] = stored_files(case.open())
                seen["listed"] = case.open().list()
                with pytest.raises(ba.BundleNotFound):
                    case.open().get("dying", A)
                server.stop()
            real_write(path, data)

        writer.files.write = write  # type: ignore[method-assign]
        with pytest.raises(ba.StoreUnavailable) as caught:  # documented, the cause kept
            writer.put(bundle_of(3, data_id="dying"), dataset="dying")
        assert "cannot write" in str(caught.value) and "manifest.json" in str(caught.value)
        assert isinstance(caught.value.__cause__, BotoCoreError | OSError)
        assert isinstance(caught.value, OSError)  # callers catching OSError still do
        # Reads of a store that is down fail the same documented way, naming the object.
        for read in (
            lambda: case.open().get("dying", A),
            lambda: case.load("dying", config=CFG_A, cache=False),
            lambda: case.open().list(),
        ):
            with pytest.raises(ba.StoreUnavailable, match="cannot (read|list)"):
                read()
        assert seen["listed"] == []
        assert [p.rsplit("/", 1)[-1][:5] for p in seen["files"]] == ["pack-"]

        # moto keeps its state in this process: the restarted endpoint serves the same bucket.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        reader = StoreCase("s3", case.url, s3.storage_options)  # fresh client, usual retries
        assert stored_files(reader.open()) == seen["files"]
        assert_nothing_published(reader, "dying", "dying")
        store = reader.open()
        assert store.verify(grace=ZERO) == VerifyReport(
            orphans=[f"{store.root}/{p}" for p in seen["files"]]
        )
    finally:
        server.stop()


# ---------------------------------------------------------------- damaged bundles


def reseal(manifest: dict[str, Any]) -> bytes:
    """Re-compute a manifest's checksum the way packing does, so only the other checks stand."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return codec.dumps({**body, "checksum": hashlib.sha256(codec.dumps(body)).hexdigest()})


def read_raw_manifest(store: BundleStore, data_id: str, config_id: str) -> dict[str, Any]:
    manifest = codec.loads(store.fs.cat_file(manifest_path(store, data_id, config_id)))
    assert isinstance(manifest, dict)
    return manifest


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _part(store: BundleStore, name: str) -> dict[str, Any]:
    return next(p for p in read_raw_manifest(store, "v1", A)["parts"] if p["name"] == name)


def _edit_pack(edit: Callable[[BundleStore, bytes], bytes | None]) -> Callable[[BundleStore], None]:
    def damage(store: BundleStore) -> None:
        path = pack_path(store, "v1", A)
        changed = edit(store, store.fs.cat_file(path))
        if changed is None:
            store.fs.rm_file(path)
        else:
            write_raw(store, path, changed)

    return damage


def _edit_manifest(
    edit: Callable[[BundleStore, dict[str, Any]], None], *, seal: bool
) -> Callable[[BundleStore], None]:
    def damage(store: BundleStore) -> None:
        manifest = read_raw_manifest(store, "v1", A)
        edit(store, manifest)
        raw = reseal(manifest) if seal else codec.dumps(manifest)
        write_raw(store, manifest_path(store, "v1", A), raw)

    return damage


def _replace_manifest(make: Callable[[BundleStore], bytes]) -> Callable[[BundleStore], None]:
    def damage(store: BundleStore) -> None:
        write_raw(store, manifest_path(store, "v1", A), make(store))

    return damage


def _set(key: str, value: Any) -> Callable[[BundleStore, dict[str, Any]], None]:
    def edit(store: BundleStore, manifest: dict[str, Any]) -> None:
        manifest[key] = value

    return edit


def _bump(key: str) -> Callable[[BundleStore, dict[str, Any]], None]:
    def edit(store: BundleStore, manifest: dict[str, Any]) -> None:
        manifest[key] += 1

    return edit


def _swap_part_offsets(store: BundleStore, manifest: dict[str, Any]) -> None:
    stats, window = manifest["parts"]
    stats["offset"], window["offset"] = window["offset"], stats["offset"]


def _part_past_pack(store: BundleStore, manifest: dict[str, Any]) -> None:
    manifest["parts"][1]["size"] += 1


def _pack_outside_folder(store: BundleStore, manifest: dict[str, Any]) -> None:
    other = pack_path(store, "v2", A).rsplit("/", 1)[-1]
    manifest["pack"]["name"] = f"../../v2/{A}/{other}"


def _column_type_changed(store: BundleStore, manifest: dict[str, Any]) -> None:
    schema = pa.schema([pa.field("n", pa.string()), pa.field("s", pa.string())])
    manifest["arrow_schema"] = base64.b64encode(schema.serialize().to_pybytes()).decode()


def _other_config(store: BundleStore, manifest: dict[str, Any]) -> None:
    manifest["config"] = CFG_B.to_dict()


def _other_data_id(store: BundleStore, manifest: dict[str, Any]) -> None:
    manifest["data_id"] = "v2"


DAMAGE: dict[str, Callable[[BundleStore], None]] = {
    "stats part byte flipped": _edit_pack(
        lambda s, pack: _flip(pack, _part(s, "stats")["offset"] + _part(s, "stats")["size"] // 2)
    ),
    "window part byte flipped": _edit_pack(
        lambda s, pack: _flip(pack, _part(s, "window")["offset"] + _part(s, "window")["size"] // 2)
    ),
    "pack truncated by one byte": _edit_pack(lambda s, pack: pack[:-1]),
    "pack cut in half": _edit_pack(lambda s, pack: pack[: len(pack) // 2]),
    "pack grown by one byte": _edit_pack(lambda s, pack: pack + b"\0"),
    "pack missing": _edit_pack(lambda s, pack: None),
    "pack is another bundle's": _edit_pack(lambda s, pack: s.fs.cat_file(pack_path(s, "v2", A))),
    "manifest is garbage": _replace_manifest(lambda s: b"\x8b\x00\xffnot a manifest"),
    "manifest is empty": _replace_manifest(lambda s: b""),
    "manifest is 100k brackets deep": _replace_manifest(lambda s: b"[" * 100_000),
    "manifest is other JSON": _replace_manifest(lambda s: b'{"format": "something else"}'),
    "manifest truncated": _replace_manifest(
        lambda s: s.fs.cat_file(manifest_path(s, "v1", A))[:-40]
    ),
    "manifest is another key's": _replace_manifest(
        lambda s: s.fs.cat_file(manifest_path(s, "v2", A))
    ),
    "manifest rows edited": _edit_manifest(_bump("rows"), seal=False),
    "resealed: rows edited": _edit_manifest(_bump("rows"), seal=True),
    "resealed: window_rows edited": _edit_manifest(_bump("window_rows"), seal=True),
    "resealed: columns edited": _edit_manifest(_bump("columns"), seal=True),
    "resealed: data_id of another bundle": _edit_manifest(_other_data_id, seal=True),
    "resealed: config of another config_id": _edit_manifest(_other_config, seal=True),
    "resealed: part offsets swapped": _edit_manifest(_swap_part_offsets, seal=True),
    "resealed: part reaches past the pack": _edit_manifest(_part_past_pack, seal=True),
    "resealed: pack outside the bundle's folder": _edit_manifest(_pack_outside_folder, seal=True),
    "resealed: a column's type changed": _edit_manifest(_column_type_changed, seal=True),
    "resealed: created_at without a zone": _edit_manifest(
        _set("created_at", "2024-01-01T00:00:00"), seal=True
    ),
    "resealed: newer format_version": _edit_manifest(_set("format_version", 2), seal=True),
}


# S3 over HTTP costs tens of milliseconds a request: there, one damage of each kind.
DAMAGE_ON_S3 = (
    "stats part byte flipped",
    "pack missing",
    "manifest is garbage",
    "resealed: newer format_version",
)
DAMAGE_CASES = [
    *[("file", d) for d in sorted(DAMAGE)],
    *[("memory", d) for d in sorted(DAMAGE)],
    *[("s3", d) for d in DAMAGE_ON_S3],
]


def publish_two(case: StoreCase) -> tuple[ba.Bundle, ba.Bundle]:
    """v1 in dataset "sales" (the one damaged) and its untouched neighbour v2 in "other"."""
    store = case.open()
    v1, v2 = bundle_of(1), bundle_of(2)
    store.put(v1, dataset="sales")
    store.put(v2, dataset="other")
    return v1, v2


def test_resealing_an_unchanged_manifest_reproduces_it(store_case: StoreCase) -> None:
    publish_two(store_case)
    store = store_case.open()
    raw = store.fs.cat_file(manifest_path(store, "v1", A))
    assert reseal(codec.loads(raw)) == raw  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "damage"), DAMAGE_CASES)
def test_damage_is_an_error_never_data(
    kind: str, damage: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = make_case(kind, tmp_path, request)
    v1, v2 = publish_two(case)
    store = case.open()
    DAMAGE[damage](store)
    damaged = stored_files(store)
    newer = damage.endswith("newer format_version")
    expected_error = ba.BundleMismatch if newer else ba.BundleCorrupted

    for attempt in (
        lambda: store.get("v1", A),
        lambda: case.open().get(dataset="sales"),
        lambda: case.load("v1", config=CFG_A, cache=False),
        lambda: case.load(dataset="sales", cache=False),
    ):
        with pytest.raises(expected_error) as raised:
            attempt()
        if newer:
            assert raised.value.reason == "format_version"  # type: ignore[attr-defined]
    assert_same_bundle(store.get("v2", A), v2)  # the neighbour is untouched

    report = store.verify()
    assert report.checked == 2
    assert [(d.data_id, d.config_id) for d in report.damaged] == [("v1", A)], report.damaged
    # gc keeps damage (and another version's data) for people to look at.
    assert store.gc(keep_latest=0, grace=ZERO).removed_files == []
    assert stored_files(store) == damaged

    store.put(v1, dataset="sales")  # publishing again repairs it
    assert store.verify(grace=ZERO) == VerifyReport(checked=2)
    assert_same_bundle(case.load("v1", config=CFG_A, cache=False), v1)


# ---------------------------------------------------------------- damaged pointers


def _dataset_pointer(store: BundleStore, dataset: str, config_id: str | None = None) -> str:
    name = "latest.json" if config_id is None else f"config-{config_id}.json"
    return f"{store.root}/v1/datasets/{dataset}/{name}"


def _id_pointer(store: BundleStore, data_id: str) -> str:
    return f"{store.root}/v1/bundles/{data_id}/latest.json"


POINTER_DAMAGE: dict[
    str, tuple[Callable[[BundleStore], str], Callable[[BundleStore], bytes], dict[str, Any]]
] = {
    # name: (pointer to damage, its new content, the request that reads it)
    "dataset pointer is garbage": (
        lambda s: _dataset_pointer(s, "sales"),
        lambda s: b"\x00garbage",
        {"dataset": "sales"},
    ),
    "dataset pointer is a list": (
        lambda s: _dataset_pointer(s, "sales"),
        lambda s: b"[1, 2]",
        {"dataset": "sales"},
    ),
    "dataset pointer names an unsafe id": (
        lambda s: _dataset_pointer(s, "sales"),
        lambda s: codec.dumps({"data_id": "../v2", "config_id": A}),
        {"dataset": "sales"},
    ),
    "per-config pointer names another config": (
        lambda s: _dataset_pointer(s, "sales", A),
        lambda s: s.fs.cat_file(_dataset_pointer(s, "sales", B)),
        {"dataset": "sales", "config_id": A},
    ),
    "data_id pointer names another data_id": (
        lambda s: _id_pointer(s, "v1"),
        lambda s: s.fs.cat_file(_id_pointer(s, "v2")),
        {"data_id": "v1"},
    ),
    # A pointer copied from another dataset would serve that dataset's bundle under this name.
    "dataset pointer copied from another dataset": (
        lambda s: _dataset_pointer(s, "sales"),
        lambda s: _other_datasets_pointer(s, None),
        {"dataset": "sales"},
    ),
    "per-config pointer copied from another dataset": (
        lambda s: _dataset_pointer(s, "sales", A),
        lambda s: _other_datasets_pointer(s, A),
        {"dataset": "sales", "config_id": A},
    ),
    "dataset pointer that does not say whose it is": (
        lambda s: _dataset_pointer(s, "sales"),
        lambda s: codec.dumps({"data_id": "v1", "config_id": A, "published_at": "2026-01-01"}),
        {"dataset": "sales"},
    ),
}


def _other_datasets_pointer(store: BundleStore, config_id: str | None) -> bytes:
    """Publish v2 as dataset 'other' and return its pointer's bytes."""
    store.put(bundle_of(2), dataset="other")
    return store.fs.cat_file(_dataset_pointer(store, "other", config_id))


@pytest.mark.parametrize("damage", sorted(POINTER_DAMAGE))
def test_a_damaged_pointer_is_an_error_never_another_bundle(
    store_case: StoreCase, damage: str
) -> None:
    store = store_case.open()
    v1 = bundle_of(1)
    for bundle in (v1, bundle_of(1, CFG_B)):
        store.put(bundle, dataset="sales")
    store.put(bundle_of(2))
    where, content, request = POINTER_DAMAGE[damage]
    path = where(store)
    write_raw(store, path, content(store))

    with pytest.raises(ba.BundleCorrupted):
        store.get(**request)
    with pytest.raises(ba.BundleCorrupted):
        store_case.load(
            cache=False, **{k.replace("config_id", "config"): v for k, v in request.items()}
        )
    assert_same_bundle(store.get("v1", A), v1)  # the bundle itself is fine
    report = store.verify()
    assert [(d.path, d.data_id, d.config_id) for d in report.damaged] == [(path, None, None)]
    assert report.checked == 3


def test_verify_reports_pointers_to_bundles_that_are_gone(store_case: StoreCase) -> None:
    store = store_case.open()
    store.put(bundle_of(1), dataset="sales")
    store.put(bundle_of(2), dataset="other")
    for path in store.fs.find(folder_of(store, "v1", A)):  # removed behind the store's back
        store.fs.rm_file(path)

    with pytest.raises(ba.BundleNotFound):
        store.get(dataset="sales")
    report = store.verify()
    assert report.checked == 1
    assert sorted((d.path, d.data_id, d.config_id) for d in report.damaged) == sorted(
        [
            (_dataset_pointer(store, "sales"), "v1", A),
            (_dataset_pointer(store, "sales", A), "v1", A),
            (_id_pointer(store, "v1"), "v1", A),
        ]
    )
    assert all("not published" in d.reason for d in report.damaged)


def test_gc_keeps_the_pack_of_a_bundle_in_a_newer_format(store_case: StoreCase) -> None:
    store = store_case.open()
    store.put(bundle_of(1))
    manifest = read_raw_manifest(store, "v1", A)
    manifest = copy.deepcopy(manifest)
    manifest["format_version"] = 2
    write_raw(store, manifest_path(store, "v1", A), reseal(manifest))
    before = stored_files(store)

    report = store.gc(older_than=ZERO, grace=ZERO)
    assert report.removed == [] and report.removed_files == []
    assert stored_files(store) == before
    assert [d.data_id for d in store.verify().damaged] == ["v1"]


def test_a_read_only_store_serves_loads_and_refuses_writes_naming_the_object(tmp_path) -> None:
    """A zip archive of a store (fsspec's zip:// is read-only): reads work, a put is a
    StoreUnavailable that says which object it was writing, and nothing is left behind."""
    import shutil

    bundle = bundle_of(4, data_id="frozen")
    BundleStore(str(tmp_path / "store")).put(bundle, dataset="frozen")
    archive = shutil.make_archive(str(tmp_path / "store"), "zip", tmp_path / "store")
    store = BundleStore(f"zip://::{archive}")
    assert_same_bundle(ba.load_bundle(dataset="frozen", store=store, cache=False), bundle)
    with pytest.raises(ba.StoreUnavailable) as caught:
        store.put(bundle_of(5, data_id="thawed"), dataset="thawed")
    message = str(caught.value)
    assert message.startswith("cannot write /v1/bundles/thawed/") and "pack-" in message
    assert [e.data_id for e in store.list()] == ["frozen"]
