"""A bundle asset downstream of any asset that produces a DataFrame or Arrow table.

The frame is loaded by the upstream asset's own IO manager, so this works
with whatever storage a code location already uses; partitions are mirrored
one to one, and each partition is published as dataset ``<key>@<partition>``.
"""


from collections.abc import Sequence
from typing import Any

import dagster as dg

from ..build.data_id import data_id_for
from ..build.publish import ensure_bundle
from ..bundle.config import StatsConfig
from .metadata import materialize_result
from .naming import dataset_for_asset, partition_dataset
from .progress import RunProgress
from .resource import BundleStoreResource

__all__ = ["frame_bundle_asset"]


def _upstream(
    upstream: dg.AssetsDefinition | dg.AssetSpec | dg.AssetKey | str | Sequence[str],
) -> tuple[dg.AssetKey, dg.PartitionsDefinition | None]:
    if isinstance(upstream, dg.AssetsDefinition):
        return upstream.key, upstream.partitions_def
    if isinstance(upstream, dg.AssetSpec):
        return upstream.key, upstream.partitions_def
    return dg.AssetKey.from_coercible(upstream), None


def frame_bundle_asset(
    upstream: dg.AssetsDefinition | dg.AssetSpec | dg.AssetKey | str | Sequence[str],
    *,
    config: StatsConfig | None = None,
    key_prefix: str | Sequence[str] = "buckaroo",
    partitions_def: dg.PartitionsDefinition | None = None,
    group_name: str | None = "buckaroo",
    pool: str | None = "buckaroo",
    resource_key: str = "buckaroo_store",
) -> dg.AssetsDefinition:
    """The bundle asset of ``upstream``'s output (pandas, polars or pyarrow), per partition.

    Pass the upstream AssetsDefinition to mirror its partitions; for a bare
    key, give ``partitions_def`` when the upstream is partitioned.
    """
    config = config or StatsConfig.from_project()
    upstream_key, upstream_partitions = _upstream(upstream)
    partitions_def = partitions_def or upstream_partitions
    dataset = dataset_for_asset(upstream_key)
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    key = dg.AssetKey([*prefix, *upstream_key.path])

    @dg.asset(
        key=key,
        ins={"frame": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_def,
        code_version=config.config_id,
        group_name=group_name,
        kinds={"buckaroo"},
        pool=pool,
        required_resource_keys={resource_key},
        metadata={"dataset": dataset},
        description=f"Buckaroo bundle of {upstream_key.to_user_string()}",
    )
    def bundle_of_frame(context: dg.AssetExecutionContext, frame: Any) -> dg.MaterializeResult:
        resource: BundleStoreResource = getattr(context.resources, resource_key)
        store = resource.get_store()
        partition = context.partition_key if context.has_partition_key else None
        name = partition_dataset(dataset, partition)
        progress = RunProgress(total=1, log=context.log.info)
        published = ensure_bundle(
            store,
            frame,
            config=config,
            data_id=data_id_for(frame),
            dataset=name,
            progress=progress.build_callback(name),
        )
        return materialize_result(
            published, store, progress, name, viewer_url=resource.get_viewer_url()
        )

    return bundle_of_frame
