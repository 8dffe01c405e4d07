"""The Dagster layer, run for real: a test instance, in-process runs, sensor and schedule ticks.

Nothing is mocked: sources are files in ``tmp_path``, the store is a local
folder (or S3 over HTTP on loopback), and every expected value is computed
independently (pyarrow row counts, ``data_id_for`` of the source).
"""

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.dagster import (
    BundleStoreResource,
    Dataset,
    DriftCheck,
    buckaroo_definitions,
    frame_bundle_asset,
    partitioned_bundle_checks,
)
from buckaroo_assets.dagster.checks import CHECK_NAMES
from buckaroo_assets.dagster.metadata import column_metric_key
from buckaroo_assets.store import file_hashes

from .conftest import S3Server, bytes_read

KEY = "buckaroo"
NAMES = ("trips", "prices", "events")
FRAME_PARTITIONS = dg.StaticPartitionsDefinition(["eu", "us"])

# Definitions.get_*_def warn about resource resolution changes; irrelevant here.
# (and partitioned asset checks are a Dagster preview feature, which it says on each use).
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
]


# ---------------------------------------------------------------- sources and helpers


def write_trips(path: Path, rows: int = 40, seed: int = 0) -> None:
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(rows), pa.int64()),
                "fare": pa.array([None if i % 7 == 0 else i * 1.5 + seed for i in range(rows)]),
                "zone": pa.array([f"z{(i + seed) % 4}" for i in range(rows)]),
            }
        ),
        path,
    )


def write_sources(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "trips": folder / "trips.parquet",
        "prices": folder / "prices.csv",
        "events": folder / "events.jsonl",
    }
    write_trips(paths["trips"])
    pa_csv.write_csv(
        pa.table({"sku": [f"s{i}" for i in range(25)], "price": [i * 0.25 for i in range(25)]}),
        paths["prices"],
    )
    paths["events"].write_text(
        "".join(
            json.dumps({"n": i, "kind": "ab"[i % 2], "ok": i % 3 == 0}) + "\n" for i in range(17)
        )
    )
    return paths


def source_rows(path: Path) -> int:
    """Row count read by pyarrow directly, independently of the bundle builder."""
    if path.suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    if path.suffix == ".csv":
        return pa_csv.read_csv(path).num_rows
    return pa_json.read_json(path).num_rows


@dataclass
class Setup:
    paths: dict[str, Path]
    store_dir: Path
    url: str
    datasets: list[Dataset]
    defs: dg.Definitions

    @property
    def store(self) -> ba.BundleStore:
        return ba.BundleStore(self.url)

    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([KEY, name])


def make_defs(datasets: list[Dataset], url: str, **kwargs: Any) -> dg.Definitions:
    return buckaroo_definitions(datasets, store=BundleStoreResource(url=url), **kwargs)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    paths = write_sources(tmp_path / "data")
    store_dir = tmp_path / "store"
    url = store_dir.as_uri()
    datasets = [Dataset(name, str(paths[name])) for name in NAMES]
    return Setup(paths, store_dir, url, datasets, make_defs(datasets, url))


def run_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    selection: list[dg.AssetKey] | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """The asset job of ``defs`` (bundles, source observations, checks), as the UI would run it."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=selection, raise_on_error=raise_on_error
    )


def materializations(
    result: dg.ExecuteInProcessResult,
) -> dict[dg.AssetKey, dg.AssetMaterialization]:
    found: dict[dg.AssetKey, dg.AssetMaterialization] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        assert mat.asset_key not in found, f"{mat.asset_key} materialized twice in one run"
        found[mat.asset_key] = mat
    return found


def value(mat: dg.AssetMaterialization, name: str) -> Any:
    return mat.metadata[name].value


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    """(asset key as dotted string, check name) -> passed."""
    return {
        (".".join(e.asset_key.path), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }


def pack_path(store_dir: Path, data_id: str, config_id: str) -> Path:
    folder = store_dir / "v1" / "bundles" / data_id / config_id
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder / manifest["pack"]["name"]


def manifest_of(store_dir: Path, data_id: str, config_id: str) -> dict[str, Any]:
    return json.loads(
        (store_dir / "v1/bundles" / data_id / config_id / "manifest.json").read_text()
    )


def all_metadata_text(mat: dg.AssetMaterialization) -> str:
    return " ".join(f"{k}={v.value!r}" for k, v in mat.metadata.items())


# ---------------------------------------------------------------- 1. materialize, then hit


def test_materialize_publishes_every_dataset_with_full_metadata(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    config_id = ba.StatsConfig().config_id
    result = run_all(setup.defs, instance)
    assert result.success
    mats = materializations(result)
    assert set(mats) == {setup.key(n) for n in NAMES}

    specs = {spec.key: spec for spec in setup.defs.resolve_all_asset_specs()}
    for name in NAMES:
        path = setup.paths[name]
        mat = mats[setup.key(name)]
        data_id = ba.data_id_for(str(path))
        rows = source_rows(path)
        uri = value(mat, "dagster/uri")
        assert uri == setup.store.manifest_url(data_id, config_id)
        fs, fs_path = fsspec.url_to_fs(uri)
        assert fs.exists(fs_path)
        assert value(mat, "dagster/row_count") == rows
        schema = value(mat, "dagster/column_schema")
        assert [c.name for c in schema.columns] == pa_schema_names(path)
        assert value(mat, "data_id") == data_id
        assert value(mat, "config_id") == config_id
        assert value(mat, "cache") == "miss"
        manifest = manifest_of(setup.store_dir, data_id, config_id)
        pack = pack_path(setup.store_dir, data_id, config_id)
        assert (
            value(mat, "bundle_bytes")
            == len((pack.parent / "manifest.json").read_bytes()) + pack.stat().st_size
        )
        assert value(mat, "seconds") >= manifest["meta"]["build_seconds"] > 0
        assert value(mat, "rows_per_second") == round(rows / manifest["meta"]["build_seconds"])
        assert not any(k.startswith("progress/") or k == "build_seconds" for k in mat.metadata)
        preview = value(mat, "stats_preview")
        assert [r.data["column"] for r in preview.records] == pa_schema_names(path)
        assert mat.tags["dagster/data_version"] == data_id
        assert mat.tags["dagster/code_version"] == config_id
        assert specs[setup.key(name)].code_version == config_id

        bundle = ba.load_bundle(dataset=name, store=setup.url)
        assert (bundle.data_id, bundle.config_id) == (data_id, config_id)
        assert bundle.rows == rows
        assert bundle.first_window.num_rows == rows

    # The instance recorded them too (what the UI shows and staleness is computed from).
    for name in NAMES:
        stored = instance.get_latest_materialization_event(setup.key(name))
        assert stored is not None and stored.asset_materialization is not None
        tags = stored.asset_materialization.tags or {}
        assert tags["dagster/data_version"] == ba.data_id_for(str(setup.paths[name]))


def pa_schema_names(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return pq.read_schema(path).names
    if path.suffix == ".csv":
        return pa_csv.read_csv(path).schema.names
    return pa_json.read_json(path).schema.names


def test_second_materialization_is_a_hit_that_reads_no_data(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    config_id = ba.StatsConfig().config_id
    first = materializations(run_all(setup.defs, instance))
    before = {}
    for name in NAMES:
        data_id = value(first[setup.key(name)], "data_id")
        pack = pack_path(setup.store_dir, data_id, config_id)
        meta = manifest_of(setup.store_dir, data_id, config_id)["meta"]
        before[name] = (pack.name, pack.read_bytes(), meta["build_seconds"])

    second = materializations(run_all(setup.defs, instance))
    assert set(second) == set(first)
    for name in NAMES:
        mat = second[setup.key(name)]
        assert value(mat, "cache") == "hit"
        assert value(mat, "data_id") == value(first[setup.key(name)], "data_id")
        assert ", 0 rows read in" in value(mat, "progress")  # nothing read on a hit
        assert "rows_per_second" not in mat.metadata
        data_id = value(mat, "data_id")
        pack = pack_path(setup.store_dir, data_id, config_id)
        meta = manifest_of(setup.store_dir, data_id, config_id)["meta"]
        # A rebuild would have stored a new build time; the stored bundle is the first one.
        assert (pack.name, pack.read_bytes(), meta["build_seconds"]) == before[name]
        ba.clear_cache()
        assert (
            ba.load_bundle(dataset=name, store=setup.url).meta["build_seconds"] == before[name][2]
        )
    assert len(setup.store.list()) == len(NAMES)


def test_prewarm_sensor_and_freshness_read_no_bytes_of_unchanged_local_files(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """A local file's data_id is a hash of its bytes, remembered in the store once settled."""
    big = tmp_path / "big.parquet"
    values = np.random.default_rng(0).random(2_000_000)
    pq.write_table(pa.table({"x": values, "y": values[::-1]}), big, compression="none")
    size = big.stat().st_size
    time.sleep(file_hashes.SETTLE_SECONDS + 0.2)
    url = (tmp_path / "store").as_uri()
    defs = make_defs([Dataset("big", str(big))], url)
    first = materializations(run_all(defs, instance))
    assert value(first[dg.AssetKey([KEY, "big"])], "cache") == "miss"

    start = bytes_read()  # a prewarm run: the bundle and its checks, freshness included
    prewarm = run_all(defs, instance, selection=[dg.AssetKey([KEY, "big"])])
    prewarm_read = bytes_read() - start
    assert value(materializations(prewarm)[dg.AssetKey([KEY, "big"])], "cache") == "hit"
    assert checks(prewarm)[(f"{KEY}.big", "freshness")] is True

    start = bytes_read()
    result = tick(defs, instance, json.dumps({"seen": {"big": "file-0"}, "requested": 0}))[0]
    sensor_read = bytes_read() - start
    # It did derive the current id (a change from the cursor's), and found the bundle holds it.
    current = value(first[dg.AssetKey([KEY, "big"])], "data_id")
    assert json.loads(result.cursor)["seen"]["big"] == current
    assert not result.run_requests

    # Both read the store, and a run reads Dagster's own files (about 6 MB), but not the source.
    assert max(prewarm_read, sensor_read) < size // 2, (size, prewarm_read, sensor_read)


def test_metadata_links_to_the_viewer_page_of_a_running_server(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    import urllib.request

    from buckaroo_assets.viewer.server import BundleServer

    with BundleServer(setup.store) as server:
        defs = buckaroo_definitions(
            setup.datasets, store=BundleStoreResource(url=setup.url, viewer_url=server.url + "/")
        )
        mats = materializations(run_all(defs, instance))
        for name in NAMES:
            link = value(mats[setup.key(name)], "viewer")
            data_id = value(mats[setup.key(name)], "data_id")
            assert link == f"{server.url}/bundles/{data_id}/{ba.StatsConfig().config_id}"
            with urllib.request.urlopen(link, timeout=30) as response:
                page = response.read().decode()
            assert response.status == 200 and '"embed_type":"DFViewer"' in page


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # Dagster's check factories
def test_metadata_reads_well_in_the_instance_and_feeds_dagsters_own_checks(
    setup: Setup, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table preview, column descriptions and plotted per-column metrics, read back from the
    instance; Dagster's metadata-bounds and schema-change checks use them as they are."""
    monkeypatch.setenv("BUCKAROO_VIEWER_URL", "http://viewer.example:8765/")
    config = ba.StatsConfig(distinct_threshold=16)  # id and fare (40 and 34 values) get sketched
    trips = setup.key("trips")
    own_checks = [
        *dg.build_metadata_bounds_checks(
            assets=[trips], metadata_key=column_metric_key("fare", "null_pct"), max_value=10.0
        ),
        *dg.build_metadata_bounds_checks(
            assets=[trips], metadata_key=column_metric_key("zone", "distinct"), max_value=10
        ),
        *dg.build_column_schema_change_checks(assets=[trips]),
    ]
    defs = dg.Definitions.merge(
        make_defs(setup.datasets, setup.url, config=config), dg.Definitions(asset_checks=own_checks)
    )
    first = run_all(defs, instance, raise_on_error=False)

    table = pq.read_table(setup.paths["trips"])
    fare = table["fare"]
    stored = instance.get_latest_materialization_event(trips)
    assert stored is not None and stored.asset_materialization is not None
    metadata = stored.asset_materialization.metadata

    preview = {r.data["column"]: r.data for r in metadata["stats_preview"].records}
    assert list(preview) == ["id", "fare", "zone"]
    null_percent = 100 * fare.null_count / len(fare)
    assert preview["fare"]["null %"] == f"{null_percent:g}"
    assert preview["id"]["null %"] == "0"
    assert preview["id"]["distinct"].startswith("≈ ")  # sketched: marked as an estimate
    assert preview["zone"]["distinct"] == str(len(pc.unique(table["zone"])))  # exact
    low, high = pc.min_max(fare).values()
    assert (preview["fare"]["min"], preview["fare"]["max"]) == (f"{low}", f"{high}")

    described = {c.name: c for c in metadata["dagster/column_schema"].schema.columns}
    assert described["fare"].type == "float64"
    assert described["fare"].description.startswith(f"{null_percent:g} % null · ≈ ")
    assert described["fare"].description.endswith(f" distinct · {low} – {high}")
    assert described["zone"].description == "0 % null · 4 distinct · z0 – z3"

    plotted = {k: v.value for k, v in metadata.items() if k.startswith("column/")}
    assert plotted[column_metric_key("fare", "null_pct")] == pytest.approx(null_percent)
    assert plotted[column_metric_key("zone", "distinct")] == 4
    assert plotted[column_metric_key("fare", "mean")] == pytest.approx(pc.mean(fare).as_py())
    assert column_metric_key("zone", "mean") not in plotted  # text has no mean
    assert metadata["approximate_columns"].value == 2
    data_id, config_id = metadata["data_id"].value, metadata["config_id"].value
    assert metadata["viewer"].value == (f"http://viewer.example:8765/bundles/{data_id}/{config_id}")

    results = {
        name: passed for (key, name), passed in checks(first).items() if key == "buckaroo.trips"
    }
    bounds = {name: passed for name, passed in results.items() if name.endswith("_bounds_check")}
    assert len(bounds) == 2
    assert [p for n, p in bounds.items() if "fare" in n] == [False]  # 15 % null > 10
    assert [p for n, p in bounds.items() if "zone" in n] == [True]
    schema_check = next(n for n in results if "schema" in n)
    assert results[schema_check] is True  # first materialization: nothing to compare with

    # a new column in the source: Dagster's own schema-change check sees it
    pq.write_table(table.append_column("tip", pa.array([0.5] * len(table))), setup.paths["trips"])
    second = run_all(defs, instance, selection=[trips], raise_on_error=False)
    evaluations = {
        e.check_name: e for e in second.get_asset_check_evaluations() if e.asset_key == trips
    }
    assert evaluations[schema_check].passed is False
    assert "Added columns: tip" in str(evaluations[schema_check].description)


# ---------------------------------------------------------------- 2. source and config changes


def test_source_change_rebuilds_and_moves_the_pointer(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    config_id = ba.StatsConfig().config_id
    first = materializations(run_all(setup.defs, instance))
    old_id = value(first[setup.key("trips")], "data_id")

    write_trips(setup.paths["trips"], rows=55, seed=3)
    new_id = ba.data_id_for(str(setup.paths["trips"]))
    assert new_id != old_id

    second = materializations(run_all(setup.defs, instance))
    changed = second[setup.key("trips")]
    assert value(changed, "data_id") == new_id
    assert value(changed, "cache") == "miss"
    assert value(changed, "dagster/row_count") == source_rows(setup.paths["trips"]) == 55
    assert changed.tags["dagster/data_version"] == new_id
    for name in ("prices", "events"):
        assert value(second[setup.key(name)], "cache") == "hit"

    assert setup.store.resolve(dataset="trips") == (new_id, config_id)
    assert ba.load_bundle(dataset="trips", store=setup.url).rows == 55
    # the old version stays loadable by its data_id
    assert ba.load_bundle(old_id, store=setup.url).rows == 40


def test_config_change_changes_the_code_version(setup: Setup) -> None:
    default = ba.StatsConfig()
    other = ba.StatsConfig(histogram_bins=20)
    assert other.config_id != default.config_id
    defs_other = make_defs(setup.datasets, setup.url, config=other)
    for defs, config in ((setup.defs, default), (defs_other, other)):
        versions = {
            spec.key: spec.code_version
            for spec in defs.resolve_all_asset_specs()
            if spec.key.path[1] != "sources"
        }
        assert versions == {setup.key(n): config.config_id for n in NAMES}


def test_config_change_rebuilds_under_the_new_config(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    run_all(setup.defs, instance)
    other = ba.StatsConfig(top_k=3)
    mats = materializations(run_all(make_defs(setup.datasets, setup.url, config=other), instance))
    for name in NAMES:
        assert value(mats[setup.key(name)], "cache") == "miss"
        assert value(mats[setup.key(name)], "config_id") == other.config_id
        assert mats[setup.key(name)].tags["dagster/code_version"] == other.config_id
    assert len(setup.store.list()) == 2 * len(NAMES)


# ---------------------------------------------------------------- 3. asset checks


def test_checks_pass_then_detect_tampering_and_stale_sources(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    config_id = ba.StatsConfig().config_id
    result = run_all(setup.defs, instance)
    expected = {
        (f"{KEY}.{n}", c)
        for n in NAMES
        for c in ("bundle_integrity", "stats_consistency", "freshness")
    }
    assert checks(result) == dict.fromkeys(expected, True)

    def run_checks() -> dict[tuple[str, str], bool]:
        return checks(run_checks_only(setup.defs, instance))

    # damage one byte of the trips pack
    trips_id = ba.data_id_for(str(setup.paths["trips"]))
    pack = pack_path(setup.store_dir, trips_id, config_id)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    after_tamper = run_checks()
    assert after_tamper[(f"{KEY}.trips", "bundle_integrity")] is False
    for name in ("prices", "events"):
        assert after_tamper[(f"{KEY}.{name}", "bundle_integrity")] is True
        assert after_tamper[(f"{KEY}.{name}", "freshness")] is True

    # change a source: only its freshness fails
    pa_csv.write_csv(pa.table({"sku": ["x"], "price": [9.5]}), setup.paths["prices"])
    after_change = run_checks()
    assert after_change[(f"{KEY}.prices", "freshness")] is False
    assert after_change[(f"{KEY}.prices", "bundle_integrity")] is True
    assert after_change[(f"{KEY}.events", "freshness")] is True

    # re-materializing repairs both
    assert all(checks(run_all(setup.defs, instance)).values())


def run_checks_only(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Every asset check of ``defs``, and nothing else, in one run."""
    job = defs.resolve_implicit_global_asset_job_def()
    selection = dg.AssetSelection.all_asset_checks().resolve_checks(defs.resolve_asset_graph())
    result = job.get_subset(
        asset_selection=set(), asset_check_selection=set(selection)
    ).execute_in_process(instance=instance)
    assert not result.get_asset_materialization_events()  # checks never rebuild
    return result


def test_the_three_checks_as_one_or_none(setup: Setup, instance: dg.DagsterInstance) -> None:
    """checks="one": one 'bundle' check per dataset, failing when any of the three would."""
    one = make_defs(setup.datasets, setup.url, checks="one")
    built = run_all(one, instance)
    assert checks(built) == {(f"{KEY}.{n}", "bundle"): True for n in NAMES}
    (trips,) = [e for e in built.get_asset_check_evaluations() if e.asset_key == setup.key("trips")]
    assert {k: trips.metadata[k].value for k in CHECK_NAMES} == dict.fromkeys(CHECK_NAMES, True)
    assert trips.metadata["freshness/current_data_id"].value == ba.data_id_for(
        str(setup.paths["trips"])
    )

    pa_csv.write_csv(pa.table({"sku": ["x"], "price": [9.5]}), setup.paths["prices"])
    result = run_checks_only(one, instance)
    assert checks(result) == {**checks(built), (f"{KEY}.prices", "bundle"): False}
    (prices,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert prices.description == "freshness: the source changed since the bundle"
    assert prices.metadata["bundle_integrity"].value is True

    unchecked = run_all(make_defs(setup.datasets, setup.url, checks="none"), instance)
    assert unchecked.get_asset_check_evaluations() == []
    assert {value(m, "cache") for m in materializations(unchecked).values()} == {"hit", "miss"}


def test_the_drift_check_compares_a_new_version_with_the_previous_one(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    drift = DriftCheck(ba.DriftThresholds(rows_drop_pct=10.0, distance=None), severity="ERROR")
    defs = make_defs(setup.datasets, setup.url, drift=drift)

    def drift_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
        return {
            e.asset_key.path[-1]: e
            for e in result.get_asset_check_evaluations()
            if e.check_name == "drift"
        }

    first = drift_of(run_all(defs, instance))
    assert set(first) == set(NAMES)
    assert all(e.passed for e in first.values())
    assert {e.description for e in first.values()} == {"no previous version to compare with"}

    old_id = ba.data_id_for(str(setup.paths["trips"]))
    write_trips(setup.paths["trips"], rows=30)  # a quarter of the rows gone
    new_id = ba.data_id_for(str(setup.paths["trips"]))
    second = drift_of(run_all(defs, instance))
    trips = second["trips"]
    assert trips.passed is False and trips.severity == dg.AssetCheckSeverity.ERROR
    expected = ba.DriftThresholds(rows_drop_pct=10.0, distance=None).crossed(
        ba.diff(old_id, new_id, store=setup.url)
    )
    assert [c["check"] for c in trips.metadata["crossed"].value] == [c.check for c in expected]
    assert [c.check for c in expected] == ["rows_drop"]
    assert trips.metadata["previous_data_id"].value == old_id
    assert trips.metadata["data_id"].value == new_id
    assert trips.metadata["rows_change_pct"].value == pytest.approx(-25.0)
    assert "rows fell 40 -> 30" in str(trips.description)
    assert all(second[name].passed for name in NAMES if name != "trips")


# ---------------------------------------------------------------- 4. frames (IO-manager loaded)


@dg.asset(io_manager_key="frames_io")
def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order": range(30),
            "amount": [i * 2.5 for i in range(30)],
            "state": ["ok", "late", None] * 10,
        }
    )


REGION_ROWS = {"eu": 12, "us": 21}


@dg.asset(key=["sales", "daily"], partitions_def=FRAME_PARTITIONS, io_manager_key="frames_io")
def sales_daily(context: dg.AssetExecutionContext) -> pl.DataFrame:
    rows = REGION_ROWS[context.partition_key]
    return pl.DataFrame({"qty": list(range(rows)), "region": [context.partition_key] * rows})


@dg.asset(key=["sales", "arrow"], partitions_def=FRAME_PARTITIONS, io_manager_key="frames_io")
def sales_arrow(context: dg.AssetExecutionContext) -> pa.Table:
    rows = REGION_ROWS[context.partition_key] + 1
    return pa.table({"qty": pa.array(range(rows), pa.int32())})


def frames_defs(tmp_path: Path, url: str, datasets: list[Dataset] | None = None) -> dg.Definitions:
    ours = dg.Definitions(
        assets=[orders, sales_daily, sales_arrow],
        resources={"frames_io": dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))},
    )
    return dg.Definitions.merge(
        ours,
        buckaroo_definitions(
            datasets or [],
            frames=[orders, sales_daily, sales_arrow],
            store=BundleStoreResource(url=url),
        ),
    )


def test_frame_bundle_of_an_unpartitioned_pandas_asset(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    url = (tmp_path / "store").as_uri()
    defs = frames_defs(tmp_path, url)
    job = defs.resolve_implicit_global_asset_job_def()
    # The upstream first, on its own; the bundle later, loading it through the IO manager.
    assert job.execute_in_process(instance=instance, asset_selection=[orders.key]).success
    result = job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey([KEY, "orders"])]
    )
    assert result.success
    mat = materializations(result)[dg.AssetKey([KEY, "orders"])]

    assert (tmp_path / "io" / "orders").is_file()  # where the bundle's input came from
    frame = orders()
    expected_id = ba.data_id_for(frame)
    assert value(mat, "data_id") == expected_id
    assert value(mat, "dagster/row_count") == len(frame)
    assert value(mat, "dataset") == "orders"
    assert mat.tags["dagster/data_version"] == expected_id
    assert ba.BundleStore(url).resolve(dataset="orders")[0] == expected_id
    assert ba.load_bundle(dataset="orders", store=url).rows == len(frame)
    assert checks(result) == {
        (f"{KEY}.orders", "bundle_integrity"): True,
        (f"{KEY}.orders", "stats_consistency"): True,
    }


@pytest.mark.parametrize(
    ("upstream", "dataset"), [(sales_daily, "sales.daily"), (sales_arrow, "sales.arrow")]
)
def test_frame_bundle_per_partition(
    tmp_path: Path, instance: dg.DagsterInstance, upstream: dg.AssetsDefinition, dataset: str
) -> None:
    url = (tmp_path / "store").as_uri()
    store = BundleStoreResource(url=url)
    io = dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))
    bundle_asset = frame_bundle_asset(upstream)
    assert bundle_asset.partitions_def == FRAME_PARTITIONS
    part_checks = partitioned_bundle_checks(
        bundle_asset.key,
        dataset,
        config_id=ba.StatsConfig().config_id,
        partitions_def=FRAME_PARTITIONS,
    )
    resources = {"buckaroo_store": store, "frames_io": io}
    everything = [upstream, bundle_asset, *part_checks]
    for partition in FRAME_PARTITIONS.get_partition_keys():
        assert dg.materialize(
            everything,
            resources=resources,
            instance=instance,
            partition_key=partition,
            selection=[upstream.key],
        ).success
    for partition in FRAME_PARTITIONS.get_partition_keys():
        result = dg.materialize(
            everything,
            resources=resources,
            instance=instance,
            partition_key=partition,
            selection=dg.AssetSelection.assets(bundle_asset.key)
            | dg.AssetSelection.checks_for_assets(bundle_asset.key),
        )
        assert result.success
        mat = materializations(result)[bundle_asset.key]
        assert mat.partition == partition
        # What the upstream produced for this partition, recomputed here.
        frame = upstream(dg.build_asset_context(partition_key=partition))
        rows = len(frame)
        assert rows == REGION_ROWS[partition] + (1 if dataset == "sales.arrow" else 0)
        name = f"{dataset}@{partition}"
        assert value(mat, "dataset") == name
        assert value(mat, "dagster/row_count") == rows
        assert value(mat, "data_id") == ba.data_id_for(frame)
        assert ba.BundleStore(url).resolve(dataset=name)[0] == ba.data_id_for(frame)
        assert ba.load_bundle(dataset=name, store=url).rows == rows
        assert checks(result) == {
            (".".join(bundle_asset.key.path), "bundle_integrity"): True,
            (".".join(bundle_asset.key.path), "stats_consistency"): True,
        }
    assert sorted(e.dataset for e in ba.BundleStore(url).list()) == [
        f"{dataset}@eu",
        f"{dataset}@us",
    ]


# ---------------------------------------------------------------- 5. new-versions sensor


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[Any, list[logging.LogRecord]]:
    sensor = defs.get_sensor_def(f"{KEY}_new_versions")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    logged = Collect()
    context.log.addHandler(logged)
    return sensor.evaluate_tick(context), logged.records


def test_sensor_requests_new_versions_only(setup: Setup, instance: dg.DagsterInstance) -> None:
    first, _ = tick(setup.defs, instance, None)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert sorted(request.asset_selection) == sorted(setup.key(n) for n in NAMES)
    assert request.run_key
    observed = {e.asset_key: e.tags["dagster/data_version"] for e in first.asset_events}
    assert observed == {
        dg.AssetKey([KEY, "sources", f"{n}_source"]): ba.data_id_for(str(setup.paths[n]))
        for n in NAMES
    }
    assert first.cursor

    same, _ = tick(setup.defs, instance, first.cursor)
    assert not same.run_requests
    assert same.skip_message == "no dataset changed"
    assert same.cursor == first.cursor

    write_trips(setup.paths["trips"], rows=9, seed=1)
    changed, _ = tick(setup.defs, instance, same.cursor)
    assert [r.asset_selection for r in changed.run_requests] == [[setup.key("trips")]]
    assert [e.asset_key for e in changed.asset_events] == [
        dg.AssetKey([KEY, "sources", "trips_source"])
    ]
    assert changed.run_requests[0].run_key != request.run_key

    # The requested run, executed as the daemon would, brings the bundle up to date.
    job = setup.defs.resolve_implicit_global_asset_job_def()
    run = job.execute_in_process(
        instance=instance, asset_selection=changed.run_requests[0].asset_selection
    )
    assert run.success
    assert value(materializations(run)[setup.key("trips")], "data_id") == ba.data_id_for(
        str(setup.paths["trips"])
    )
    assert ba.load_bundle(dataset="trips", store=setup.url).rows == 9


def test_sensor_run_keys_differ_when_a_source_toggles_back(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    """A -> B -> A -> B: the second "B" run must not be dropped as a duplicate run key."""
    cursor = tick(setup.defs, instance, None)[0].cursor
    keys = []
    for seed in (1, 0, 1):  # seed 0 is the original content
        write_trips(setup.paths["trips"], seed=seed)
        result = tick(setup.defs, instance, cursor)[0]
        assert [r.asset_selection for r in result.run_requests] == [[setup.key("trips")]]
        keys.append(result.run_requests[0].run_key)
        retried = tick(setup.defs, instance, cursor)[0]  # a retried tick: same key, deduplicated
        assert retried.run_requests[0].run_key == keys[-1]
        cursor = result.cursor
    assert len(set(keys)) == 3


def test_sensor_skips_an_unreadable_source_with_a_warning(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    missing = setup.paths["trips"].with_name("later.parquet")
    datasets = [*setup.datasets, Dataset("later", str(missing))]
    defs = make_defs(datasets, setup.url)
    result, logged = tick(defs, instance, None)
    assert sorted(result.run_requests[0].asset_selection) == sorted(setup.key(n) for n in NAMES)
    warnings_ = [r.getMessage() for r in logged if r.levelno == logging.WARNING]
    assert any("later" in m and "FileNotFoundError" in m for m in warnings_), warnings_

    # once the file appears, exactly it is requested
    write_trips(missing, rows=5)
    appeared, _ = tick(defs, instance, result.cursor)
    assert [r.asset_selection for r in appeared.run_requests] == [[dg.AssetKey([KEY, "later"])]]


def test_sensor_reads_a_cursor_in_the_old_flat_form(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    flat = json.dumps({n: ba.data_id_for(str(setup.paths[n])) for n in NAMES})
    result, _ = tick(setup.defs, instance, flat)
    assert not result.run_requests


# ---------------------------------------------------------------- 6. prewarm schedule


def test_prewarm_schedule_requests_every_bundle_and_partition(
    tmp_path: Path, setup: Setup, instance: dg.DagsterInstance
) -> None:
    defs = frames_defs(tmp_path, setup.url, setup.datasets)
    dg.Definitions.validate_loadable(defs)
    schedule = defs.get_schedule_def(f"{KEY}_prewarm")
    context = dg.build_schedule_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources=dict(defs.resources or {}),
    )
    data = schedule.evaluate_tick(context)
    requests = list(data.run_requests)
    plain = [r for r in requests if r.partition_key is None]
    assert len(plain) == 1
    assert sorted(plain[0].asset_selection) == sorted(
        [setup.key(n) for n in NAMES] + [dg.AssetKey([KEY, "orders"])]
    )
    partitioned = sorted(
        (tuple(r.asset_selection), r.partition_key) for r in requests if r.partition_key
    )
    assert partitioned == sorted(
        ((dg.AssetKey([KEY, "sales", table]),), p)
        for table in ("daily", "arrow")
        for p in FRAME_PARTITIONS.get_partition_keys()
    )

    # The requested runs execute: the plain one (once orders exists), and a partition.
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=instance, asset_selection=[orders.key]).success
    assert job.execute_in_process(
        instance=instance, asset_selection=plain[0].asset_selection
    ).success
    assert job.execute_in_process(
        instance=instance, asset_selection=[sales_daily.key], partition_key="us"
    ).success
    request = next(
        r for r in requests if r.partition_key == "us" and r.asset_selection[0].path[-1] == "daily"
    )
    run = job.execute_in_process(
        instance=instance, asset_selection=request.asset_selection, partition_key="us"
    )
    assert run.success
    assert ba.load_bundle(dataset="sales.daily@us", store=setup.url).rows == REGION_ROWS["us"]
    # the partitioned checks buckaroo_definitions made ran for that partition, and passed
    assert checks(run) == {
        (f"{KEY}.sales.daily", "bundle_integrity"): True,
        (f"{KEY}.sales.daily", "stats_consistency"): True,
    }


# ---------------------------------------------------------------- 7. S3


def test_s3_store_materializes_and_never_leaks_credentials(
    tmp_path: Path, s3_server: S3Server, s3_store_url: str, instance: dg.DagsterInstance
) -> None:
    paths = write_sources(tmp_path / "data")
    datasets = [Dataset(name, str(paths[name])) for name in NAMES]
    options = s3_server.storage_options
    defs = buckaroo_definitions(
        datasets, store=BundleStoreResource(url=s3_store_url, storage_options=options)
    )
    result = run_all(defs, instance)
    assert result.success
    mats = materializations(result)
    for name in NAMES:
        mat = mats[dg.AssetKey([KEY, name])]
        assert value(mat, "cache") == "miss"
        assert value(mat, "dagster/uri").startswith(s3_store_url + "/v1/bundles/")
        bundle = ba.load_bundle(dataset=name, store=s3_store_url, storage_options=options)
        assert bundle.data_id == ba.data_id_for(str(paths[name])) == value(mat, "data_id")
        assert bundle.rows == source_rows(paths[name]) == value(mat, "dagster/row_count")
        assert options["secret"] not in all_metadata_text(mat)
    assert all(checks(result).values()) and len(checks(result)) == 3 * len(NAMES)

    # nowhere in the run's records: event metadata, log messages, run config, tags
    records = instance.all_logs(result.run_id)
    assert records
    for record in records:
        assert options["secret"] not in (record.user_message or "")
        event = record.dagster_event
        if event is not None and event.is_step_materialization:
            assert options["secret"] not in all_metadata_text(
                event.step_materialization_data.materialization
            )
    run = instance.get_run_by_id(result.run_id)
    assert options["secret"] not in repr(run.run_config) + repr(run.tags)

    again = materializations(run_all(defs, instance))
    assert {value(m, "cache") for m in again.values()} == {"hit"}


# ---------------------------------------------------------------- 8. bad inputs


def test_bad_sources_fail_the_run_but_not_the_good_datasets(
    setup: Setup, instance: dg.DagsterInstance
) -> None:
    corrupt = setup.paths["trips"].with_name("corrupt.parquet")
    corrupt.write_bytes(bytes(range(256)) * 8)
    missing = setup.paths["trips"].with_name("missing.csv")
    datasets = [
        setup.datasets[0],
        Dataset("missing", str(missing)),
        Dataset("corrupt", str(corrupt)),
        *setup.datasets[1:],
    ]
    defs = make_defs(datasets, setup.url)
    result = run_all(defs, instance, raise_on_error=False)
    assert result.success is False

    # Sources were all observed: the unreadable one with its error, not by failing the step
    # (which would have skipped every bundle of the run).
    observed = {
        e.asset_key.path[-1]: e.event_specific_data.asset_observation.metadata
        for e in result.get_asset_observation_events()
    }
    assert set(observed) == {f"{n}_source" for n in (*NAMES, "missing", "corrupt")}
    assert "FileNotFoundError" in observed["missing_source"]["error"].value
    assert observed["corrupt_source"]["data_id"].value == ba.data_id_for(str(corrupt))

    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == [f"{KEY}_bundles"]
    message = str(failures[0].step_failure_data.error.message) + str(
        failures[0].step_failure_data.user_failure_data
    )
    assert "2 of 5 datasets failed" in message
    assert re.search(r"missing: FileNotFoundError", message), message
    assert re.search(r"corrupt: \w+", message), message

    # the good ones were built, published, materialized and checked; the bad ones left nothing
    assert set(materializations(result)) == {setup.key(n) for n in NAMES}
    assert checks(result) == {
        (f"{KEY}.{n}", c): True
        for n in NAMES
        for c in ("bundle_integrity", "stats_consistency", "freshness")
    }
    store = setup.store
    assert sorted(e.dataset for e in store.list()) == sorted(NAMES)
    assert not any(label.startswith(("missing", "corrupt")) for label in store.datasets())
    corrupt_id = ba.data_id_for(str(corrupt))
    assert not (setup.store_dir / "v1" / "bundles" / corrupt_id).exists()
    for name in NAMES:
        assert ba.load_bundle(dataset=name, store=setup.url).rows == source_rows(setup.paths[name])


def test_bad_sources_fail_a_bundle_only_run_too(setup: Setup, instance: dg.DagsterInstance) -> None:
    """As the sensor and the schedule run it: bundles only, no source observations."""
    corrupt = setup.paths["trips"].with_name("corrupt.parquet")
    corrupt.write_bytes(b"PAR1" + bytes(300) + b"PAR1")
    defs = make_defs([*setup.datasets, Dataset("corrupt", str(corrupt))], setup.url)
    assets = [a for a in defs.resolve_all_asset_keys() if a.path[1] != "sources"]
    result = run_all(defs, instance, selection=assets, raise_on_error=False)
    assert not result.success
    assert set(materializations(result)) == {setup.key(n) for n in NAMES}
    assert "corrupt" not in {e.dataset for e in setup.store.list()}


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 300, ".hidden", "a b"])
def test_unsafe_dataset_names_are_refused_at_definition_time(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset name"):
        Dataset(name, str(tmp_path / "x.parquet"))


def test_dataset_names_that_collide_as_asset_names_are_refused(tmp_path: Path) -> None:
    datasets = [Dataset("a.b", str(tmp_path / "1.csv")), Dataset("a-b", str(tmp_path / "2.csv"))]
    with pytest.raises(ValueError, match="distinct"):
        buckaroo_definitions(datasets, store=BundleStoreResource(url=(tmp_path / "s").as_uri()))


# ---------------------------------------------------------------- 9. progress


def test_progress_in_metadata_and_run_logs(setup: Setup, instance: dg.DagsterInstance) -> None:
    result = run_all(setup.defs, instance)
    mats = materializations(result)
    progress = sorted(value(m, "progress") for m in mats.values())
    assert [p.split(" of 3 datasets")[0] for p in progress] == ["1", "2", "3"]
    total_rows = sum(source_rows(p) for p in setup.paths.values())
    assert f"(0 already stored), {total_rows:,} rows read in" in progress[-1]

    messages = [r.user_message for r in instance.all_logs(result.run_id) if r.user_message]
    lines = [m for m in messages if re.search(r"\b\d+/3 datasets\b", m)]
    assert [re.search(r"(\d+)/3 datasets", m).group(1) for m in lines] == ["1", "2", "3"]
    assert "ETA" in lines[-1]

    # a subset run counts only what it was asked to do
    sub = run_all(setup.defs, instance, selection=[setup.key("prices")])
    (mat,) = materializations(sub).values()
    assert value(mat, "progress").startswith("1 of 1 datasets (1 already stored), 0 rows read")
    messages = [r.user_message for r in instance.all_logs(sub.run_id) if r.user_message]
    assert any(re.search(r"1/1 datasets \(1 already stored\)", m) for m in messages), messages
