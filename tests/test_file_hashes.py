"""Remembered hashes of local files: reused only while the file is provably unchanged."""

import json
import os
import time
from pathlib import Path

import pytest

import buckaroo_assets as ba
from buckaroo_assets.store import file_hashes

from .conftest import bytes_read

SIZE = 8 << 20  # large enough that reading it shows up unmistakably in the process' I/O


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files older than the settle time, one per test that changes them."""
    folder = tmp_path_factory.mktemp("sources")
    for name in ("unchanged", "same_size", "renamed", "corrupt_memo", "dirty"):
        (folder / name).write_bytes(os.urandom(SIZE))
    tree = folder / "tree"
    tree.mkdir()
    for part in ("a", "b"):
        (tree / part).write_bytes(os.urandom(1 << 16))
    time.sleep(file_hashes.SETTLE_SECONDS + 0.2)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> ba.BundleStore:
    return ba.BundleStore((tmp_path / "store").as_uri())


def entries(store: ba.BundleStore) -> list[dict]:
    folder = Path(store.root) / "v1" / "file-hashes"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_an_unchanged_file_is_hashed_once(settled: Path, store: ba.BundleStore) -> None:
    path = str(settled / "unchanged")
    plain = ba.data_id_for(path)
    start = bytes_read()
    assert ba.data_id_for(path, memo=store.file_hashes) == plain
    assert bytes_read() - start >= SIZE  # the first call reads the file
    (entry,) = entries(store)
    assert entry["file_id"] == plain and entry["stat"]["size"] == SIZE
    start = bytes_read()
    for _ in range(5):
        assert ba.data_id_for(path, memo=store.file_hashes) == plain
    assert bytes_read() - start < SIZE // 8  # later calls read only the memo
    # another store instance (another process) sees the same memo
    again = ba.BundleStore(store.url)
    start = bytes_read()
    assert ba.data_id_for(path, memo=again.file_hashes) == plain
    assert bytes_read() - start < SIZE // 8


def test_a_rewrite_of_equal_size_and_restored_mtime_is_noticed(
    settled: Path, store: ba.BundleStore
) -> None:
    path = settled / "same_size"
    ba.data_id_for(str(path), memo=store.file_hashes)
    (remembered,) = entries(store)
    st = path.stat()
    with open(path, "r+b") as f:  # same size, one byte different
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or `rsync -t` would
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    now = ba.data_id_for(str(path), memo=store.file_hashes)
    assert now == ba.data_id_for(str(path)) != remembered["file_id"]


def test_a_file_replaced_by_rename_is_noticed(settled: Path, store: ba.BundleStore) -> None:
    path = settled / "renamed"
    first = ba.data_id_for(str(path), memo=store.file_hashes)
    st = path.stat()
    replacement = settled / "renamed.new"
    replacement.write_bytes(os.urandom(SIZE))
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    replacement.replace(path)
    now = ba.data_id_for(str(path), memo=store.file_hashes)
    assert now == ba.data_id_for(str(path)) != first


def test_a_fresh_file_is_not_remembered(tmp_path: Path, store: ba.BundleStore) -> None:
    """Written within the settle time: a second write could leave every stat field equal."""
    path = tmp_path / "fresh"
    path.write_bytes(b"x" * 1000)
    assert ba.data_id_for(str(path), memo=store.file_hashes) == ba.data_id_for(str(path))
    assert entries(store) == []


def test_a_damaged_or_foreign_memo_costs_a_read_not_a_wrong_id(
    settled: Path, store: ba.BundleStore
) -> None:
    path = str(settled / "corrupt_memo")
    plain = ba.data_id_for(path)
    ba.data_id_for(path, memo=store.file_hashes)
    (memo_file,) = (Path(store.root) / "v1" / "file-hashes").glob("*.json")
    entry = json.loads(memo_file.read_text())
    for damaged in (
        b"{not json",
        b"[]",
        json.dumps({**entry, "file_id": 7}).encode(),
        json.dumps({**entry, "stat": {**entry["stat"], "ino": entry["stat"]["ino"] + 1}}).encode(),
        json.dumps({**entry, "host": "elsewhere", "file_id": "file-" + "0" * 32}).encode(),
        # remembered under an older id scheme (no scheme, or another): never reused
        json.dumps({k: v for k, v in entry.items() if k != "scheme"} | {"file_id": "file-" + "1" * 32}).encode(),
        json.dumps({**entry, "scheme": "blake2b-128", "file_id": "file-" + "2" * 32}).encode(),
    ):
        memo_file.write_bytes(damaged)
        start = bytes_read()
        assert ba.data_id_for(path, memo=store.file_hashes) == plain
        assert bytes_read() - start >= SIZE
        assert json.loads(memo_file.read_bytes()) == entry  # rewritten with the truth


def test_directories_reuse_each_files_hash(settled: Path, store: ba.BundleStore) -> None:
    tree = settled / "tree"
    plain = ba.data_id_for(str(tree))
    assert ba.data_id_for(str(tree), memo=store.file_hashes) == plain
    assert len(entries(store)) == 2
    assert ba.data_id_for(str(tree), memo=store.file_hashes) == plain
    (tree / "b").write_bytes(os.urandom(1 << 16))
    assert ba.data_id_for(str(tree), memo=store.file_hashes) == ba.data_id_for(str(tree)) != plain


def test_a_read_only_store_still_gives_the_true_id(
    settled: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store's folders would go")
    memo = ba.BundleStore(blocked.as_uri()).file_hashes
    path = str(settled / "dirty")
    assert ba.data_id_for(path, memo=memo) == ba.data_id_for(path)
    assert "will be read again" in caplog.text


def test_memo_is_not_used_for_in_memory_or_remote_paths(store: ba.BundleStore) -> None:
    import fsspec

    with fsspec.open("memory://memo-test/a.csv", "wb") as f:
        f.write(b"a\n1\n")
    url = "memory://memo-test/a.csv"
    assert ba.data_id_for(url, memo=store.file_hashes) == ba.data_id_for(url)
    assert entries(store) == []
