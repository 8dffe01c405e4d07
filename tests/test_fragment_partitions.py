"""A fragmented dataset whose fragments are the partitions of a partitioned upstream asset.

A real Dagster instance and a real local store; the upstream assets are real
Dagster assets (one writing a Parquet file per day, one returning an Arrow
table per dynamic partition through a filesystem IO manager). Every merged
bundle is compared with ``build_bundle`` of the union of the partitions.
"""

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

import buckaroo_assets as ba
from buckaroo_assets.build.partials import fragments_data_id
from buckaroo_assets.dagster import BundleStoreResource, partitions_bundle_asset
from buckaroo_assets.store import file_hashes

from .conftest import bytes_read
from .test_fragments import CONFIG, table, write_plain
from .test_partials import assert_same_bundle

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-05")
BUNDLE = dg.AssetKey(["buckaroo", "events"])


def daily_upstream(folder: Path, seeds: dict[str, int]) -> dg.AssetsDefinition:
    """``events``: each day's rows written to ``<folder>/<day>.parquet`` (seed per day)."""

    @dg.asset(partitions_def=DAYS)
    def events(context: dg.AssetExecutionContext) -> None:
        day = context.partition_key
        write_plain(table(300_000, seeds[day]), folder / f"{day}.parquet")

    return events


def materialize(
    assets: Sequence[dg.AssetsDefinition],
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    partition: str,
    resources: dict[str, object],
) -> dg.ExecuteInProcessResult:
    selection = dg.AssetSelection.assets(key) | dg.AssetSelection.checks_for_assets(key)
    result = dg.materialize(
        assets, instance=instance, partition_key=partition, selection=selection,
        resources=resources,
    )  # fmt: skip
    assert result.success
    return result


def the_materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization  # type: ignore[union-attr]


def value(mat: dg.AssetMaterialization, name: str) -> object:
    return mat.metadata[name].value


def test_daily_partitions_as_parquet_files(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    folder = tmp_path / "lake"
    folder.mkdir()
    seeds = {day: i for i, day in enumerate(DAYS.get_partition_keys())}
    events = daily_upstream(folder, seeds)
    url = (tmp_path / "store").as_uri()
    bundle = partitions_bundle_asset(
        events, path=str(folder / "{partition_key}.parquet"), dataset="events", config=CONFIG,
        automation_condition=dg.AutomationCondition.eager(),
    )  # fmt: skip
    assert bundle.key == BUNDLE and bundle.partitions_def == DAYS
    assets = [events, bundle]
    resources: dict[str, object] = {"buckaroo_store": BundleStoreResource(url=url)}
    day1, day2, day3, day4 = DAYS.get_partition_keys()

    checks: set[tuple[str, bool]] = set()

    def bundle_of(day: str) -> dg.AssetMaterialization:
        result = materialize(assets, instance, BUNDLE, day, resources)
        checks.update((e.check_name, e.passed) for e in result.get_asset_check_evaluations())
        mat = the_materialization(result)
        assert mat.partition == day
        return mat

    def path(day: str) -> str:
        return str(folder / f"{day}.parquet")

    # Three days, each summarised in its own run; the bundle is always the union so far.
    for count, day in enumerate((day1, day2, day3), start=1):
        materialize(assets, instance, events.key, day, resources)
        mat = bundle_of(day)
        assert (value(mat, "partial"), value(mat, "partitions")) == ("built", count)
        assert (
            value(mat, "content_id")
            == mat.tags["dagster/data_version"]
            == ba.data_id_for(path(day))
        )
    assert_same_bundle(ba.load_bundle(dataset="events", store=url), ba.build_bundle(
        str(folder), config=CONFIG))  # fmt: skip

    # A fourth day: Dagster's eager condition asks for that partition only, and its run
    # reads that file alone; the other days' partials come from the store.
    defs = dg.Definitions(assets=assets, resources=resources)
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert before.total_requested == 0  # day four's upstream partition is missing
    materialize(assets, instance, events.key, day4, resources)
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert after.get_requested_partitions(BUNDLE) == {day4}
    time.sleep(file_hashes.SETTLE_SECONDS + 0.2)  # so the store remembers the new file's hash
    start = bytes_read()
    fourth = bundle_of(day4)
    read = bytes_read() - start
    start = bytes_read()
    again = bundle_of(day4)  # nothing changed: partial reused, bundle a hit, no data read
    baseline = bytes_read() - start
    assert (value(fourth, "partial"), value(fourth, "cache")) == ("built", "miss")
    assert (value(again, "partial"), value(again, "cache")) == ("reused", "hit")
    new_file = Path(path(day4)).stat().st_size
    smallest_old = min(Path(path(day)).stat().st_size for day in (day1, day2, day3))
    # The new file is read twice (hashed, then summarised); an old one would add 6.7 MB.
    assert new_file <= read - baseline < 2 * new_file + smallest_old // 2, (read, baseline)
    got = ba.load_bundle(dataset="events", store=url)
    assert_same_bundle(got, ba.build_bundle(str(folder), config=CONFIG))
    assert got.meta["fragments"] == value(fourth, "partitions") == 4
    assert (
        value(fourth, "data_id")
        == got.data_id
        == fragments_data_id([(day, ba.data_id_for(path(day))) for day in (day1, day2, day3, day4)])
    )
    assert checks == {("bundle_integrity", True), ("stats_consistency", True)}

    # Day two re-materialized with other rows: its partial replaced, the merge redone.
    store = ba.BundleStore(url)
    four_days = got.data_id
    seeds[day2] = 42
    materialize(assets, instance, events.key, day2, resources)
    changed = bundle_of(day2)
    assert (value(changed, "partial"), value(changed, "partitions")) == ("built", 4)
    assert_same_bundle(
        ba.load_bundle(dataset="events", store=url), ba.build_bundle(str(folder), config=CONFIG)
    )
    partials = sorted(store.fs.find(f"{store.root}/v1/partials/events"))
    assert len([p for p in partials if p.endswith(".partial")]) == 5  # day two twice

    # Changed back: the first partial of day two is current again, and the bundle a hit.
    seeds[day2] = 1
    materialize(assets, instance, events.key, day2, resources)
    undone = bundle_of(day2)
    assert (value(undone, "partial"), value(undone, "cache")) == ("reused", "hit")
    assert ba.load_bundle(dataset="events", store=url).data_id == four_days
    # gc keeps every current partial (the undone change's was written again, so it is the
    # newest of its folder) and removes the superseded one; a merge from them is still whole.
    report = store.gc(older_than=dt.timedelta(days=1), grace=dt.timedelta(0))
    assert [p.rsplit("/", 3)[1] for p in report.removed_files] == [day2]
    store.delete(four_days, CONFIG.config_id, force=True)
    remerged = bundle_of(day3)
    assert (value(remerged, "partial"), value(remerged, "cache")) == ("reused", "miss")
    assert_same_bundle(
        ba.load_bundle(dataset="events", store=url), ba.build_bundle(str(folder), config=CONFIG)
    )


REGIONS = dg.DynamicPartitionsDefinition(name="regions")
REGION_ROWS = {"north": 3_000, "south": 5_000, "east": 2_000, "west": 4_500}


@dg.asset(partitions_def=REGIONS, io_manager_key="frames_io")
def sales(context: dg.AssetExecutionContext) -> pa.Table:
    region = context.partition_key
    return table(REGION_ROWS[region], len(region))


def sales_bundle(tmp_path: Path) -> tuple[dg.AssetsDefinition, dict[str, object], str]:
    """(the bundle asset of ``sales``, the resources, the store URL) of one test."""
    url = (tmp_path / "store").as_uri()
    resources: dict[str, object] = {
        "buckaroo_store": BundleStoreResource(url=url),
        "frames_io": dg.FilesystemIOManager(base_dir=str(tmp_path / "io")),
    }
    return partitions_bundle_asset(sales, config=CONFIG), resources, url


def whole(regions: list[str]) -> ba.Bundle:
    """``build_bundle`` of the regions' tables, one after the other."""
    tables = [sales(dg.build_asset_context(partition_key=r)) for r in regions]
    return ba.build_bundle(pa.concat_tables(tables), config=CONFIG)


def test_dynamic_partitions_loaded_through_the_io_manager(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    bundle, resources, url = sales_bundle(tmp_path)
    assets = [sales, bundle]
    # Partitions in the order they were added, which is not the names' order.
    order = ["south", "north", "east"]
    instance.add_dynamic_partitions("regions", order)
    for region in order:
        materialize(assets, instance, sales.key, region, resources)
        mat = the_materialization(materialize(assets, instance, bundle.key, region, resources))
        assert value(mat, "partial") == "built"
    assert_same_bundle(ba.load_bundle(dataset="sales", store=url), whole(order))

    instance.add_dynamic_partitions("regions", ["west"])
    materialize(assets, instance, sales.key, "west", resources)
    mat = the_materialization(materialize(assets, instance, bundle.key, "west", resources))
    assert (value(mat, "partial"), value(mat, "partitions")) == ("built", 4)
    assert value(mat, "content_id") == ba.data_id_for(
        sales(dg.build_asset_context(partition_key="west"))
    )
    assert_same_bundle(ba.load_bundle(dataset="sales", store=url), whole([*order, "west"]))

    # A partition removed from the definition leaves the bundle at the next merge.
    instance.delete_dynamic_partition("regions", "north")
    mat = the_materialization(materialize(assets, instance, bundle.key, "east", resources))
    assert (value(mat, "partial"), value(mat, "partitions")) == ("reused", 3)
    assert_same_bundle(ba.load_bundle(dataset="sales", store=url), whole(["south", "east", "west"]))


def test_a_partial_that_cannot_be_rebuilt_fails_the_merge_by_name(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    bundle, resources, url = sales_bundle(tmp_path)
    assets = [sales, bundle]
    instance.add_dynamic_partitions("regions", ["north", "south"])
    for region in ("north", "south"):
        materialize(assets, instance, sales.key, region, resources)
        materialize(assets, instance, bundle.key, region, resources)
    store = ba.BundleStore(url)
    (north,) = [
        p for p in store.fs.find(f"{store.root}/v1/partials/sales/north") if p.endswith(".partial")
    ]
    store.fs.pipe_file(north, b"not a partial")
    store.delete(store.resolve(dataset="sales")[0], CONFIG.config_id, force=True)
    with pytest.raises(ba.PartialStatsError, match="north.*materialize that partition again"):
        dg.materialize(
            assets, instance=instance, partition_key="south", selection=[bundle.key],
            resources=resources,
        )  # fmt: skip
    # Materializing that partition again rebuilds its partial; the merge is whole again.
    materialize(assets, instance, bundle.key, "north", resources)
    assert ba.PartialStats.from_bytes(store.fs.cat_file(north)).rows == REGION_ROWS["north"]
    assert_same_bundle(ba.load_bundle(dataset="sales", store=url), whole(["north", "south"]))


def test_what_is_refused_when_the_asset_is_defined(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not partitioned"):
        partitions_bundle_asset(dg.AssetSpec("plain"), path=str(tmp_path / "{partition_key}"))
    for bad in ("s3://lake/events.parquet", "s3://lake/{day}.parquet", "s3://{0}/x"):
        with pytest.raises(ValueError, match="partition_key"):
            partitions_bundle_asset(sales, path=bad)
    with pytest.raises(ValueError, match="dataset name"):
        partitions_bundle_asset(sales, dataset="../up")
