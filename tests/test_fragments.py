"""Fragmented datasets: one Dagster step per fragment, partials in the store, one merge step.

Real instances, real stores (a local folder, S3 over HTTP on loopback) and
real executors (in-process, multiprocess with 2 processes, a local Dask
cluster of worker processes); nothing is mocked. Every merged bundle is
compared with ``build_bundle`` of the whole (codec dumps of the stats).
"""

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.build.partials import fragments_data_id
from buckaroo_assets.dagster import BundleStoreResource, FragmentedDataset, buckaroo_definitions
from buckaroo_assets.dagster.component import BuckarooBundles
from buckaroo_assets.store import file_hashes

from .conftest import S3Server, bytes_read, dagster_materialize
from .test_partials import assert_same_bundle

KEY = "buckaroo"
# Files of whole blocks: every float sum of the merge is bit-identical (docs/partials.md).
CONFIG = ba.StatsConfig(block_rows=1_000)

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
]


def table(rows: int, seed: int) -> pa.Table:
    """Columns below the distinct threshold: every stat of the merge is exact (docs/partials.md)."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=rows) * 100, 1)
    values[rng.random(rows) < 0.05] = np.nan
    return pa.table(
        {
            "id": pa.array((np.arange(rows) + seed * 7) % 5_000),
            "x": pa.array(values),
            "kind": pa.array([f"k{(i * 7 + seed) % 13}" for i in range(rows)]),
        }
    )


def write_plain(data: pa.Table, path: Path) -> None:
    pq.write_table(data, path, compression="none", use_dictionary=False)


def whole(source: str, storage_options: dict[str, Any] | None = None) -> ba.Bundle:
    return ba.build_bundle(source, config=CONFIG, storage_options=storage_options)


def run(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)


def partial_states(result: dg.ExecuteInProcessResult, name: str) -> dict[str, str]:
    """Fragment id -> 'built' or 'reused', from the partial steps' output metadata."""
    found = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_OUTPUT and f"{name}_partial[" in (
            event.step_key or ""
        ):
            metadata = event.event_specific_data.metadata  # type: ignore[union-attr]
            found[metadata["fragment"].value] = metadata["partial"].value
    return found


def the_materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization  # type: ignore[union-attr]


# ---------------------------------------------------------------- in process: incremental


def test_a_new_file_reads_only_itself_and_the_merge_equals_the_whole(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):  # uncompressed, so old files' bytes stand out from Dagster's own reads
        write_plain(table(300_000, i), folder / f"part-{i}.parquet")
    (folder / "_SUCCESS").write_text("")  # skipped, as pyarrow datasets skip it
    time.sleep(file_hashes.SETTLE_SECONDS + 0.2)  # so the store remembers their hashes
    url = (tmp_path / "store").as_uri()
    defs = buckaroo_definitions(
        [FragmentedDataset("events", str(folder))],
        store=BundleStoreResource(url=url), config=CONFIG,
    )  # fmt: skip

    first = run(defs, instance)
    assert partial_states(first, "events") == dict.fromkeys(
        ["part-0.parquet", "part-1.parquet", "part-2.parquet"], "built"
    )
    store = ba.BundleStore(url)
    partials = sorted(p.rsplit("/v1/", 1)[1] for p in store.fs.find(f"{store.root}/v1/partials"))
    assert partials == [f"partials/events/.members-{CONFIG.config_id}.json"] + [
        f"partials/events/part-{i}.parquet/{CONFIG.config_id}/"
        f"{ba.data_id_for(str(folder / f'part-{i}.parquet'))}.partial"
        for i in range(3)
    ]

    write_plain(table(2_000, 9), folder / "part-3.parquet")
    new_bytes = (folder / "part-3.parquet").stat().st_size
    time.sleep(file_hashes.SETTLE_SECONDS + 0.2)
    start = bytes_read()
    second = run(defs, instance)
    read = bytes_read() - start
    assert partial_states(second, "events") == {
        "part-0.parquet": "reused",
        "part-1.parquet": "reused",
        "part-2.parquet": "reused",
        "part-3.parquet": "built",
    }

    mat = the_materialization(second)
    assert mat.metadata["cache"].value == "miss"
    want = whole(str(folder))
    got = ba.load_bundle(dataset="events", store=url)
    assert_same_bundle(got, want)
    assert got.meta["fragments"] == 4
    assert mat.metadata["dagster/row_count"].value == want.rows
    assert mat.metadata["data_id"].value == got.data_id == fragments_data_id(
        [(f"part-{i}.parquet", ba.data_id_for(str(folder / f"part-{i}.parquet"))) for i in range(4)]
    )
    assert {(e.check_name, e.passed) for e in second.get_asset_check_evaluations()} == {
        ("bundle_integrity", True),
        ("stats_consistency", True),
        ("freshness", True),
    }

    start = bytes_read()
    third = run(defs, instance)  # nothing changed: the bundle is a hit
    baseline = bytes_read() - start  # Dagster's own files and the store, no data
    assert set(partial_states(third, "events").values()) == {"reused"}
    assert the_materialization(third).metadata["cache"].value == "hit"
    # The new file is read (hashed, then built); no old file, or this would be 6.7 MB more.
    smallest_old = min(p.stat().st_size for p in folder.glob("part-[012].parquet"))
    assert read - baseline < smallest_old // 2, (read, baseline, smallest_old, new_bytes)

    # A deleted file: the next merge lists three fragments again (the first run's bundle,
    # a hit), and gc removes the vanished fragment's partial, and only it.
    live = sorted(store.fs.find(f"{store.root}/v1/partials/events"))
    assert store.gc(keep_latest=5, grace=dt.timedelta(0)).removed_files == []  # all still listed
    (folder / "part-3.parquet").unlink()
    fourth = run(defs, instance)
    assert the_materialization(fourth).metadata["cache"].value == "hit"
    gone = [p for p in live if "/part-3.parquet/" in p and p.endswith(".partial")]
    assert len(gone) == 1
    assert store.gc(keep_latest=5, grace=dt.timedelta(hours=1)).removed_files == []  # too young
    store.fs.pipe_file(f"{store.root}/v1/partials/events/stray.partial", b"x")  # no fragment folder
    assert store.gc(keep_latest=5, grace=dt.timedelta(0)).removed_files == gone
    store.fs.rm_file(f"{store.root}/v1/partials/events/stray.partial")
    assert sorted(store.fs.find(f"{store.root}/v1/partials/events")) == [p for p in live if p not in gone]


def test_row_ranges_of_one_file_and_gc_keeps_the_live_partials(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(table(5_500, 1), path)
    url = (tmp_path / "store").as_uri()
    defs = buckaroo_definitions(
        [FragmentedDataset("big", str(path), fragments=3)],
        store=BundleStoreResource(url=url), config=CONFIG,
    )  # fmt: skip
    first = run(defs, instance)
    assert partial_states(first, "big") == {f"rows-{i}-of-3": "built" for i in range(3)}
    assert_same_bundle(ba.load_bundle(dataset="big", store=url), whole(str(path)))

    pq.write_table(table(4_000, 2), path)  # changed: every range is built again
    second = run(defs, instance)
    assert set(partial_states(second, "big").values()) == {"built"}
    assert_same_bundle(ba.load_bundle(dataset="big", store=url), whole(str(path)))

    store = ba.BundleStore(url)
    live = ba.data_id_for(str(path))
    root = f"{store.root}/v1/partials/big"
    listed = sorted(p for p in store.fs.find(root) if p.endswith(".partial"))
    assert len(listed) == 6  # three ranges, two versions each
    # verify reports no damage for partials; gc keeps the newest partial of each range and
    # removes the superseded ones once older than the grace period.
    assert not store.verify().damaged
    assert store.gc(older_than=dt.timedelta(days=1)).removed_files == []
    report = store.gc(older_than=dt.timedelta(days=1), grace=dt.timedelta(0))
    assert sorted(report.removed_files) == sorted(p for p in listed if live not in p)
    assert sorted(p for p in store.fs.find(root) if p.endswith(".partial")) == sorted(
        p for p in listed if live in p
    )

    # A partial collected or damaged behind the asset's back is rebuilt by the merge.
    ba.BundleStore(url).delete(ba.load_bundle(dataset="big", store=url).data_id,
                               CONFIG.config_id, force=True)  # fmt: skip
    damaged = sorted(p for p in store.fs.find(root) if p.endswith(".partial"))[0]
    store.fs.pipe_file(damaged, b"not a partial")
    members = f"{root}/.members-{CONFIG.config_id}.json"
    store.fs.pipe_file(members, b"not a list")  # replaced by the next merge, never fatal
    third = run(defs, instance)
    assert set(partial_states(third, "big").values()) == {"reused"}
    assert_same_bundle(ba.load_bundle(dataset="big", store=url), whole(str(path)))
    assert ba.PartialStats.from_bytes(store.fs.cat_file(damaged)).rows > 0
    assert json.loads(store.fs.cat_file(members)) == {"fragments": [f"rows-{i}-of-3" for i in range(3)]}


def test_the_yaml_component_declares_fragmented_datasets(tmp_path: Path) -> None:
    component = BuckarooBundles.model_validate(
        {
            "datasets": [
                {"name": "files", "source": "data/", "fragments": "files"},
                {"name": "ranges", "source": "big.parquet", "fragments": 4},
                {"name": "plain", "source": "big.parquet"},
            ]
        }
    )
    defs = component.build_definitions(tmp_path)
    graph_backed = {
        key.path[-1]
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if "fragmented" in defs.resolve_assets_def(key).metadata_by_key[key]
    }
    assert graph_backed == {"files", "ranges"}
    for bad in (0, -2, "rows", 1.5):
        with pytest.raises(ValueError, match="fragments"):
            BuckarooBundles.model_validate(
                {"datasets": [{"name": "x", "source": "a.parquet", "fragments": bad}]}
            )
    with pytest.raises(ValueError, match="fragments"):
        FragmentedDataset("x", "a.parquet", fragments=0)


# ---------------------------------------------------------------- real executors

_LOCATION = """
import dagster as dg
from buckaroo_assets import StatsConfig
from buckaroo_assets.build.partials import fragments_data_id
from buckaroo_assets.dagster import BundleStoreResource, FragmentedDataset, buckaroo_definitions
{imports}

options = {options!r}
defs = dg.Definitions.merge(
    buckaroo_definitions(
        [
            FragmentedDataset("folder", {folder!r}, storage_options=options),
            FragmentedDataset("ranges", {file!r}, fragments=3, storage_options=options),
        ],
        store=BundleStoreResource(url={url!r}, storage_options=options),
        config=StatsConfig(block_rows={block_rows}),
        prewarm_cron=None,
        sensor_interval_seconds=None,
    ),
    dg.Definitions(executor={executor}),
)
"""
_MULTIPROCESS = ("", 'dg.multiprocess_executor.configured({"max_concurrent": 2})')
_DASK = (
    "from buckaroo_assets.dagster import buckaroo_dask_executor",
    'buckaroo_dask_executor.configured({"cluster": {"local": '
    '{"n_workers": 2, "threads_per_worker": 1, "processes": True}}})',
)


def materialize_location(
    tmp_path: Path, executor: tuple[str, str], folder: str, file: str, url: str,
    options: dict[str, Any],
) -> dict[str, int]:  # fmt: skip
    """``dagster asset materialize`` of every asset; returns the pid of each partial step."""
    imports, configured = executor
    location = tmp_path / "location.py"
    location.write_text(
        _LOCATION.format(
            imports=imports, options=options, folder=folder, file=file, url=url,
            block_rows=CONFIG.block_rows, executor=configured,
        )  # fmt: skip
    )
    home = dagster_materialize(location, tmp_path)
    pids: dict[str, int] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_runs()
        assert record.status == dg.DagsterRunStatus.SUCCESS
        for entry in instance.all_logs(record.run_id):
            event = entry.dagster_event
            if event is not None and event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                pids[event.step_key] = event.pid
    return pids


def write_local_sources(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        pq.write_table(table(3_000, i), folder / f"part-{i}.parquet")
    big = folder.parent / "big.parquet"
    pq.write_table(table(5_500, 7), big)
    return big


def assert_every_fragment_was_a_step(pids: dict[str, int]) -> None:
    for name, count in (("folder", 3), ("ranges", 3)):
        steps = [step for step in pids if step.startswith(f"{KEY}__{name}.{KEY}__{name}_partial[")]
        assert len(steps) == count, pids
        assert f"{KEY}__{name}.{KEY}__{name}_merge" in pids


def test_multiprocess_executor_on_a_local_store(tmp_path: Path) -> None:
    big = write_local_sources(tmp_path / "data")
    url = (tmp_path / "store").as_uri()
    pids = materialize_location(
        tmp_path, _MULTIPROCESS, str(tmp_path / "data"), str(big), url, {}
    )
    assert_every_fragment_was_a_step(pids)
    assert len(set(pids.values())) > 1  # each step its own process
    assert_same_bundle(ba.load_bundle(dataset="folder", store=url), whole(str(tmp_path / "data")))
    assert_same_bundle(ba.load_bundle(dataset="ranges", store=url), whole(str(big)))


def test_multiprocess_executor_on_s3(
    tmp_path: Path, s3_server: S3Server, s3_store_url: str
) -> None:
    options = s3_server.storage_options
    bucket = s3_store_url.split("/")[2]
    fs = fsspec.filesystem("s3", **options)
    for i in range(3):
        with fs.open(f"{bucket}/lake/events/part-{i}.parquet", "wb") as f:
            pq.write_table(table(3_000, i), f)
    with fs.open(f"{bucket}/lake/big.parquet", "wb") as f:
        pq.write_table(table(5_500, 7), f)
    folder, big = f"s3://{bucket}/lake/events", f"s3://{bucket}/lake/big.parquet"
    pids = materialize_location(tmp_path, _MULTIPROCESS, folder, big, s3_store_url, options)
    assert_every_fragment_was_a_step(pids)
    store = ba.BundleStore(s3_store_url, options)
    stored = store.fs.find(f"{store.root}/v1/partials")
    assert len([p for p in stored if p.endswith(".partial")]) == 6
    assert len([p for p in stored if "/.members-" in p]) == 2  # one per dataset
    assert_same_bundle(store.get(dataset="folder"), whole(folder, options))
    assert_same_bundle(store.get(dataset="ranges"), whole(big, options))


def test_dask_executor_with_a_local_cluster_of_processes(tmp_path: Path) -> None:
    pytest.importorskip("dagster_dask")
    big = write_local_sources(tmp_path / "data")
    url = (tmp_path / "store").as_uri()
    pids = materialize_location(tmp_path, _DASK, str(tmp_path / "data"), str(big), url, {})
    assert_every_fragment_was_a_step(pids)
    assert len(set(pids.values())) == 2  # every step in one of the 2 worker processes
    assert_same_bundle(ba.load_bundle(dataset="folder", store=url), whole(str(tmp_path / "data")))
    assert_same_bundle(ba.load_bundle(dataset="ranges", store=url), whole(str(big)))
