"""``granularity="chunk"``: one asset per chunk of datasets, on a real instance and store.

Dagster's own records decide what is outdated (each chunk materialization
lists its datasets' data_ids), so the tests materialize, change or break
files, and look at what the schedule and the sensor ask for and what the
runs record.
"""

import json
import time
from pathlib import Path

import dagster as dg
import pytest

import buckaroo_assets as ba
from buckaroo_assets.dagster import (
    BuckarooBundles,
    BundleStoreResource,
    buckaroo_definitions,
    chunk_keys,
    prewarm_schedule,
)
from buckaroo_assets.dagster.chunks import CHUNK_DATA_IDS

from .test_dagster_scale import (
    KEY,
    bundle_multi_assets,
    event_count,
    run,
    schedule_tick,
    sensor_tick,
    tiny_datasets,
    write_tiny,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore:`parse_obj_as` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Function `EventMethods.get_event_records`:DeprecationWarning"
    ),
]


def chunk(number: int) -> dg.AssetKey:
    return dg.AssetKey([KEY, "chunks", f"{number:04d}"])


def chunk_materializations(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict]:
    """Chunk key -> its materialization's metadata values."""
    found = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        found[mat.asset_key] = {name: value.value for name, value in mat.metadata.items()}
    return found


def test_definitions_of_5000_datasets_are_a_few_chunk_assets(tmp_path: Path) -> None:
    datasets = [ba.dagster.Dataset(f"d{i:04d}", str(tmp_path / f"d{i:04d}.parquet")) for i in range(5000)]
    started = time.perf_counter()
    defs = buckaroo_definitions(
        datasets, store=BundleStoreResource(url=tmp_path.as_uri()), granularity="chunk",
        datasets_per_step=500,
    )  # fmt: skip
    defs.resolve_implicit_global_asset_job_def()
    assert time.perf_counter() - started < 30  # well under a second on a quiet machine

    chunks = bundle_multi_assets(defs)
    assert [c.key for c in chunks] == [chunk(n) for n in range(1, 11)]
    assert all(len(c.check_keys) == 3 for c in chunks)
    assert not [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition) and a.is_observable]
    spec = chunks[1].specs_by_key[chunk(2)]
    assert spec.metadata["datasets"].value == [f"d{i:04d}" for i in range(500, 1000)]
    assert spec.code_version == ba.StatsConfig.from_project().config_id

    with pytest.raises(ValueError, match="granularity must be 'dataset' or 'chunk'"):
        buckaroo_definitions(datasets[:2], granularity="partition")  # type: ignore[arg-type]


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[list[ba.dagster.Dataset], dg.Definitions, str]:
    datasets = tiny_datasets(tmp_path / "data", 300)
    url = (tmp_path / "store").as_uri()
    defs = buckaroo_definitions(
        datasets, store=BundleStoreResource(url=url), datasets_per_step=128, granularity="chunk",
        checks="one",
    )  # fmt: skip
    return datasets, defs, url


def test_chunks_build_once_then_only_the_chunk_of_a_changed_dataset_runs(
    fleet: tuple[list[ba.dagster.Dataset], dg.Definitions, str], instance: dg.DagsterInstance
) -> None:
    datasets, defs, url = fleet
    (request,) = schedule_tick(defs, instance).run_requests
    assert request.asset_selection == [chunk(1), chunk(2), chunk(3)]
    result = run(defs, instance, request.asset_selection)
    recorded = chunk_materializations(result)
    assert [m["datasets"] for m in recorded.values()] == [128, 128, 44]
    assert {m["built"] for m in recorded.values()} == {128, 44}
    ids = {name: i for m in recorded.values() for name, i in m[CHUNK_DATA_IDS].items()}
    assert ids == {ds.name: ba.data_id_for(ds.source) for ds in datasets}
    assert ba.BundleStore(url).resolve(dataset="d0299")[0] == ids["d0299"]
    checks = result.get_asset_check_evaluations()
    assert [(c.asset_key, c.passed) for c in checks] == [(chunk(n), True) for n in (1, 2, 3)]
    assert checks[0].metadata["datasets"].value == 128

    # All up to date: the schedule and the sensor's first tick ask for nothing, record nothing.
    events = event_count(instance)
    assert schedule_tick(defs, instance).skip_message == "every bundle is up to date"
    tick = sensor_tick(defs, instance, None)
    assert not tick.run_requests and not tick.asset_events
    assert event_count(instance) == events

    # One changed file among 300: its chunk alone, where it alone is built.
    write_tiny(Path(datasets[137].source), seed=1000, rows=7)
    (request,) = schedule_tick(defs, instance).run_requests
    assert request.asset_selection == [chunk(2)]
    changed = sensor_tick(defs, instance, tick.cursor)
    assert [r.asset_selection for r in changed.run_requests] == [[chunk(2)]]
    assert "d0137" in changed.run_requests[0].tags["buckaroo/datasets"]
    again = chunk_materializations(run(defs, instance, request.asset_selection))
    assert again[chunk(2)]["built"] == 1 and again[chunk(2)]["hits"] == 127
    assert again[chunk(2)]["rows_read"] == 7
    assert ba.load_bundle(dataset="d0137", store=url).rows == 7
    assert not schedule_tick(defs, instance).run_requests


def test_a_failing_dataset_fails_its_chunk_after_the_others_and_alone_stays_outdated(
    fleet: tuple[list[ba.dagster.Dataset], dg.Definitions, str], instance: dg.DagsterInstance
) -> None:
    datasets, defs, url = fleet
    Path(datasets[5].source).write_bytes(b"not parquet at all")
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, asset_selection=[chunk(1)], raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "1 of 128 datasets failed" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "d0005" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    (recorded,) = chunk_materializations(result).values()
    assert recorded["failed"] == 1 and len(recorded[CHUNK_DATA_IDS]) == 127
    (check,) = result.get_asset_check_evaluations()  # a failed build fails the chunk's check
    assert not check.passed
    assert check.description.startswith("1 of 128 datasets failed: d0005: its build failed: ")
    assert "d0005" not in recorded[CHUNK_DATA_IDS]
    assert len(ba.BundleStore(url).list()) == 127

    # Repaired, it is the only one the sensor finds outdated in that chunk.
    write_tiny(Path(datasets[5].source), seed=5)
    tick = sensor_tick(defs, instance, None)
    (request,) = tick.run_requests
    assert request.asset_selection == [chunk(1), chunk(2), chunk(3)]  # 2 and 3 never built
    assert json.loads(tick.cursor)["requested"] == 1
    rebuilt = chunk_materializations(run(defs, instance, [chunk(1)]))
    assert rebuilt[chunk(1)]["built"] == 1 and rebuilt[chunk(1)]["failed"] == 0


def test_a_chunk_check_names_the_datasets_it_failed_for(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 6)
    store_dir = tmp_path / "store"
    defs = buckaroo_definitions(
        datasets, store=BundleStoreResource(url=store_dir.as_uri()), granularity="chunk"
    )
    run(defs, instance, [chunk(1)])
    write_tiny(Path(datasets[2].source), seed=99)  # the stored bundle is no longer fresh
    wanted = [dg.AssetCheckKey(chunk(1), name) for name in ("bundle_integrity", "freshness")]
    checks_only = dg.define_asset_job("chunk_checks", selection=dg.AssetSelection.checks(*wanted))
    with_job = dg.Definitions.merge(defs, dg.Definitions(jobs=[checks_only]))
    result = with_job.get_job_def("chunk_checks").execute_in_process(instance=instance)
    checks = result.get_asset_check_evaluations()
    assert not result.get_asset_materialization_events()
    by_name = {c.check_name: c for c in checks}
    assert by_name["bundle_integrity"].passed
    fresh = by_name["freshness"]
    assert not fresh.passed
    assert fresh.description.startswith("1 of 6 datasets failed: d0002: the source changed")
    assert fresh.metadata["failures"].value == {"d0002": "the source changed since the bundle"}


def test_datasets_inserted_or_removed_make_the_shifted_chunks_outdated(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """A chunk's record speaks for the members it had: a chunk whose members changed is
    requested once more (its datasets are hits), one whose members did not is left alone."""
    datasets = tiny_datasets(tmp_path / "data", 7)
    store = BundleStoreResource(url=(tmp_path / "store").as_uri())

    def defs_of(declared: list[ba.dagster.Dataset]) -> dg.Definitions:
        return buckaroo_definitions(declared, store=store, granularity="chunk", datasets_per_step=3)

    every = defs_of(datasets)
    run(every, instance, [chunk(1), chunk(2), chunk(3)])
    assert not schedule_tick(every, instance).run_requests
    assert not schedule_tick(defs_of(datasets[:6]), instance).run_requests  # the last removed
    without_d5 = defs_of([*datasets[:5], datasets[6]])  # chunk 2 is now d3, d4, d6
    (request,) = schedule_tick(without_d5, instance).run_requests
    assert request.asset_selection == [chunk(2)]
    fewer = defs_of(datasets[1:])  # d1-d3, d4-d6: both chunks moved
    (request,) = schedule_tick(fewer, instance).run_requests
    assert request.asset_selection == [chunk(1), chunk(2)]
    again = chunk_materializations(run(fewer, instance, request.asset_selection))
    assert {m["hits"] for m in again.values()} == {3} and not schedule_tick(fewer, instance).run_requests
    subset = defs_of(datasets[1:6])  # chunk 2 is d4, d5: fewer members than its record's
    (request,) = schedule_tick(subset, instance).run_requests
    assert request.asset_selection == [chunk(2)]


def test_a_dataset_built_in_another_chunk_meanwhile_is_read_from_that_newer_record(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """x is built at A in chunk 2; p is removed, so x moves to chunk 1 and is built there at
    B; p comes back (x to chunk 2 again, whose record still says A) and x returns to A: the
    newer record says B, so x's chunk runs and its pointer names A again."""
    p, x = tiny_datasets(tmp_path / "data", 2)
    store = BundleStoreResource(url=(tmp_path / "store").as_uri())

    def defs_of(declared: list[ba.dagster.Dataset]) -> dg.Definitions:
        return buckaroo_definitions(declared, store=store, granularity="chunk", datasets_per_step=1)

    run(defs_of([p, x]), instance, [chunk(1), chunk(2)])
    first = ba.data_id_for(x.source)
    write_tiny(Path(x.source), seed=50)
    run(defs_of([x]), instance, [chunk(1)])
    assert ba.load_bundle(dataset=x.name, store=store.url).data_id != first
    write_tiny(Path(x.source), seed=1)  # as tiny_datasets wrote it
    assert ba.data_id_for(x.source) == first
    (request,) = schedule_tick(defs_of([p, x]), instance).run_requests
    assert request.asset_selection == [chunk(1), chunk(2)]
    (request,) = sensor_tick(defs_of([p, x]), instance, None).run_requests
    assert request.asset_selection == [chunk(1), chunk(2)]
    run(defs_of([p, x]), instance, [chunk(1), chunk(2)])
    assert ba.load_bundle(dataset=x.name, store=store.url).data_id == first
    assert not schedule_tick(defs_of([p, x]), instance).run_requests


def test_chunk_keys_and_the_prewarm_schedule_take_plain_arguments(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 3)
    assert set(chunk_keys(datasets, "lake", 2).values()) == {
        dg.AssetKey(["lake", "chunks", "0001"]), dg.AssetKey(["lake", "chunks", "0002"])
    }
    defs = buckaroo_definitions(datasets, store=BundleStoreResource(url=(tmp_path / "s").as_uri()))
    assets = bundle_multi_assets(defs)
    one_each = {dg.AssetKey([KEY, ds.name]): ds for ds in datasets}  # a Dataset per key, as before
    schedule = prewarm_schedule(assets, datasets=one_each, name=f"{KEY}_prewarm")
    with_schedule = dg.Definitions.merge(
        dg.Definitions(assets=defs.assets, resources=defs.resources), dg.Definitions(schedules=[schedule])
    )
    (request,) = schedule_tick(with_schedule, instance).run_requests
    assert sorted(request.asset_selection) == sorted(one_each)


def test_the_yaml_component_takes_a_granularity(tmp_path: Path) -> None:
    component = BuckarooBundles.resolve_from_yaml(
        "granularity: chunk\ndatasets_per_step: 2\n"
        "datasets:\n  - {name: a, source: a.csv}\n  - {name: b, source: b.csv}\n"
        "  - {name: c, source: c.csv}\n"
    )
    chunks = bundle_multi_assets(component.build_definitions(tmp_path))
    assert [c.key for c in chunks] == [chunk(1), chunk(2)]
    with pytest.raises(Exception, match="granularity"):
        BuckarooBundles.resolve_from_yaml("granularity: each\ndatasets:\n  - {name: a, source: a.csv}\n")
