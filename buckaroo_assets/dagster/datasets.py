"""Declared datasets (a name and a file or URL) become bundle assets.

Declared datasets are split, in order, into subsettable multi-assets of at
most ``DATASETS_PER_STEP`` datasets: one asset per dataset in the graph, one
step per chunk.  A step reports progress across its datasets and skips,
without reading data, every dataset whose bundle is already stored; steps run
in parallel under the multiprocess executor, and Dagster's bookkeeping, which
grows with the square of a multi-asset's outputs, stays bounded per chunk.
Each dataset's checks run in the same step right after its bundle is
published, so one failing dataset fails its step with a clear message after
the others were published and checked.
"""

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from ..build.data_id import data_id_for
from ..build.publish import Published, ensure_bundle
from ..build.sources import CSV_SUFFIXES, JSONL_SUFFIXES
from ..bundle.config import StatsConfig
from ..store.bundle_store import BundleStore
from .checks import ChecksMode, check_results, check_specs
from .drift import DriftCheck
from .metadata import materialize_result
from .naming import asset_name
from .progress import RunProgress
from .resource import BundleStoreResource

__all__ = [
    "DATASETS_PER_STEP",
    "Dataset",
    "StepOptions",
    "bundle_step",
    "check_distinct_asset_names",
    "dataset_bundle_assets",
    "dataset_keys",
    "ensure_each",
    "raise_for_failures",
    "split_in_chunks",
]

# Datasets per multi-asset (per step); measured in docs/dagster.md ("Many datasets").
DATASETS_PER_STEP = 200


@dataclass(frozen=True)
class Dataset:
    """A named dataset: a Parquet/CSV/JSON-lines file, folder or fsspec URL."""

    name: str
    source: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        asset_name(self.name)  # refuses unsafe names at definition time

    def current_data_id(self, store: BundleStore | None = None) -> str:
        """The source's data_id now; ``store`` remembers local files' hashes across calls."""
        return data_id_for(
            self.source,
            storage_options=dict(self.storage_options) or None,
            memo=store.file_hashes if store is not None else None,
        )


def dataset_keys(
    datasets: Sequence[Dataset], key_prefix: Sequence[str]
) -> tuple[dict[str, dg.AssetKey], dict[str, dg.AssetKey]]:
    """(bundle asset key, source asset key) of every dataset, by dataset name."""
    bundle_keys, source_keys = {}, {}
    for ds in datasets:
        name = asset_name(ds.name)
        bundle_keys[ds.name] = dg.AssetKey([*key_prefix, name])
        source_keys[ds.name] = dg.AssetKey([*key_prefix, "sources", f"{name}_source"])
    check_distinct_asset_names([ds.name for ds in datasets])
    return bundle_keys, source_keys


def _source_kind(source: str) -> str:
    """The kind badge the lineage view shows on a source asset: its file format."""
    lowered = source.lower().rstrip("/")
    for kind, suffixes in (("csv", CSV_SUFFIXES), ("json", JSONL_SUFFIXES)):
        if lowered.endswith(suffixes):
            return kind
    return "parquet"  # the format of files with those suffixes and of folders


def check_distinct_asset_names(names: Sequence[str]) -> None:
    """'a-b' and 'a_b' are two dataset names but one asset name: refuse such pairs by name."""
    by_asset: dict[str, list[str]] = {}
    for name in names:
        by_asset.setdefault(asset_name(name), []).append(name)
    clashes = [same for same in by_asset.values() if len(same) > 1]
    if clashes:
        listed = "; ".join(" and ".join(map(repr, same)) for same in clashes)
        raise ValueError(f"datasets must have distinct names (as asset names): {listed}")


def dataset_bundle_assets(
    datasets: Sequence[Dataset],
    *,
    config: StatsConfig | None = None,
    key_prefix: str | Sequence[str] = "buckaroo",
    group_name: str = "buckaroo",
    pool: str | None = "buckaroo",
    resource_key: str = "buckaroo_store",
    name: str | None = None,
    datasets_per_step: int = DATASETS_PER_STEP,
    drift: DriftCheck | None = None,
    checks: ChecksMode = "each",
) -> list[dg.AssetsDefinition]:
    """The source observations and the bundle assets of ``datasets``, in steps of a few hundred.

    Each bundle asset's code version is the config_id (a config change makes
    it stale) and its data version the data_id; each depends on an observable
    source asset whose data version is the source's current data_id (a data
    change makes it stale).  Consecutive datasets share a multi-asset (one
    step) of at most ``datasets_per_step`` of them: Dagster's bookkeeping per
    multi-asset grows with the square of its outputs, and separate steps run
    in parallel under the multiprocess executor.  ``drift`` adds each asset's
    drift check against the previous version.  ``checks`` says how the
    integrity, consistency and freshness checks are reported: ``"each"``
    separately, ``"one"`` as one ``bundle`` check (a third of the events
    Dagster records for them; docs/dagster.md, "Many datasets"), ``"none"``.
    """
    config = config or StatsConfig.from_project()
    options = StepOptions(config, group_name, pool, resource_key, drift, checks)
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    bundle_keys, source_keys = dataset_keys(datasets, prefix)
    op_name = name or f"{'_'.join(prefix)}_bundles"
    chunks = split_in_chunks(datasets, datasets_per_step)
    width = len(str(len(chunks)))
    assets: list[dg.AssetsDefinition] = []
    for number, chunk in enumerate(chunks, start=1):
        # One chunk keeps the plain name, so small code locations keep their op names.
        step = op_name if len(chunks) == 1 else f"{op_name}_{number:0{width}d}"
        keys = _ChunkKeys(
            {ds.name: bundle_keys[ds.name] for ds in chunk},
            {ds.name: source_keys[ds.name] for ds in chunk},
        )
        assets.append(
            _source_observations(chunk, keys, f"{step}_sources", group_name, resource_key)
        )
        assets.append(_bundles(chunk, keys, step, options))
    return assets


@dataclass(frozen=True)
class StepOptions:
    """What every step of bundles shares: the stats, where its assets go, how they are checked."""

    config: StatsConfig
    group_name: str
    pool: str | None
    resource_key: str
    drift: DriftCheck | None
    checks: ChecksMode


def bundle_step(
    specs: Sequence[dg.AssetSpec],
    checks: Sequence[dg.AssetCheckSpec],
    name: str,
    pool: str | None,
    resource_key: str,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The decorator of one step of bundles: subsettable (a run may select some of its assets
    or checks), in the bundles' pool, with the store resource."""
    return dg.multi_asset(
        specs=specs,
        check_specs=checks,
        name=name,
        can_subset=True,
        pool=pool,
        required_resource_keys={resource_key},
    )


def split_in_chunks(datasets: Sequence[Dataset], size: int) -> list[Sequence[Dataset]]:
    """Consecutive runs of at most ``size`` datasets, in declaration order."""
    if size < 1:
        raise ValueError(f"datasets_per_step must be >= 1, got {size}")
    return [datasets[start : start + size] for start in range(0, len(datasets), size)]


def ensure_each(
    datasets: Sequence[Dataset],
    store: BundleStore,
    config: StatsConfig,
    progress: RunProgress,
    log: dg.DagsterLogManager,
    failed: dict[str, str],
) -> Iterator[tuple[Dataset, Published]]:
    """Each dataset's stored bundle, built if missing; a failure is logged into ``failed``
    and the others go on, so one bad dataset never costs the rest of a step."""
    for ds in datasets:
        try:
            published = ensure_bundle(
                store,
                ds.source,
                config=config,
                dataset=ds.name,
                storage_options=dict(ds.storage_options) or None,
                progress=progress.build_callback(ds.name),
            )
        except Exception as exc:
            failed[ds.name] = f"{type(exc).__name__}: {exc}"
            log.error(f"dataset {ds.name} failed: {failed[ds.name]}")
            continue
        yield ds, published


def raise_for_failures(failed: Mapping[str, str], attempted: int) -> None:
    """Fail the step, after its good datasets were published, naming every dataset that failed."""
    if failed:
        lines = "\n".join(f"- {name}: {why}" for name, why in failed.items())
        raise dg.Failure(
            description=f"{len(failed)} of {attempted} datasets failed:\n{lines}",
            metadata={"failed": dg.MetadataValue.json(dict(failed))},
        )


@dataclass(frozen=True)
class _ChunkKeys:
    bundle: dict[str, dg.AssetKey]
    source: dict[str, dg.AssetKey]


def _source_observations(
    datasets: Sequence[Dataset],
    keys: _ChunkKeys,
    name: str,
    group_name: str,
    resource_key: str,
) -> dg.AssetsDefinition:
    """One observable multi-asset: the data version of each source is its current data_id."""
    source_specs = [
        dg.AssetSpec(
            keys.source[ds.name],
            description=f"Source of dataset {ds.name}: {ds.source}",
            group_name=group_name,
            kinds={_source_kind(ds.source)},
            metadata={"dataset": ds.name, "source": ds.source},
        )
        for ds in datasets
    ]

    def observe_sources(context: dg.AssetExecutionContext) -> Iterator[dg.ObserveResult]:
        store = getattr(context.resources, resource_key).get_store()
        for ds in datasets:
            key = keys.source[ds.name]
            if key in context.selected_asset_keys:
                # An unreadable source must not fail or skip this step: the bundle step
                # downstream needs every observation, and the good datasets' bundles with it.
                try:
                    data_id = ds.current_data_id(store)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    context.log.warning(f"cannot observe dataset {ds.name}: {error}")
                    yield dg.ObserveResult(asset_key=key, metadata={"error": error})
                    continue
                yield dg.ObserveResult(
                    asset_key=key,
                    data_version=dg.DataVersion(data_id),
                    metadata={"data_id": data_id},
                )

    with warnings.catch_warnings():  # multi_observable_source_asset is marked beta
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.multi_observable_source_asset(
            specs=source_specs,
            name=name,
            can_subset=True,
            required_resource_keys={resource_key},
        )(observe_sources)


def _bundles(
    datasets: Sequence[Dataset],
    keys: _ChunkKeys,
    name: str,
    options: StepOptions,
) -> dg.AssetsDefinition:
    """One step building or reusing the bundles of ``datasets``, each checked right after."""
    config, drift, resource_key = options.config, options.drift, options.resource_key
    bundle_specs = [
        dg.AssetSpec(
            keys.bundle[ds.name],
            deps=[keys.source[ds.name]],
            description=ds.description or f"Buckaroo bundle of {ds.name} ({ds.source})",
            group_name=options.group_name,
            code_version=config.config_id,
            kinds={"buckaroo"},
            metadata={"dataset": ds.name, "source": ds.source},
            skippable=True,
        )
        for ds in datasets
    ]

    @bundle_step(
        bundle_specs,
        [
            spec
            for ds in datasets
            for spec in check_specs(keys.bundle[ds.name], freshness=True, drift=drift, mode=options.checks)
        ],
        name,
        options.pool,
        resource_key,
    )
    def build_bundles(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        resource: BundleStoreResource = getattr(context.resources, resource_key)
        store = resource.get_store()
        chosen = context.selected_asset_keys
        selected = [ds for ds in datasets if keys.bundle[ds.name] in chosen]
        wanted = context.selected_asset_check_keys
        progress = RunProgress(total=len(selected), log=context.log.info)
        failed: dict[str, str] = {}
        built = ensure_each(selected, store, config, progress, context.log, failed)
        for ds, published in built:
            key = keys.bundle[ds.name]
            yield materialize_result(
                published,
                store,
                progress,
                ds.name,
                viewer_url=resource.get_viewer_url(),
                asset_key=key,
            )
            yield from check_results(
                key, store, ds.name, config.config_id, ds.current_data_id, wanted, drift
            )
        for ds in datasets:  # checks selected without their asset
            if keys.bundle[ds.name] not in chosen:
                yield from check_results(
                    keys.bundle[ds.name], store, ds.name, config.config_id, ds.current_data_id,
                    wanted, drift,
                )  # fmt: skip
        raise_for_failures(failed, len(selected))

    return build_bundles
