"""Bundle assets declared in YAML: a Dagster Component wrapping ``buckaroo_definitions``.

A data engineer who keeps a code location in ``dg`` layout adds a folder with a
``defs.yaml`` instead of Python::

    type: buckaroo_assets.dagster.BuckarooBundles
    attributes:
      datasets:
        - name: trips
          source: data/trips.csv          # relative: resolved against this folder
        - name: events
          source: s3://bucket/events/
          storage_options: {anon: true}
          fragments: files                # one step per file, then one merge step
      store:
        url: .buckaroo/store              # relative: resolved against this folder
      stats:
        histogram_bins: 20
      drift:                              # optional: check each new version against the last
        rows_drop_pct: 10
        severity: ERROR

Everything is checked when the code location loads (and so by ``dg check defs``
and ``dagster definitions validate``): unknown keys, unsafe dataset names and
unknown or out-of-range stats settings fail with a message naming the field,
not at the first materialization.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from ..bundle.config import StatsConfig
from ..changes.thresholds import DriftThresholds
from .checks import ChecksMode
from .chunks import Granularity
from .datasets import DATASETS_PER_STEP, Dataset, check_distinct_asset_names
from .definitions import buckaroo_definitions
from .drift import DriftCheck
from .fragments import FragmentedDataset
from .naming import asset_name
from .resource import BundleStoreResource

__all__ = ["BuckarooBundles", "BundleStoreModel", "DatasetModel", "DriftModel"]

# A URL has a scheme (s3://, memory://, file://, https://, ...); anything else is a local path.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# The prefix becomes an asset key segment and part of op, sensor and schedule names.
_KEY_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Definitions built lately, by a digest of everything they are built from.
_BUILT: dict[str, dg.Definitions] = {}
_BUILT_KEPT = 4


def _resolve_local(location: str, base: Path) -> str:
    """Relative local paths mean "next to defs.yaml", whatever the working directory is."""
    if _URL.match(location):
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _stats_config(stats: dict[str, Any] | None) -> StatsConfig:
    """The project's stats settings with the YAML's on top; a misspelt one gets the known list."""
    stats = stats or {}
    try:
        return StatsConfig.from_project(**stats)  # the project's settings, then the YAML's
    except (TypeError, ValueError) as exc:
        known = list(StatsConfig().to_dict())
        hint = f" (known settings: {', '.join(known)})" if set(stats) - set(known) else ""
        raise ValueError(f"invalid stats: {exc}{hint}") from None


def _doc(text: str) -> dg.Resolver:
    """Field documentation that reaches the YAML schema (``dg`` drops ``Field`` descriptions)."""
    return dg.Resolver.default(description=text)


def _rendered(context: dg.ResolutionContext, value: str | None) -> str | None:
    """A template rendered, plain text as it is: Dagster compiles every string it resolves
    as a Jinja template, which was half the load time of 10,000 declared datasets."""
    if value is None or "{" not in value:  # no {{ }}, {% %} or {# #}: nothing to render
        return value
    return context.resolve_value(value, as_type=str)


def _text(text: str, optional: bool = False) -> dg.Resolver:
    """A documented text field, rendered only when it holds a template."""
    return dg.Resolver(
        _rendered,
        model_field_type=str | None if optional else str,
        description=text,
        inject_before_resolve=False,  # the template, if any, is rendered by _rendered
    )


class DatasetModel(dg.Resolvable, dg.Model):
    """One dataset: its name becomes the asset name and the dataset name in the store."""

    name: Annotated[
        str,
        _text(
            "Dataset name: letters, digits and '._-@=' (a path segment in the store and an "
            "asset name, where '.-@=' become '_')."
        ),
    ]
    source: Annotated[
        str,
        _text(
            "Parquet/CSV/JSON-lines file, folder or fsspec URL; a relative local path is "
            "resolved against the folder holding defs.yaml."
        ),
    ]
    storage_options: Annotated[dict[str, Any], _doc("fsspec options used to read the source.")] = (
        Field(default_factory=dict)
    )
    description: Annotated[str | None, _text("Description of the bundle asset.", optional=True)] = (
        None
    )
    fragments: Annotated[
        Literal["files"] | int | None,
        _doc(
            "Build fragment by fragment, one Dagster step each, then merge: 'files' makes each "
            "data file of the source folder or prefix a fragment, an integer N >= 1 makes N "
            "row ranges of the source file; absent or null: the source is built in one step."
        ),
    ] = None

    @field_validator("fragments")
    @classmethod
    def _some_fragments(cls, fragments: str | int | None) -> str | int | None:
        if isinstance(fragments, int) and fragments < 1:
            raise ValueError(f"fragments must be 'files' or an integer >= 1, got {fragments}")
        return fragments

    def dataset(self, base: Path) -> Dataset | FragmentedDataset:
        """The declared dataset, its relative local source resolved against ``base``."""
        source = _resolve_local(self.source, base)
        options = dict(self.storage_options)
        if self.fragments is None:
            return Dataset(self.name, source, storage_options=options, description=self.description)
        return FragmentedDataset(
            self.name,
            source,
            fragments=None if self.fragments == "files" else self.fragments,
            storage_options=options,
            description=self.description,
        )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # Refused here, with the offending value, rather than when the assets are built.
        asset_name(name)
        return name


class BundleStoreModel(dg.Resolvable, dg.Model):
    """Where bundles go: the fields of ``BundleStoreResource``."""

    url: Annotated[
        str | None,
        _doc(
            "Store URL or local folder (a relative one is resolved against the folder holding "
            "defs.yaml); default $BUCKAROO_STORE_URL, else .buckaroo/store in the working "
            "directory."
        ),
    ] = None
    storage_options: Annotated[
        dict[str, Any],
        _doc(
            "fsspec options of the store. Leave credentials out and let the standard chain "
            "(e.g. AWS's) find them: values written here are shown as resource config."
        ),
    ] = Field(default_factory=dict)
    viewer_url: Annotated[
        str | None, _doc("Base URL of a `buckaroo-assets serve` server, for metadata links.")
    ] = None


class DriftModel(dg.Resolvable, dg.Model):
    """The drift check's limits (``DriftThresholds``; null turns one off) and severity."""

    rows_drop_pct: Annotated[
        float | None, _doc("Fail when the row count fell by more than this percent.")
    ] = DriftThresholds.rows_drop_pct
    null_jump_pts: Annotated[
        float | None,
        _doc("Fail when a column's null rate rose by more than this many percentage points."),
    ] = DriftThresholds.null_jump_pts
    schema_change: Annotated[
        bool, _doc("Fail when a column was added, removed, retyped, renamed or moved.")
    ] = DriftThresholds.schema_change
    distance: Annotated[
        float | None,
        _doc("Fail when a column's Jensen-Shannon histogram distance (0 to 1) is above this."),
    ] = DriftThresholds.distance
    severity: Annotated[
        Literal["WARN", "ERROR"], _doc("How a failed drift check is shown: WARN or ERROR.")
    ] = "WARN"

    def check(self) -> DriftCheck:
        """The ``DriftCheck`` these settings describe (invalid values fail with their name)."""
        thresholds = DriftThresholds(
            rows_drop_pct=self.rows_drop_pct, null_jump_pts=self.null_jump_pts,
            schema_change=self.schema_change, distance=self.distance,
        )  # fmt: skip
        return DriftCheck(thresholds, self.severity)

    @model_validator(mode="after")
    def _valid(self) -> DriftModel:
        self.check()  # fails at load time, naming the setting
        return self


class BuckarooBundles(dg.Component, dg.Resolvable, dg.Model):
    """Buckaroo stats bundles of declared datasets, with their store, checks, sensor and schedule.

    One bundle asset per dataset (code version = the stats config_id, data
    version = the data_id), an observable source asset per dataset, asset
    checks, a sensor noticing new dataset versions and a prewarm schedule: the
    same definitions ``buckaroo_definitions`` builds from Python.
    """

    datasets: Annotated[list[DatasetModel], _doc("The datasets to build bundles of.")]
    store: Annotated[BundleStoreModel, _doc("The bundle store (a resource).")] = Field(
        default_factory=BundleStoreModel
    )
    stats: Annotated[
        dict[str, Any] | None,
        _doc(
            "StatsConfig settings (window_rows, histogram_bins, top_k, skip_columns, ...); "
            "absent ones keep their defaults, unknown ones are refused."
        ),
    ] = None
    key_prefix: Annotated[
        str,
        _doc("First asset key segment; also prefixes op, check, sensor and schedule names."),
    ] = "buckaroo"
    prewarm_cron: Annotated[
        str | None,
        _doc("Cron of the schedule that builds every missing bundle; null disables it."),
    ] = "0 3 * * *"
    sensor_interval_seconds: Annotated[
        int | None,
        _doc("How often the new-versions sensor looks at the sources; null disables it."),
    ] = 60
    automation_running: Annotated[
        bool,
        _doc("Start the new-versions sensor and the prewarm schedule when the location loads."),
    ] = False
    resource_key: Annotated[
        str,
        _doc(
            "Resource key of the store; give each component its own when one code location "
            "holds several of them with different stores."
        ),
    ] = "buckaroo_store"
    datasets_per_step: Annotated[
        int,
        _doc(
            "Datasets per multi-asset, so per step of a run: steps run in parallel under the "
            "multiprocess executor, and Dagster's cost per multi-asset grows with its square."
        ),
    ] = DATASETS_PER_STEP
    checks: Annotated[
        ChecksMode,
        _doc(
            "How each bundle's integrity, consistency and freshness checks are reported: each "
            "(three checks), one (one 'bundle' check: a third of Dagster's events for checks, "
            "for thousands of datasets) or none."
        ),
    ] = "each"
    granularity: Annotated[
        Granularity,
        _doc(
            "dataset (one asset per dataset) or chunk (one asset per datasets_per_step "
            "datasets: for thousands of datasets, where Dagster's per-asset costs outweigh "
            "the builds; bundles are still stored and read per dataset)."
        ),
    ] = "dataset"
    drift: Annotated[
        DriftModel | None,
        _doc(
            "Add a drift check to every bundle asset: the new version against the previous "
            "one, from their bundles (docs/diff.md); absent or null: no drift check."
        ),
    ] = None

    @field_validator("datasets")
    @classmethod
    def _some_datasets(cls, datasets: list[DatasetModel]) -> list[DatasetModel]:
        if not datasets:
            raise ValueError("declare at least one dataset")
        return datasets

    @field_validator("stats")
    @classmethod
    def _known_stats(cls, stats: dict[str, Any] | None) -> dict[str, Any] | None:
        _stats_config(stats)  # fails at load time, not at the first materialization
        return stats

    @field_validator("key_prefix")
    @classmethod
    def _safe_prefix(cls, prefix: str) -> str:
        if not _KEY_PREFIX.fullmatch(prefix):
            raise ValueError(
                "key_prefix must be 1 to 64 letters, digits or '_', not starting with a digit, "
                f"got {prefix!r}"
            )
        return prefix

    @field_validator("sensor_interval_seconds")
    @classmethod
    def _positive_interval(cls, seconds: int | None) -> int | None:
        if seconds is not None and seconds < 1:
            raise ValueError(f"sensor_interval_seconds must be >= 1 (or null), got {seconds}")
        return seconds

    @field_validator("datasets_per_step")
    @classmethod
    def _positive_step(cls, size: int) -> int:
        if size < 1:
            raise ValueError(f"datasets_per_step must be >= 1, got {size}")
        return size

    @model_validator(mode="after")
    def _distinct_names(self) -> BuckarooBundles:
        check_distinct_asset_names([dataset.name for dataset in self.datasets])
        return self

    @property
    def stats_config(self) -> StatsConfig:
        """The validated stats configuration; its ``config_id`` is every asset's code version."""
        return _stats_config(self.stats)

    def build_definitions(self, base: Path) -> dg.Definitions:
        """The definitions, with relative local paths taken relative to ``base``."""
        datasets = [d.dataset(base) for d in self.datasets]
        url = self.store.url
        if url is not None and not _URL.match(url):
            url = Path(_resolve_local(url, base)).as_uri()
        store = BundleStoreResource(
            url=url,
            storage_options=dict(self.store.storage_options),
            viewer_url=self.store.viewer_url,
        )
        config = self.stats_config
        arguments: dict[str, Any] = {
            "store": store,
            "config": config,
            "key_prefix": self.key_prefix,
            "prewarm_cron": self.prewarm_cron,
            "sensor_interval_seconds": self.sensor_interval_seconds,
            "resource_key": self.resource_key,
            "automation_running": self.automation_running,
            "datasets_per_step": self.datasets_per_step,
            "checks": self.checks,
            "granularity": self.granularity,
            "drift": self.drift.check() if self.drift is not None else None,
        }
        # Dagster's loaders may load one code location twice in a process (``dagster
        # definitions validate`` does): the same inputs give the very same definitions.
        described = repr((datasets, {**arguments, "config": config.config_id}))
        key = hashlib.blake2b(described.encode(), digest_size=16).hexdigest()
        if key not in _BUILT:
            if len(_BUILT) >= _BUILT_KEPT:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = buckaroo_definitions(datasets, **arguments)
        return _BUILT[key]

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Called by Dagster's loader; ``context.path`` is the folder holding defs.yaml."""
        path = Path(context.path)
        return self.build_definitions(path if path.is_dir() else path.parent)
