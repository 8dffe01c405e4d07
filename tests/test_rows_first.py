"""Rows first, stats after: a build in progress shows its first window, never as a bundle.

Builds are paused from inside their progress callback, so every reader of
the store (load_bundle, the store's own get/resolve/list/verify/gc, another
producer, the server) is looked at while the partial state exists, on a
local folder and on S3 (moto over HTTP).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import io
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.build.builder import BuildProgress
from buckaroo_assets.build.publish import Published, ensure_bundle, first_rows
from buckaroo_assets.bundle import codec
from buckaroo_assets.bundle.config import StatsConfig
from buckaroo_assets.store import BundleStore
from buckaroo_assets.store.partial_state import PARTIAL_MARKER, STALE_AFTER
from buckaroo_assets.viewer.server import BundleServer
from tests.conftest import sigkill_at_line
from tests.test_server import get
from tests.test_viewer_browser import body_cell, browser, wait_for_grid  # noqa: F401 - a fixture

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = StatsConfig(block_rows=1_000, window_rows=100)
ROWS = 20_000
BANNER = "building: stats not ready yet; rows shown from the partial window"
REFRESH = '<meta http-equiv="refresh" content="5">'


def source_table(rows: int = ROWS) -> pa.Table:
    return pa.table(
        {
            "x": pa.array(range(rows), pa.int64()),
            "s": pa.array([f"s{i % 97}" for i in range(rows)]),
            "ts": pa.array(range(rows), pa.timestamp("s", tz="Europe/Paris")),
        }
    )


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BundleStore:
    if request.param == "file":
        return BundleStore(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    return BundleStore(f"s3://{server.new_bucket()}/store", server.storage_options)


def building_files(store: BundleStore) -> list[str]:
    return sorted(store.files.find(store.layout.building()))


@dataclass
class PausedBuild:
    """``ensure_bundle`` on a thread, held at its first progress call until released."""

    store: BundleStore
    source: Any
    dataset: str | None = "trips"
    fail_with: BaseException | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    result: Published | None = None
    error: BaseException | None = None

    def progress(self, _: BuildProgress) -> None:
        self.reached.set()
        assert self.gate.wait(60), "never released"
        if self.fail_with is not None:
            raise self.fail_with

    def run(self) -> None:
        try:
            self.result = ensure_bundle(
                self.store, self.source, config=CONFIG, dataset=self.dataset, progress=self.progress
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    def __enter__(self) -> PausedBuild:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        assert self.reached.wait(60), f"the build never reached its first block: {self.error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def test_a_build_in_progress_shows_its_first_rows_and_is_never_a_bundle(store: BundleStore) -> None:
    table = source_table()
    data_id = ba.data_id_for(table)
    with PausedBuild(store, table) as build:
        for request in (
            {"dataset": "trips"},
            {"data_id": data_id, "config": CONFIG},
            {"data_id": data_id},
        ):
            with pytest.raises(ba.BundleNotFound, match="is in progress.*allow_partial=True"):
                ba.load_bundle(**request, store=store)
            partial = ba.load_bundle(**request, store=store, allow_partial=True)
            assert partial.partial is True and "partial=True" in repr(partial)
            assert partial.first_window.equals(table.slice(0, CONFIG.window_rows))
            assert partial.rows == ROWS  # a table knows its length up front
            assert partial.meta["state"] == "partial" and partial.created_at is None
            assert [e["orig_col_name"] for e in partial.stats.values()] == table.column_names
            assert all(
                set(e) == {"orig_col_name", "dtype", "arrow_type"} for e in partial.stats.values()
            )
        aloaded = asyncio.run(ba.aload_bundle(dataset="trips", store=store, allow_partial=True))
        assert aloaded.partial and aloaded.first_window.equals(partial.first_window)
        assert ba.cache_report()["entries"] == 0  # partial states are never cached

        # Nothing that reads bundles sees it.
        with pytest.raises(ba.BundleNotFound):
            store.get(data_id, CONFIG.config_id)
        with pytest.raises(ba.BundleNotFound):
            store.resolve(dataset="trips")
        assert not store.exists(data_id, CONFIG.config_id) and store.list() == []
        report = store.verify(grace=_dt.timedelta(0))
        assert (report.checked, report.damaged, report.orphans) == (0, [], [])
        (entry,) = report.building
        assert (entry.data_id, entry.dataset, entry.stale) == (data_id, "trips", False)
        assert entry.to_json()["state"] == "partial" and entry.rows_total == ROWS
        assert store.gc(keep_latest=0, grace=_dt.timedelta(0)).removed_files == []  # alive: kept
        assert [p.rsplit("/", 1)[-1] for p in building_files(store)] == [
            PARTIAL_MARKER,
            "window.bin",
        ]
    assert build.error is None and build.result is not None and not build.result.hit

    assert building_files(store) == [] and store.in_progress() == []
    complete = ba.load_bundle(dataset="trips", store=store, allow_partial=True)
    assert complete.partial is False and "mean" in complete.stats["a"]
    assert complete.first_window.equals(partial.first_window)
    assert store.verify().checked == 1 and store.verify().building == []


def test_another_producer_is_not_a_hit_on_a_partial_state(store: BundleStore) -> None:
    table = source_table()
    with PausedBuild(store, table) as first:
        second = ensure_bundle(store, table, config=CONFIG, dataset="trips")
        assert second.hit is False and second.bundle.partial is False
        assert "mean" in second.bundle.stats["a"]
        # Committed: the partial state is obsolete, and readers get the complete bundle.
        assert building_files(store) == []
        assert ba.load_bundle(dataset="trips", store=store, allow_partial=True).partial is False
    assert first.error is None and first.result is not None
    assert ensure_bundle(store, table, config=CONFIG, dataset="trips").hit is True
    assert building_files(store) == []


def failing_parquet_folder(folder: Path) -> str:
    """A Parquet folder whose first file reads fine and whose second does not match it."""
    folder.mkdir()
    pq.write_table(source_table(3_000), folder / "part-0.parquet")
    pq.write_table(pa.table({"other": [1, 2, 3]}), folder / "part-1.parquet")
    return str(folder)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(RuntimeError("cancelled"), id="the build raises"),
        pytest.param(KeyboardInterrupt(), id="the build is interrupted"),
    ],
)
def test_a_failed_or_interrupted_build_leaves_no_partial_state(
    store: BundleStore, failure: BaseException
) -> None:
    with PausedBuild(store, source_table(), fail_with=failure) as build:
        assert len(building_files(store)) == 2
    assert type(build.error) is type(failure)
    assert building_files(store) == [] and store.list() == []
    with pytest.raises(ba.BundleNotFound) as missing:
        ba.load_bundle(dataset="trips", store=store, allow_partial=True)
    assert "in progress" not in str(missing.value)


def test_a_source_whose_later_rows_fail_leaves_no_partial_state(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    source = failing_parquet_folder(tmp_path / "parts")
    seen: list[int] = []

    def progress(_: BuildProgress) -> None:
        seen.append(len(building_files(store)))

    with pytest.raises(ba.UnsupportedSourceError, match="does not have the same schema"):
        ensure_bundle(store, source, config=CONFIG, dataset="parts", progress=progress)
    assert seen and set(seen) == {2}  # the partial state existed while the first file was read
    assert building_files(store) == [] and store.list() == []


def test_a_one_shot_stream_builds_without_a_partial_state(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    table = source_table(3_000)
    seen: list[int] = []
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(500))
    published = ensure_bundle(
        store,
        reader,
        config=CONFIG,
        data_id="stream",
        progress=lambda _: seen.append(len(building_files(store))),
    )
    assert set(seen) == {0} and published.bundle.rows == 3_000


def age_marker(store: BundleStore, data_id: str, config_id: str, age: _dt.timedelta) -> None:
    """Make a partial state look as if its build started ``age`` ago."""
    path = f"{store.layout.building(data_id, config_id)}/{PARTIAL_MARKER}"
    marker = codec.loads(store.files.cat(path, path))
    started = _dt.datetime.now(_dt.UTC) - age
    marker["started_at"] = started.isoformat(timespec="milliseconds")
    store.files.write(path, codec.dumps(marker))


KILLED_IN_CHILD = """
import os, sys, time
import pyarrow as pa
from buckaroo_assets.build.publish import ensure_bundle
from buckaroo_assets.bundle.config import StatsConfig
from buckaroo_assets.store import BundleStore

def stop(_):
    print("building", flush=True)
    time.sleep(600)

table = pa.table({"x": range(20_000)})
config = StatsConfig(block_rows=1_000, window_rows=100)
ensure_bundle(BundleStore(sys.argv[1]), table, config=config, dataset="killed", progress=stop)
"""


def test_a_killed_build_leaves_a_partial_state_that_goes_stale_and_gc_removes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    sigkill_at_line(["-c", KILLED_IN_CHILD, str(root)], "building", REPO_ROOT)
    store = BundleStore(root)
    (entry,) = store.in_progress()
    assert not entry.stale  # as far as anyone can tell, still building
    assert store.gc(keep_latest=1).removed_files == []
    assert ba.load_bundle(dataset="killed", store=store, allow_partial=True).partial

    age_marker(store, entry.data_id, entry.config_id, STALE_AFTER + _dt.timedelta(minutes=1))
    (stale,) = store.verify().building
    assert stale.stale and store.verify().ok and store.verify().checked == 0
    for request in ({"dataset": "killed"}, {"data_id": entry.data_id, "config": entry.config_id}):
        with pytest.raises(ba.BundleNotFound) as missing:
            ba.load_bundle(**request, store=store, allow_partial=True)
        assert "in progress" not in str(missing.value)
    with pytest.raises(ba.BundleNotFound, match="never finished: its partial state is stale"):
        store.get_partial(entry.data_id, entry.config_id)
    with BundleServer(store) as server:
        assert get(f"{server.url}/datasets/killed")[0] == 404
        assert json.loads(get(f"{server.url}/index.json")[1]) == []
        assert get(f"{server.url}/bundles/{entry.data_id}/{entry.config_id}")[0] == 404

    dry = store.gc(keep_latest=1, dry_run=True)
    assert len(dry.removed_files) == 2 and len(building_files(store)) == 2
    report = store.gc(keep_latest=1)
    assert report.removed_files == dry.removed_files and building_files(store) == []
    assert store.in_progress() == [] and store.verify().building == []


def test_a_window_without_its_marker_is_abandoned_once_old(tmp_path: Path) -> None:
    """A build stopped between its two writes leaves a window nothing serves; gc takes it when old."""
    store = BundleStore(tmp_path / "store")
    table = source_table(500)
    partial = first_rows(table, "half-written", CONFIG)
    store.put_partial(partial, build="b1")
    store.files.remove(
        f"{store.layout.building('half-written', CONFIG.config_id)}/{PARTIAL_MARKER}"
    )
    assert store.in_progress() == [] and store.gc(keep_latest=1).removed_files == []
    (window,) = building_files(store)
    old = (_dt.datetime.now() - STALE_AFTER - _dt.timedelta(minutes=1)).timestamp()
    os.utime(window, (old, old))
    assert store.gc(keep_latest=1).removed_files == [window] and building_files(store) == []


def test_a_build_removes_only_its_own_partial_state_when_it_fails(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    partial = first_rows(source_table(500), "shared", CONFIG)
    store.put_partial(partial, build="other")
    assert store.remove_partial("shared", CONFIG.config_id, build="mine") is False
    assert store.get_partial("shared", CONFIG.config_id).partial
    assert store.remove_partial("shared", CONFIG.config_id) is True
    assert building_files(store) == []
    with pytest.raises(ValueError, match="partial bundle"):
        store.put_partial(ba.build_bundle(source_table(10), data_id="whole"), build="x")


def window_rows_of(page: str) -> pa.Table:
    data = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    return pq.read_table(io.BytesIO(base64.b64decode(data["df_data"]["data"])))


def test_the_server_shows_a_build_in_progress_then_its_bundle(store: BundleStore) -> None:
    table = source_table()
    data_id = ba.data_id_for(table)
    page_url = f"/bundles/{data_id}/{CONFIG.config_id}"
    with BundleServer(store, workers=2) as server, PausedBuild(store, table):
        status, _, headers = get(f"{server.url}/datasets/trips?embed=Buckaroo")
        assert status == 302 and headers["Location"] == f"{page_url}?embed=Buckaroo"
        for embed in ("DFViewer", "Buckaroo"):
            status, body, headers = get(f"{server.url}{page_url}?embed={embed}")
            page = body.decode()
            assert status == 200 and headers["Cache-Control"] == "no-store"
            assert BANNER in page and REFRESH in page and "all stats exact" not in page
            assert "first 100 of 20,000 rows" in page
            shown = window_rows_of(page)
            assert shown.num_rows == 100 and shown.column("a").to_pylist() == list(range(100))
        status, body, headers = get(f"{server.url}{page_url}/stats.json")
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert json.loads(body)["partial"] is True
        status, body, headers = get(f"{server.url}{page_url}/window.parquet?end=10")
        assert pq.read_table(io.BytesIO(body)).column(0).to_pylist() == list(range(10))
        index = get(f"{server.url}/")[1].decode()
        assert f'>{data_id}</a> <span class="building"' in index
        (listed,) = json.loads(get(f"{server.url}/index.json")[1])
        assert (listed["state"], listed["data_id"], listed["page"]) == (
            "partial",
            data_id,
            page_url,
        )
    with BundleServer(store, workers=2) as server:
        status, body, headers = get(f"{server.url}{page_url}")
        page = body.decode()
        assert status == 200 and headers["Cache-Control"] == "max-age=300"
        assert BANNER not in page and REFRESH not in page and "all stats exact" in page
        (listed,) = json.loads(get(f"{server.url}/index.json")[1])
        assert listed["state"] == "complete" and listed["latest"] is True


def test_a_browser_sees_rows_at_once_and_the_stats_after_a_refresh(
    browser: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    store = BundleStore(tmp_path / "store")
    table = source_table()
    with BundleServer(store, workers=2) as server:
        with PausedBuild(store, table):
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.url}/datasets/trips")
            wait_for_grid(page)
            assert BANNER in page.inner_text(".ba-header")
            assert body_cell(page, 0, "a") == "0" and body_cell(page, 3, "a") == "3"
        # Released: the page reloads itself into the complete bundle's.
        page.wait_for_selector(".ba-header .ba-exact", timeout=30_000)  # survives the reloads
        wait_for_grid(page)
        assert page.query_selector(".ba-building") is None
        assert REFRESH not in page.content()
        assert problems == []
        page.close()


def test_verify_on_the_command_line_lists_a_build_in_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from buckaroo_assets.cli import main

    store = BundleStore(tmp_path / "store")
    table = source_table()
    with PausedBuild(store, table):
        capsys.readouterr()
        assert main(["verify", "--store", store.url]) == 0  # a build is not damage
        text = capsys.readouterr().out
        assert f"BUILDING  {ba.data_id_for(table)} {CONFIG.config_id} (trips, started " in text
        assert text.strip().endswith("0 damaged, 0 leftover files, 1 build in progress or stale")
        assert main(["verify", "--store", store.url, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert [(b["dataset"], b["state"], b["stale"]) for b in report["building"]] == [
            ("trips", "partial", False)
        ]
    assert main(["verify", "--store", store.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["building"] == []
