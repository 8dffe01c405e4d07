"""The YAML Component, loaded the ways a user's tools load it.

The example project (``examples/yaml_project``) is copied to ``tmp_path``
first, so loading, materializing and the CLIs write nothing into the
repository.  Expected values are computed independently: the config_id from
``StatsConfig`` and the stats read from the YAML file, row counts by pyarrow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pytest
import yaml

import buckaroo_assets as ba
from buckaroo_assets.dagster import BuckarooBundles, BundleStoreResource

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "yaml_project"
PACKAGE = "yaml_project"
COMPONENT = Path(PACKAGE) / "defs" / "bundles"
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:dagster"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    # dagster's own YAML parsing still calls pydantic's parse_obj_as.
    pytest.mark.filterwarnings("ignore:`parse_obj_as` is deprecated:DeprecationWarning"),
]


# ---------------------------------------------------------------- helpers


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the example project, without any store or cache a run left behind."""
    root = tmp_path / "yaml_project"
    shutil.copytree(
        EXAMPLE, root, ignore=shutil.ignore_patterns(".buckaroo", "__pycache__", ".tmp_dagster*")
    )
    return root


def defs_yaml(root: Path) -> Path:
    return root / COMPONENT / "defs.yaml"


def read_attributes(root: Path) -> dict[str, Any]:
    return yaml.safe_load(defs_yaml(root).read_text())["attributes"]


def write_attributes(root: Path, attributes: dict[str, Any]) -> None:
    doc = {"type": "buckaroo_assets.dagster.BuckarooBundles", "attributes": attributes}
    defs_yaml(root).write_text(yaml.safe_dump(doc, sort_keys=False))


def forget_project_modules() -> None:
    # Every test copies the project elsewhere: a cached module would point at an older copy.
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Load a copied project in-process, as ``definitions.py`` does."""

    def _load(root: Path) -> dg.Definitions:
        forget_project_modules()
        monkeypatch.syspath_prepend(str(root))
        return dg.load_from_defs_folder(path_within_project=root)

    yield _load
    forget_project_modules()


def error_text(exc: BaseException) -> str:
    """The whole chain, as a user reading the traceback sees it."""
    return "".join(traceback.format_exception(exc))


def cli_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = dict(os.environ, DAGSTER_HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("BUCKAROO_STORE_URL", None)
    return env


def run_cli(args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = BIN / args[0]
    assert exe.exists(), f"{exe} is missing: install the dev extra (dagster-dg-cli provides dg)"
    return subprocess.run(
        [str(exe), *args[1:]],
        cwd=cwd,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# ---------------------------------------------------------------- loading from YAML


def test_yaml_declares_bundle_assets_with_config_id_code_versions(project: Path, load: Any) -> None:
    defs = load(project)
    attributes = read_attributes(project)
    config_id = ba.StatsConfig(**attributes["stats"]).config_id
    names = [d["name"] for d in attributes["datasets"]]
    assert names == ["trips", "events"]

    graph = defs.resolve_asset_graph()
    bundle_keys = {dg.AssetKey(["buckaroo", n]) for n in names}
    source_keys = {dg.AssetKey(["buckaroo", "sources", f"{n}_source"]) for n in names}
    assert set(graph.get_all_asset_keys()) == bundle_keys | source_keys
    for name in names:
        node = graph.get(dg.AssetKey(["buckaroo", name]))
        assert node.code_version == config_id
        assert node.is_materializable
        assert node.parent_keys == {dg.AssetKey(["buckaroo", "sources", f"{name}_source"])}
        assert graph.get(dg.AssetKey(["buckaroo", "sources", f"{name}_source"])).is_observable

    store = defs.resources["buckaroo_store"]
    assert isinstance(store, BundleStoreResource)
    assert store.url == (project / COMPONENT / ".buckaroo" / "store").resolve().as_uri()

    (schedule,) = defs.schedules
    assert schedule.name == "buckaroo_prewarm"
    assert schedule.cron_schedule == attributes["prewarm_cron"]
    (sensor,) = defs.sensors
    assert sensor.name == "buckaroo_new_versions"
    assert sensor.minimum_interval_seconds == attributes["sensor_interval_seconds"]


@pytest.mark.parametrize(
    ("checks", "names"),
    [
        ("each", {"bundle_integrity", "stats_consistency", "freshness"}),
        ("one", {"bundle"}),
        ("none", set()),
    ],
)
def test_yaml_says_how_the_checks_are_reported(
    project: Path, load: Any, checks: str, names: set[str]
) -> None:
    write_attributes(project, {**read_attributes(project), "checks": checks})
    graph = load(project).resolve_asset_graph()
    declared = {(key.asset_key.path[-1], key.name) for key in graph.asset_check_keys}
    assert declared == {(dataset, name) for dataset in ("trips", "events") for name in names}


def test_templates_are_rendered_and_plain_text_kept(
    project: Path, load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIPS_FOLDER", "data")
    attributes = read_attributes(project)
    attributes["datasets"][0] |= {
        "source": "{{ env.TRIPS_FOLDER }}/trips.csv",
        "description": "Trips from {{ env.TRIPS_FOLDER }}",
    }
    attributes["datasets"][1]["description"] = "Events {not a template}"
    write_attributes(project, attributes)
    specs = {spec.key.path[-1]: spec for spec in load(project).resolve_all_asset_specs()}
    trips, events = specs["trips"], specs["events"]
    assert trips.metadata["source"] == str((project / COMPONENT / "data" / "trips.csv").resolve())
    assert (trips.description, events.description) == ("Trips from data", "Events {not a template}")


def test_relative_sources_resolve_against_the_defs_folder_not_the_cwd(
    project: Path, load: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    graph = load(project).resolve_asset_graph()
    for name, file in [("trips", "trips.csv"), ("events", "events.jsonl")]:
        spec = graph.get(dg.AssetKey(["buckaroo", name]))
        assert spec.metadata["source"] == str((project / COMPONENT / "data" / file).resolve())


def test_materialize_yaml_declared_assets_then_load_the_bundles(project: Path, load: Any) -> None:
    defs = load(project)
    attributes = read_attributes(project)
    config = ba.StatsConfig(**attributes["stats"])
    store = defs.resources["buckaroo_store"]
    keys = [dg.AssetKey(["buckaroo", d["name"]]) for d in attributes["datasets"]]

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            list(defs.assets or []), resources=defs.resources, selection=keys, instance=instance
        )
    assert result.success
    assert {m.asset_key for m in result.asset_materializations_for_node("buckaroo_bundles")} == (
        set(keys)
    )

    data = project / COMPONENT / "data"
    expected = {
        "trips": pa_csv.read_csv(data / "trips.csv"),
        "events": pa_json.read_json(data / "events.jsonl"),
    }
    store_dir = project / COMPONENT / ".buckaroo" / "store"
    assert store_dir.is_dir()
    for name, table in expected.items():
        bundle = ba.load_bundle(dataset=name, store=store.url, config=config)
        assert bundle.config_id == config.config_id
        assert bundle.rows == table.num_rows
        assert bundle.first_window.num_rows == min(table.num_rows, config.window_rows)
        assert [orig for _, orig in bundle.columns] == table.column_names
        assert bundle.data_id == ba.data_id_for(str(data / expected_file(name)))


def expected_file(name: str) -> str:
    return {"trips": "trips.csv", "events": "events.jsonl"}[name]


# ---------------------------------------------------------------- clear errors


def test_unknown_stats_field_fails_naming_the_field(project: Path, load: Any) -> None:
    attributes = read_attributes(project)
    attributes["stats"]["histogram_binz"] = 12
    write_attributes(project, attributes)
    with pytest.raises(Exception) as info:
        load(project)
    text = error_text(info.value)
    assert "unknown StatsConfig fields: ['histogram_binz']" in text
    assert "known settings: window_rows, histogram_bins" in text
    assert "defs.yaml" in text


def test_out_of_range_stats_value_fails(project: Path, load: Any) -> None:
    attributes = read_attributes(project)
    attributes["stats"]["top_k"] = 99
    write_attributes(project, attributes)
    with pytest.raises(Exception) as info:
        load(project)
    assert "top_k must be between 0 and 10, got 99" in error_text(info.value)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("trips/../etc", "found '/'"),
        ("..hidden", "must not start with '.'"),
        ("", "must not be empty"),
    ],
)
def test_unsafe_dataset_name_fails_with_position(
    project: Path, load: Any, name: str, why: str
) -> None:
    attributes = read_attributes(project)
    attributes["datasets"][0]["name"] = name
    write_attributes(project, attributes)
    with pytest.raises(Exception) as info:
        load(project)
    text = error_text(info.value)
    assert "dataset name" in text
    assert why in text
    assert "defs.yaml:" in text  # points at the line


def test_dataset_names_that_collide_as_asset_names_fail(project: Path, load: Any) -> None:
    attributes = read_attributes(project)
    attributes["datasets"][0]["name"] = "trips-2024"
    attributes["datasets"][1]["name"] = "trips_2024"
    write_attributes(project, attributes)
    with pytest.raises(Exception) as info:
        load(project)
    assert "'trips-2024' and 'trips_2024'" in error_text(info.value)


def test_unknown_attribute_fails(project: Path, load: Any) -> None:
    attributes = read_attributes(project)
    attributes["datasets"][0]["path"] = "data/trips.csv"
    write_attributes(project, attributes)
    with pytest.raises(Exception) as info:
        load(project)
    text = error_text(info.value)
    assert "path" in text
    assert "Extra inputs are not permitted" in text


# ---------------------------------------------------------------- attributes and defaults


def test_defaults_and_nulls(tmp_path: Path) -> None:
    minimal = BuckarooBundles.resolve_from_yaml("datasets:\n  - {name: a, source: a.csv}\n")
    assert minimal.key_prefix == "buckaroo"
    assert minimal.prewarm_cron == "0 3 * * *"
    assert minimal.sensor_interval_seconds == 60
    assert minimal.stats_config == ba.StatsConfig()
    defs = minimal.build_definitions(tmp_path)
    store = defs.resources["buckaroo_store"]
    assert store.url is None  # the resource's default: $BUCKAROO_STORE_URL, else .buckaroo/store
    assert [s.cron_schedule for s in defs.schedules] == ["0 3 * * *"]
    assert [s.minimum_interval_seconds for s in defs.sensors] == [60]
    assert [s.default_status for s in defs.schedules] == [dg.DefaultScheduleStatus.STOPPED]
    assert [s.default_status for s in defs.sensors] == [dg.DefaultSensorStatus.STOPPED]

    running = BuckarooBundles.resolve_from_yaml(
        "datasets:\n  - {name: a, source: a.csv}\nautomation_running: true\n"
    ).build_definitions(tmp_path)
    assert [s.default_status for s in running.schedules] == [dg.DefaultScheduleStatus.RUNNING]
    assert [s.default_status for s in running.sensors] == [dg.DefaultSensorStatus.RUNNING]

    off = BuckarooBundles.resolve_from_yaml(
        "datasets:\n  - {name: a, source: a.csv}\n"
        "key_prefix: lake\nprewarm_cron: null\nsensor_interval_seconds: null\n"
    )
    defs = off.build_definitions(tmp_path)
    assert not list(defs.schedules or [])
    assert not list(defs.sensors or [])
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert dg.AssetKey(["lake", "a"]) in keys


def test_a_drift_check_from_yaml(tmp_path: Path) -> None:
    base = "datasets:\n  - {name: a, source: a.csv}\n  - {name: b, source: b.csv}\n"
    plain = BuckarooBundles.resolve_from_yaml(base).build_definitions(tmp_path)
    checks = {k.name for k in plain.resolve_asset_graph().asset_check_keys}
    assert "drift" not in checks  # opt-in
    component = BuckarooBundles.resolve_from_yaml(
        base + "drift: {rows_drop_pct: 2.5, distance: null, severity: ERROR}\n"
    )
    drift = component.drift.check()
    assert (drift.severity, drift.thresholds) == (
        "ERROR",
        ba.DriftThresholds(rows_drop_pct=2.5, distance=None),
    )
    graph = component.build_definitions(tmp_path).resolve_asset_graph()
    with_drift = {k.asset_key.path[-1] for k in graph.asset_check_keys if k.name == "drift"}
    assert with_drift == {"a", "b"}
    for bad, message in [("severity: LOUD", "severity"), ("distance: 3", "distance")]:
        with pytest.raises(Exception) as info:
            BuckarooBundles.resolve_from_yaml(base + f"drift: {{{bad}}}\n")
        assert message in error_text(info.value)


def test_urls_and_absolute_paths_are_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "data" / "x.parquet"
    component = BuckarooBundles.resolve_from_dict(
        {
            "datasets": [
                {"name": "remote", "source": "s3://bucket/x/", "storage_options": {"anon": True}},
                {"name": "local", "source": str(absolute)},
            ],
            "store": {"url": "memory://bundles", "viewer_url": "http://127.0.0.1:8700"},
        }
    )
    defs = component.build_definitions(tmp_path / "unused")
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["buckaroo", "remote"])).metadata["source"] == "s3://bucket/x/"
    assert graph.get(dg.AssetKey(["buckaroo", "local"])).metadata["source"] == str(absolute)
    store = defs.resources["buckaroo_store"]
    assert (store.url, store.viewer_url) == ("memory://bundles", "http://127.0.0.1:8700")


def test_invalid_scalar_attributes(tmp_path: Path) -> None:
    base = "datasets:\n  - {name: a, source: a.csv}\n"
    for extra, message in [
        ("key_prefix: bad-prefix\n", "key_prefix must be"),
        ("sensor_interval_seconds: 0\n", "sensor_interval_seconds must be >= 1"),
    ]:
        with pytest.raises(Exception) as info:
            BuckarooBundles.resolve_from_yaml(base + extra)
        assert message in error_text(info.value)
    with pytest.raises(Exception) as info:
        BuckarooBundles.resolve_from_yaml("datasets: []\n")
    assert "declare at least one dataset" in error_text(info.value)


def test_two_components_need_their_own_resource_keys(project: Path, load: Any) -> None:
    second = project / PACKAGE / "defs" / "more_bundles"
    shutil.copytree(project / COMPONENT, second)
    attributes = read_attributes(project)
    attributes.update(key_prefix="more", resource_key="more_store", store={"url": "store"})
    doc = {"type": "buckaroo_assets.dagster.BuckarooBundles", "attributes": attributes}
    (second / "defs.yaml").write_text(yaml.safe_dump(doc))
    defs = load(project)
    assert defs.resources["more_store"].url == (second / "store").as_uri()
    assert defs.resources["buckaroo_store"].url != defs.resources["more_store"].url
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert {dg.AssetKey(["more", "trips"]), dg.AssetKey(["buckaroo", "trips"])} <= keys


# ---------------------------------------------------------------- the command-line tools


def test_dg_check_defs_passes(project: Path, tmp_path: Path) -> None:
    done = run_cli(["dg", "check", "defs"], project, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout
    assert not (project / COMPONENT / ".buckaroo").exists()  # validating builds nothing


def test_dg_check_defs_reports_an_unknown_stats_field(project: Path, tmp_path: Path) -> None:
    attributes = read_attributes(project)
    attributes["stats"]["histogram_binz"] = 12
    write_attributes(project, attributes)
    done = run_cli(["dg", "check", "defs"], project, tmp_path)
    assert done.returncode != 0
    assert "unknown StatsConfig fields: ['histogram_binz']" in done.stdout + done.stderr


def test_dagster_definitions_validate_passes(project: Path, tmp_path: Path) -> None:
    done = run_cli(
        ["dagster", "definitions", "validate", "-m", f"{PACKAGE}.definitions"], project, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr
