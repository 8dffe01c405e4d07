"""Everything at once: store resource, bundle assets, checks, sensor and prewarm schedule."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from ..bundle.config import StatsConfig
from .automation import new_versions_sensor, prewarm_schedule
from .checks import ChecksMode, bundle_checks, partitioned_bundle_checks
from .chunks import Granularity, chunk_keys, dataset_chunk_assets
from .datasets import DATASETS_PER_STEP, Dataset, dataset_bundle_assets, dataset_keys
from .drift import DriftCheck
from .fragments import FragmentedDataset, fragmented_bundle_assets
from .frames import frame_bundle_asset
from .naming import dataset_for_asset
from .resource import BundleStoreResource

__all__ = ["buckaroo_definitions"]


def buckaroo_definitions(
    datasets: Sequence[Dataset | FragmentedDataset] = (),
    frames: Sequence[dg.AssetsDefinition | dg.AssetSpec] = (),
    *,
    store: BundleStoreResource | None = None,
    config: StatsConfig | None = None,
    key_prefix: str = "buckaroo",
    group_name: str = "buckaroo",
    pool: str | None = "buckaroo",
    prewarm_cron: str | None = "0 3 * * *",
    sensor_interval_seconds: int | None = 60,
    resource_key: str = "buckaroo_store",
    automation_running: bool = False,
    datasets_per_step: int = DATASETS_PER_STEP,
    drift: DriftCheck | None = None,
    checks: ChecksMode = "each",
    granularity: Granularity = "dataset",
) -> dg.Definitions:
    """Bundle assets for declared ``datasets`` and for the outputs of existing ``frames`` assets.

    Merge the result with the code location's own definitions (which must
    contain the ``frames`` assets themselves). ``automation_running`` starts
    the new-versions sensor and the prewarm schedule as soon as the code
    location loads; by default they wait to be turned on in the UI.
    ``datasets_per_step`` bounds how many datasets one step (one multi-asset) holds.
    ``drift`` (a :class:`DriftCheck`) adds a drift check to every dataset and
    unpartitioned frame bundle: the new version against the previous one stored.
    ``checks="one"`` reports each declared dataset's integrity, consistency and
    freshness as one ``bundle`` check, ``"none"`` not at all (see
    ``dataset_bundle_assets``).
    ``granularity="chunk"`` makes each chunk of ``datasets_per_step`` declared
    datasets one asset instead of one asset per dataset: for thousands of
    datasets, where Dagster's per-asset costs outweigh the builds (see
    ``dataset_chunk_assets``; docs/dagster.md, "Many datasets").
    A :class:`FragmentedDataset` among ``datasets`` becomes a graph-backed asset
    with one step per fragment and a merge step; the sensor and the prewarm
    schedule treat it like any dataset.
    """
    if granularity not in ("dataset", "chunk"):
        raise ValueError(f"granularity must be 'dataset' or 'chunk', got {granularity!r}")
    config = config or StatsConfig.from_project()
    assets: list[dg.AssetsDefinition] = []
    check_defs: list[dg.AssetChecksDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    by_bundle_key: dict[dg.AssetKey, list[Dataset | FragmentedDataset]] = {}
    chunks: set[dg.AssetKey] = set()  # the chunk assets, with granularity="chunk"
    whole = [ds for ds in datasets if isinstance(ds, Dataset)]
    fragmented = [ds for ds in datasets if isinstance(ds, FragmentedDataset)]
    if whole and granularity == "chunk":
        assets += dataset_chunk_assets(
            whole, config=config, key_prefix=[key_prefix], group_name=group_name,
            pool=pool, resource_key=resource_key, datasets_per_step=datasets_per_step,
            drift=drift, checks=checks,
        )
    elif whole:
        assets += dataset_bundle_assets(
            whole, config=config, key_prefix=key_prefix, group_name=group_name,
            pool=pool, resource_key=resource_key, datasets_per_step=datasets_per_step,
            drift=drift, checks=checks,
        )
    if fragmented:
        assets += fragmented_bundle_assets(
            fragmented, config=config, key_prefix=key_prefix, group_name=group_name,
            pool=pool, resource_key=resource_key, drift=drift,
        )
    if datasets:
        bundle_keys, source_keys = dataset_keys(datasets, [key_prefix])
        if granularity == "chunk":
            chunked = chunk_keys(whole, [key_prefix], datasets_per_step)
            bundle_keys |= chunked
            chunks = set(chunked.values())
            source_keys = {ds.name: source_keys[ds.name] for ds in fragmented}
        for ds in datasets:
            by_bundle_key.setdefault(bundle_keys[ds.name], []).append(ds)
        if sensor_interval_seconds is not None:
            sensors.append(
                new_versions_sensor(
                    datasets, bundle_keys, source_keys,
                    name=f"{key_prefix}_new_versions",
                    minimum_interval_seconds=sensor_interval_seconds,
                    resource_key=resource_key,
                    config_id=config.config_id,
                    chunks=chunks,
                    default_status=(
                        dg.DefaultSensorStatus.RUNNING
                        if automation_running
                        else dg.DefaultSensorStatus.STOPPED
                    ),
                )
            )
    for upstream in frames:
        asset = frame_bundle_asset(
            upstream, config=config, key_prefix=key_prefix, group_name=group_name,
            pool=pool, resource_key=resource_key,
        )
        assets.append(asset)
        dataset = dataset_for_asset(upstream.key)
        if asset.partitions_def is None:
            check_defs.append(
                bundle_checks(
                    asset.key, dataset, config_id=config.config_id,
                    name=f"{asset.key.to_python_identifier()}_checks", resource_key=resource_key,
                    drift=drift,
                )
            )
        else:
            check_defs += partitioned_bundle_checks(
                asset.key, dataset, config_id=config.config_id,
                partitions_def=asset.partitions_def, resource_key=resource_key,
            )
    bundle_assets = [a for a in assets if a.is_executable and not a.is_observable]
    schedules = []
    if prewarm_cron is not None and bundle_assets:
        schedules.append(
            prewarm_schedule(
                bundle_assets, cron=prewarm_cron, name=f"{key_prefix}_prewarm",
                datasets=by_bundle_key, config_id=config.config_id, resource_key=resource_key,
                chunks=chunks,
                default_status=(
                    dg.DefaultScheduleStatus.RUNNING
                    if automation_running
                    else dg.DefaultScheduleStatus.STOPPED
                ),
            )
        )
    return dg.Definitions(
        assets=assets,
        asset_checks=check_defs,
        sensors=sensors,
        schedules=schedules,
        resources={resource_key: store or BundleStoreResource()},
    )
