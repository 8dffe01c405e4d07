"""One store rule and one stats configuration for every door (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import buckaroo_assets as ba
from buckaroo_assets.project import ProjectConfigError, find_project
from buckaroo_assets.store import STORE_ENV, choose_store


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as the working directory, with no store in the environment."""
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _publish(store_url: str, dataset: str = "trips") -> ba.Bundle:
    bundle = ba.build_bundle(pa.table({"x": [1, 2, 3]}), data_id="trips-v1")
    ba.BundleStore(store_url).put(bundle, dataset=dataset)
    return bundle


def test_default_store_is_dot_buckaroo_store_under_the_working_directory(project: Path) -> None:
    choice = choose_store()
    assert choice.url == (project / ".buckaroo" / "store").as_uri()
    assert "default" in choice.reason
    _publish(choice.url)
    assert ba.load_bundle(dataset="trips").rows == 3  # no store argument at all


def test_env_beats_project_and_explicit_beats_env(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "buckaroo.toml").write_text('store = "from-project"\n')
    assert choose_store().url == str(project / "from-project")
    assert str(project / "buckaroo.toml") in choose_store().reason
    monkeypatch.setenv(STORE_ENV, str(project / "from-env"))
    assert choose_store().url == str(project / "from-env")
    assert choose_store("given").url == "given" and choose_store("given").reason == "given explicitly"


def test_project_store_is_found_from_a_subfolder_and_is_relative_to_its_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text('[tool.buckaroo-assets]\nstore = "bundles"\n')
    (project / "src" / "app").mkdir(parents=True)
    monkeypatch.chdir(project / "src" / "app")
    _publish(str(project / "bundles"))
    assert ba.load_bundle(dataset="trips").data_id == "trips-v1"


def test_a_miss_says_where_it_looked_and_suggests_a_dataset(project: Path) -> None:
    _publish(choose_store().url)
    with pytest.raises(ba.BundleNotFound) as caught:
        ba.load_bundle("trips")  # a dataset's name passed as a data_id
    message = str(caught.value)
    assert ".buckaroo/store" in message and "default" in message
    assert "load_bundle(dataset='trips')" in message
    with pytest.raises(ba.BundleNotFound, match="store given explicitly"):
        ba.load_bundle(dataset="nope", store=choose_store().url)


def test_stats_config_from_the_project(project: Path) -> None:
    assert ba.StatsConfig.from_project() == ba.StatsConfig()  # no file: the defaults
    (project / "pyproject.toml").write_text(
        "[tool.buckaroo-assets.stats]\nwindow_rows = 50\nskip_columns = ['secret']\n"
    )
    config = ba.StatsConfig.from_project()
    assert config == ba.StatsConfig(window_rows=50, skip_columns=["secret"])
    assert ba.StatsConfig.from_project(top_k=3) == config.replace(top_k=3)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[tool.buckaroo-assets]\nstroe = 'x'\n", "unknown keys ['stroe']"),
        ("[tool.buckaroo-assets]\nstore = 5\n", "store must be a non-empty string"),
        ("[tool.buckaroo-assets.stats]\ntop_k = 99\n", "top_k must be between 0 and 10"),
        ("[tool.buckaroo-assets.stats]\ncolour = 'red'\n", "unknown StatsConfig fields"),
        ("[tool.buckaroo-assets\n", "cannot read the project configuration"),
    ],
)
def test_a_bad_project_file_is_a_clear_error_naming_it(
    project: Path, text: str, complaint: str
) -> None:
    (project / "pyproject.toml").write_text(text)
    with pytest.raises(ProjectConfigError) as caught:
        find_project()
        ba.StatsConfig.from_project()
    assert complaint in str(caught.value) and "pyproject.toml" in str(caught.value)


def test_a_pyproject_without_our_table_is_not_a_project_file(project: Path) -> None:
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_project().path is None
