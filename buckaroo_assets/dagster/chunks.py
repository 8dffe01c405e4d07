"""Fleets of datasets as one asset per chunk: Dagster's costs follow chunks, not datasets.

With one asset per dataset, Dagster records several events per dataset per run,
and every step process loads a code location whose size grows with the
datasets (docs/dagster.md, "Many datasets"). A chunk asset holds up to
``datasets_per_step`` datasets, in declaration order: one materialization per
chunk, whose metadata lists each dataset's data_id (what the sensor and the
prewarm schedule compare), a table of the chunk's bundles, and checks that
pass when they pass for every dataset and name those they failed for.
Bundles are still stored per dataset, so ``load_bundle(name)``, the CLI and
the viewer see no difference; the Dagster UI shows chunks instead of datasets.
"""

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import dagster as dg

from ..build.publish import Published
from ..bundle.config import StatsConfig
from ..store.bundle_store import BundleStore
from .checks import ChecksMode, check_specs, chunk_check_results
from .datasets import (
    Dataset,
    StepOptions,
    bundle_step,
    check_distinct_asset_names,
    ensure_each,
    raise_for_failures,
    split_in_chunks,
)
from .drift import DriftCheck
from .progress import RunProgress

__all__ = [
    "CHUNK_DATA_IDS",
    "CHUNK_MEMBERS",
    "Granularity",
    "chunk_keys",
    "dataset_chunk_assets",
    "members_digest",
]

# "dataset": one asset per dataset; "chunk": one asset per chunk of datasets.
Granularity = Literal["dataset", "chunk"]
CHUNK_DATA_IDS = "data_ids"  # chunk metadata: dataset name -> data_id of its stored bundle
CHUNK_MEMBERS = "members"  # chunk metadata: a digest of the names of its datasets, in order
_BUNDLES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("dataset", "string"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("columns", "int"),
        dg.TableColumn("cache", "string", description="hit: already stored, nothing read"),
        dg.TableColumn("data_id", "string"),
    ]
)


def chunk_keys(
    datasets: Sequence[Dataset], key_prefix: str | Sequence[str], datasets_per_step: int
) -> dict[str, dg.AssetKey]:
    """The chunk asset key of every dataset, by name: ``<prefix>/chunks/0001`` and so on.

    Chunks are consecutive runs of the declared datasets: appending datasets
    keeps every earlier chunk as it was.
    """
    check_distinct_asset_names([ds.name for ds in datasets])
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    return {
        ds.name: dg.AssetKey([*prefix, "chunks", f"{number:04d}"])
        for number, chunk in enumerate(split_in_chunks(datasets, datasets_per_step), start=1)
        for ds in chunk
    }


def dataset_chunk_assets(
    datasets: Sequence[Dataset],
    *,
    config: StatsConfig,
    key_prefix: str | Sequence[str],
    group_name: str,
    pool: str | None,
    resource_key: str,
    datasets_per_step: int,
    drift: DriftCheck | None,
    checks: ChecksMode,
) -> list[dg.AssetsDefinition]:
    """One asset (and one step) per chunk of ``datasets``; see the module's docstring."""
    keys = chunk_keys(datasets, key_prefix, datasets_per_step)
    options = StepOptions(config, group_name, pool, resource_key, drift, checks)
    return [
        _chunk_asset(chunk, keys[chunk[0].name], options)
        for chunk in split_in_chunks(datasets, datasets_per_step)
    ]


def _chunk_asset(
    chunk: Sequence[Dataset], key: dg.AssetKey, options: StepOptions
) -> dg.AssetsDefinition:
    config, drift, resource_key = options.config, options.drift, options.resource_key
    names = [ds.name for ds in chunk]
    spec = dg.AssetSpec(
        key,
        description=f"Buckaroo bundles of {len(chunk)} datasets, {names[0]} to {names[-1]}",
        group_name=options.group_name,
        code_version=config.config_id,
        kinds={"buckaroo"},
        metadata={"datasets": dg.MetadataValue.json(names)},
    )

    @bundle_step(
        [spec],
        check_specs(key, freshness=True, drift=drift, mode=options.checks),
        key.to_python_identifier(),
        options.pool,
        resource_key,
    )
    def build_chunk(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        store = getattr(context.resources, resource_key).get_store()
        wanted = context.selected_asset_check_keys
        failed: dict[str, str] = {}
        published: dict[str, Published] = {}
        rebuilt: set[str] | None = None  # checks alone: drift of every member
        if key in context.selected_asset_keys:
            progress = RunProgress(total=len(chunk), log=context.log.info, log_each=False)
            for ds, done in ensure_each(chunk, store, config, progress, context.log, failed):
                published[ds.name] = done
                progress.finished(ds.name, done.bundle.rows, done.hit)
            if failed:
                context.log.info(f"{progress.finished_text()}; {len(failed)} failed")
            if published:
                yield dg.MaterializeResult(
                    asset_key=key,
                    metadata=chunk_metadata(published, failed, store, progress, names),
                    data_version=dg.DataVersion(_digest(published)),
                )
            rebuilt = {name for name, done in published.items() if not done.hit}
        members = [(ds.name, ds.current_data_id) for ds in chunk if ds.name not in failed]
        yield from chunk_check_results(
            key, store, members, config.config_id, wanted, failed=failed, drift=drift, rebuilt=rebuilt
        )
        raise_for_failures(failed, len(chunk))

    return build_chunk


def chunk_metadata(
    published: Mapping[str, Published],
    failed: Mapping[str, str],
    store: BundleStore,
    progress: RunProgress,
    members: Sequence[str],
) -> dict[str, object]:
    """What one chunk materialization records: each dataset's data_id, who the chunk's
    members were, counts, a table."""
    hits = sum(p.hit for p in published.values())
    records = [
        dg.TableRecord(
            {
                "dataset": name,
                "rows": p.bundle.rows,
                "columns": len(p.bundle.stats),
                "cache": "hit" if p.hit else "miss",
                "data_id": p.bundle.data_id,
            }
        )
        for name, p in published.items()
    ]
    return {
        # Where the bundles are: the sensor and the schedule trust only this store's.
        "dagster/uri": store.url.rstrip("/") + "/",
        CHUNK_DATA_IDS: dg.MetadataValue.json(_data_ids(published)),
        CHUNK_MEMBERS: members_digest(members),
        "config_id": next(iter(published.values())).bundle.config_id,
        "datasets": len(published) + len(failed),
        "built": len(published) - hits,
        "hits": hits,
        "failed": len(failed),
        "rows_read": sum(p.bundle.rows for p in published.values() if not p.hit),
        "seconds": round(progress.elapsed, 3),
        "progress": progress.finished_text(),
        "bundles": dg.MetadataValue.table(records, schema=_BUNDLES_SCHEMA),
    }


def members_digest(names: Sequence[str]) -> str:
    """Which datasets a chunk held: a record made for other members (datasets were inserted
    or removed before it since) says nothing about where a dataset's pointer points now."""
    return hashlib.blake2b(json.dumps(list(names)).encode(), digest_size=12).hexdigest()


def _data_ids(published: Mapping[str, Published]) -> dict[str, str]:
    return {name: p.bundle.data_id for name, p in published.items()}


def _digest(published: Mapping[str, Published]) -> str:
    """The chunk's data version: changes whenever any of its datasets' data_id does."""
    text = json.dumps(_data_ids(published), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
