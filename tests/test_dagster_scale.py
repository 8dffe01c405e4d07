"""Many datasets: chunked multi-assets, runs only for what changed, bounded sensor ticks.

A real Dagster instance, a real local store and real Parquet files; nothing
is mocked.  Up-to-dateness is judged by Dagster's own records (the latest
materialization's data version), so the tests materialize first, then change
files and look at what the schedule and the sensor ask for.
"""

import contextvars
import json
import math
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.dagster import BundleStoreResource, Dataset, buckaroo_definitions
from buckaroo_assets.dagster.datasets import DATASETS_PER_STEP

from .conftest import dagster_materialize

KEY = "buckaroo"

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings(
        "ignore:Function `EventMethods.get_event_records`:DeprecationWarning"
    ),
]


def write_tiny(path: Path, seed: int = 0, rows: int = 5) -> None:
    pq.write_table(
        pa.table({"id": list(range(rows)), "v": [float(i + seed) for i in range(rows)]}), path
    )


def tiny_datasets(folder: Path, count: int) -> list[Dataset]:
    folder.mkdir(parents=True, exist_ok=True)
    datasets = []
    for i in range(count):
        path = folder / f"d{i:04d}.parquet"
        write_tiny(path, seed=i)
        datasets.append(Dataset(f"d{i:04d}", str(path)))
    return datasets


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([KEY, name])


def bundle_multi_assets(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    return [
        a
        for a in defs.assets or ()
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and not a.is_observable
    ]


def schedule_tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> Any:
    context = dg.build_schedule_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources=dict(defs.resources or {}),
    )
    # Evaluating a tick leaves Dagster's current state storage set to this test's
    # instance (a context variable): keep that out of later tests.
    schedule = defs.get_schedule_def(f"{KEY}_prewarm")
    return contextvars.copy_context().run(schedule.evaluate_tick, context)


def sensor_tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    sensor = defs.get_sensor_def(f"{KEY}_new_versions")
    return contextvars.copy_context().run(sensor.evaluate_tick, context)


def run(
    defs: dg.Definitions, instance: dg.DagsterInstance, selection: list[dg.AssetKey]
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=selection)


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Dataset name -> cache (hit or miss) of every bundle the run materialized."""
    found = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        found[mat.asset_key.path[-1]] = mat.metadata["cache"].value
    return found


def event_count(instance: dg.DagsterInstance) -> int:
    """Runs, and every asset event any run or tick recorded."""
    kinds = (
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        dg.DagsterEventType.ASSET_OBSERVATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    )
    events = sum(
        len(instance.get_event_records(dg.EventRecordsFilter(event_type=kind), limit=100_000))
        for kind in kinds
    )
    return len(instance.get_runs()) + events


# ---------------------------------------------------------------- definitions


def test_definitions_of_2000_datasets_are_chunked_and_build_quickly(tmp_path: Path) -> None:
    datasets = [Dataset(f"d{i:04d}", str(tmp_path / f"d{i:04d}.parquet")) for i in range(2000)]
    started = time.perf_counter()
    defs = buckaroo_definitions(datasets, store=BundleStoreResource(url=tmp_path.as_uri()))
    job = defs.resolve_implicit_global_asset_job_def()
    seconds = time.perf_counter() - started
    assert seconds < 30, seconds  # about 2 s on a quiet 2-core machine

    chunks = bundle_multi_assets(defs)
    assert len(chunks) == math.ceil(2000 / DATASETS_PER_STEP)
    assert all(len(c.keys) <= DATASETS_PER_STEP for c in chunks)
    assert all(len(c.check_keys) == 3 * len(c.keys) for c in chunks)
    assert all(c.can_subset for c in chunks)
    assert set().union(*(c.keys for c in chunks)) == {key(ds.name) for ds in datasets}
    # consecutive datasets share a chunk, whose name says which one it is
    assert [c.node_def.name for c in chunks] == [f"{KEY}_bundles_{n:02d}" for n in range(1, 11)]
    assert {key(f"d{i:04d}") for i in range(DATASETS_PER_STEP)} == set(chunks[0].keys)
    sources = [
        a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition) and a.is_observable
    ]
    assert len(sources) == len(chunks)
    # every chunk is a step of the one asset job
    steps = {node.name for node in job.graph.node_dict.values()}
    assert {c.node_def.name for c in chunks} <= steps


# ---------------------------------------------------------------- prewarm and sensor


@pytest.fixture
def many(tmp_path: Path) -> tuple[list[Dataset], dg.Definitions, str]:
    datasets = tiny_datasets(tmp_path / "data", 300)
    url = (tmp_path / "store").as_uri()
    defs = buckaroo_definitions(datasets, store=BundleStoreResource(url=url), datasets_per_step=128)
    return datasets, defs, url


def test_all_hit_prewarm_and_sensor_request_nothing_and_one_change_rebuilds_one(
    many: tuple[list[Dataset], dg.Definitions, str], instance: dg.DagsterInstance
) -> None:
    datasets, defs, url = many
    assert len(bundle_multi_assets(defs)) == 3

    first = schedule_tick(defs, instance)  # nothing materialized yet: everything
    (request,) = first.run_requests
    assert sorted(request.asset_selection) == sorted(key(ds.name) for ds in datasets)
    built = materialized(run(defs, instance, request.asset_selection))
    assert built == {ds.name: "miss" for ds in datasets}

    # All up to date: no run, no event; the sensor's first tick (no cursor) agrees.
    events = event_count(instance)
    again = schedule_tick(defs, instance)
    assert not again.run_requests
    assert again.skip_message == "every bundle is up to date"
    tick = sensor_tick(defs, instance, None)
    assert not tick.run_requests and not tick.asset_events
    assert len(json.loads(tick.cursor)["seen"]) == len(datasets)
    assert event_count(instance) == events

    # One changed file among 300: the schedule and the sensor ask for it alone.
    write_tiny(Path(datasets[137].source), seed=1000, rows=7)
    (request,) = schedule_tick(defs, instance).run_requests
    assert request.asset_selection == [key("d0137")]
    changed = sensor_tick(defs, instance, tick.cursor)
    assert [r.asset_selection for r in changed.run_requests] == [[key("d0137")]]
    assert [e.asset_key.path[-1] for e in changed.asset_events] == ["d0137_source"]
    rebuilt = run(defs, instance, request.asset_selection)
    assert materialized(rebuilt) == {"d0137": "miss"}
    assert ba.load_bundle(dataset="d0137", store=url).rows == 7
    assert not schedule_tick(defs, instance).run_requests


def test_a_changed_config_or_store_makes_every_bundle_outdated(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 4)
    store = BundleStoreResource(url=(tmp_path / "store").as_uri())
    defs = buckaroo_definitions(datasets, store=store)
    run(defs, instance, [key(ds.name) for ds in datasets])
    assert not schedule_tick(defs, instance).run_requests

    other_config = buckaroo_definitions(datasets, store=store, config=ba.StatsConfig(top_k=3))
    (request,) = schedule_tick(other_config, instance).run_requests
    assert len(request.asset_selection) == 4
    other_store = BundleStoreResource(url=(tmp_path / "elsewhere").as_uri())
    (request,) = schedule_tick(
        buckaroo_definitions(datasets, store=other_store), instance
    ).run_requests
    assert len(request.asset_selection) == 4


def test_sensor_ticks_look_at_a_bounded_slice_and_resume_from_the_cursor(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 10)
    store = BundleStoreResource(url=(tmp_path / "store").as_uri())
    defs = dg.Definitions.merge(
        buckaroo_definitions(datasets, store=store, sensor_interval_seconds=None),
        dg.Definitions(
            sensors=[
                ba.dagster.new_versions_sensor(
                    datasets,
                    {ds.name: key(ds.name) for ds in datasets},
                    {
                        ds.name: dg.AssetKey([KEY, "sources", f"{ds.name}_source"])
                        for ds in datasets
                    },
                    name=f"{KEY}_new_versions",
                    datasets_per_tick=4,
                )
            ]
        ),
    )
    cursor = None
    slices = []
    for _ in range(3):
        result = sensor_tick(defs, instance, cursor)
        slices.append(sorted(k.path[-1] for r in result.run_requests for k in r.asset_selection))
        cursor = result.cursor
    names = [ds.name for ds in datasets]
    assert slices == [names[0:4], names[4:8], names[8:10]]
    state = json.loads(cursor)
    assert sorted(state["seen"]) == names
    assert state["next"] == 2  # 4 + 4 + 4 looked at, wrapping around after the tenth

    # A time budget of zero still makes progress: one batch per tick.
    budgeted = ba.dagster.new_versions_sensor(
        datasets,
        {ds.name: key(ds.name) for ds in datasets},
        {ds.name: dg.AssetKey([KEY, "sources", f"{ds.name}_source"]) for ds in datasets},
        tick_budget_seconds=0,
    )
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources=dict(defs.resources or {})
    )
    result = contextvars.copy_context().run(budgeted.evaluate_tick, context)
    assert len(json.loads(result.cursor)["seen"]) == len(datasets)  # one batch holds all ten


def test_sensor_reads_a_cursor_without_a_position(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 3)
    defs = buckaroo_definitions(datasets, store=BundleStoreResource(url=(tmp_path / "s").as_uri()))
    seen = {ds.name: ba.data_id_for(ds.source) for ds in datasets}
    result = sensor_tick(defs, instance, json.dumps({"seen": seen, "requested": 5}))
    # nothing changed since that cursor: no run, and the cursor gains its position
    assert not result.run_requests
    assert json.loads(result.cursor) == {"seen": seen, "requested": 5, "next": 0}


# ---------------------------------------------------------------- pointers on hits


def test_hits_leave_pointers_that_already_point_right_untouched(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    datasets = tiny_datasets(tmp_path / "data", 3)
    store_dir = tmp_path / "store"
    defs = buckaroo_definitions(datasets, store=BundleStoreResource(url=store_dir.as_uri()))
    keys = [key(ds.name) for ds in datasets]
    run(defs, instance, keys)

    def pointers() -> dict[str, tuple[int, int]]:
        found = [
            *store_dir.glob("v1/datasets/*/*.json"),
            *store_dir.glob("v1/bundles/*/latest.json"),
        ]
        return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in found}

    before = pointers()
    assert len(before) == 3 * len(datasets)
    assert set(materialized(run(defs, instance, keys)).values()) == {"hit"}
    assert pointers() == before  # a write replaces the file (new inode): none happened

    # A pointer naming something else is moved on the next hit.
    moved = store_dir / "v1" / "datasets" / "d0001" / "latest.json"
    moved.write_bytes((store_dir / "v1" / "datasets" / "d0002" / "latest.json").read_bytes())
    run(defs, instance, [key("d0001")])
    assert ba.BundleStore(store_dir.as_uri()).resolve(dataset="d0001")[0] == ba.data_id_for(
        datasets[1].source
    )
    after = pointers()
    assert after[str(moved)] != before[str(moved)]
    assert {p: v for p, v in after.items() if p != str(moved)} == {
        p: v for p, v in before.items() if p != str(moved)
    }


# ---------------------------------------------------------------- parallel chunks

_LOCATION = """
from buckaroo_assets.dagster import BundleStoreResource, Dataset, buckaroo_definitions

defs = buckaroo_definitions(
    [Dataset(f"d{{i:04d}}", f"{data}/d{{i:04d}}.parquet") for i in range({count})],
    store=BundleStoreResource(url="{url}"),
    datasets_per_step={per_step},
    granularity="{granularity}",
)
"""


@pytest.mark.parametrize(
    ("granularity", "prefix"), [("dataset", f"{KEY}_bundles_"), ("chunk", f"{KEY}__chunks__000")]
)
def test_chunks_run_as_parallel_steps_under_the_multiprocess_executor(
    tmp_path: Path, granularity: str, prefix: str
) -> None:
    tiny_datasets(tmp_path / "data", 0)
    for i in range(40):
        write_tiny(tmp_path / "data" / f"d{i:04d}.parquet", seed=i, rows=20_000)
    location = tmp_path / "location.py"
    url = (tmp_path / "store").as_uri()
    location.write_text(
        _LOCATION.format(data=tmp_path / "data", count=40, url=url, per_step=20, granularity=granularity)
    )
    home = dagster_materialize(location, tmp_path)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_runs()
        steps: dict[str, dict[str, Any]] = {}
        for entry in instance.all_logs(record.run_id):
            event = entry.dagster_event
            if event is None or not (event.step_key or "").startswith(prefix):
                continue
            step = steps.setdefault(event.step_key, {})
            if event.event_type == dg.DagsterEventType.STEP_START:
                step["start"], step["pid"] = entry.timestamp, event.pid
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                step["end"] = entry.timestamp
    assert sorted(steps) == [f"{prefix}1", f"{prefix}2"]
    one, two = steps.values()
    assert one["pid"] != two["pid"]
    assert one["start"] < two["end"] and two["start"] < one["end"], steps  # they overlapped
    assert len(ba.BundleStore(url).list()) == 40
