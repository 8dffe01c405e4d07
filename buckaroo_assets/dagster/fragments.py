"""Fragmented datasets: one Dagster step per fragment, one merge step publishing the bundle.

A fragmented dataset is the files of a folder or prefix, or row ranges of one
big file. Its bundle asset is graph-backed: ``list`` derives the fragments and
their content ids and emits one dynamic output per fragment; ``partial``
(mapped, one step each) reuses the fragment's stored partial or builds and
stores it; ``merge`` (collected) loads the partials in order, merges them,
publishes the bundle and runs its checks. Dynamic outputs rather than
partitions: every fragment is a step of the same run, so any executor runs
them in parallel, and a new file is found by the listing itself
(docs/dagster.md, "Fragmented datasets", says why).

The partitions of a partitioned upstream asset are the other way round: Dagster
already runs one partition at a time, so ``partitions_bundle_asset`` is
partitioned like its upstream, and materializing a partition builds that
partition's partial, makes it current, and merges the current partials of
every partition so far.
"""

import hashlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg

from ..build.data_id import data_id_for
from ..build.partials import (
    PartialStats,
    build_partial,
    folder_files,
    fragments_data_id,
    merge_partials,
)
from ..build.publish import Published
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..errors import BundleCorrupted, BundleNotFound, PartialStatsError
from ..store.bundle_store import BundleStore
from ..store.partials import PartialFiles
from .checks import check_results, check_specs
from .datasets import _ChunkKeys, _source_observations, dataset_keys
from .drift import DriftCheck
from .metadata import materialize_result
from .naming import asset_name, dataset_for_asset
from .progress import RunProgress
from .resource import BundleStoreResource

__all__ = [
    "Fragment",
    "FragmentedDataset",
    "fragment_id_for_path",
    "fragmented_bundle_asset",
    "fragmented_bundle_assets",
    "merged_bundle",
    "partitions_bundle_asset",
    "stored_partial",
]

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")
_NOT_KEY = re.compile(r"[^A-Za-z0-9_]")


def fragment_id_for_path(relative: str) -> str:
    """A file's fragment id: its relative path when that is a safe path segment, else the
    path made safe plus a digest of it, so two paths never share an id."""
    safe = _UNSAFE.sub("_", relative).replace("..", "._").lstrip(".-")[:150] or "file"
    if safe == relative:
        return safe
    return f"{safe}-{hashlib.blake2b(relative.encode(), digest_size=6).hexdigest()}"


@dataclass(frozen=True)
class Fragment:
    """One fragment of a dataset: where its rows are, its position, and its content id."""

    fragment_id: str
    content_id: str
    source: str | None  # None: the data is not at hand (a partition), so no rebuild from it
    index: int
    count: int
    split: bool  # True: the index-th of count row ranges of source; False: source whole

    @property
    def mapping_key(self) -> str:
        """The dynamic output's key: position first, so the run view lists fragments in order."""
        return f"{self.index:05d}_{_NOT_KEY.sub('_', self.fragment_id)[:60]}"


@dataclass(frozen=True)
class FragmentedDataset:
    """A dataset summarised fragment by fragment, one Dagster step each.

    ``fragments=None``: ``source`` is a folder or prefix and each data file below
    it (``folder_files``: by path, names starting with ``.`` or ``_`` skipped) is a
    fragment. ``fragments=N``: ``source`` is one file and each of its ``N`` row
    ranges (``fragment_rows``) is a fragment.
    """

    name: str
    source: str
    fragments: int | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        asset_name(self.name)  # refuses unsafe names at definition time
        if self.fragments is not None and (
            isinstance(self.fragments, bool)
            or not isinstance(self.fragments, int)
            or self.fragments < 1
        ):
            raise ValueError(f"fragments must be None or an int >= 1, got {self.fragments!r}")

    def fragment_list(self, store: BundleStore | None = None) -> list[Fragment]:
        """The fragments now, in order, each with its content id; ``store`` remembers local
        files' hashes, so an unchanged file is not read to derive its id."""
        options = dict(self.storage_options) or None
        memo = store.file_hashes if store is not None else None
        if self.fragments is None:
            files = folder_files(self.source, storage_options=options)
            if not files:
                raise FileNotFoundError(f"no data files below {self.source}")
            return [
                Fragment(
                    fragment_id_for_path(relative),
                    data_id_for(url, storage_options=options, memo=memo),
                    url,
                    index,
                    len(files),
                    split=False,
                )
                for index, (relative, url) in enumerate(files)
            ]
        file_id = data_id_for(self.source, storage_options=options, memo=memo)
        count = self.fragments
        return [
            Fragment(f"rows-{index}-of-{count}", file_id, self.source, index, count, split=True)
            for index in range(count)
        ]

    def current_data_id(self, store: BundleStore | None = None) -> str:
        """The whole's data_id now: a digest of the ordered (fragment id, content id) pairs."""
        return fragments_data_id([(f.fragment_id, f.content_id) for f in self.fragment_list(store)])


def fragmented_bundle_assets(
    datasets: Sequence[FragmentedDataset],
    *,
    config: StatsConfig | None = None,
    key_prefix: str | Sequence[str] = "buckaroo",
    group_name: str = "buckaroo",
    pool: str | None = "buckaroo",
    resource_key: str = "buckaroo_store",
    drift: DriftCheck | None = None,
) -> list[dg.AssetsDefinition]:
    """The source observations (data version = the whole's data_id) and one graph-backed
    bundle asset per fragmented dataset, keyed like ``dataset_bundle_assets``'s."""
    config = config or StatsConfig.from_project()
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    bundle_keys, source_keys = dataset_keys(datasets, prefix)
    observations = _source_observations(
        datasets,
        _ChunkKeys(bundle_keys, source_keys),
        f"{'_'.join(prefix)}_fragmented_sources",
        group_name,
        resource_key,
    )
    return [
        observations,
        *(
            fragmented_bundle_asset(
                ds,
                key=bundle_keys[ds.name],
                source_key=source_keys[ds.name],
                config=config,
                group_name=group_name,
                pool=pool,
                resource_key=resource_key,
                drift=drift,
            )
            for ds in datasets
        ),
    ]


def fragmented_bundle_asset(
    dataset: FragmentedDataset,
    *,
    key: dg.AssetKey,
    source_key: dg.AssetKey,
    config: StatsConfig,
    group_name: str = "buckaroo",
    pool: str | None = "buckaroo",
    resource_key: str = "buckaroo_store",
    drift: DriftCheck | None = None,
) -> dg.AssetsDefinition:
    """The graph-backed bundle asset of ``dataset``: list, one partial step per fragment, merge.

    Code version = config_id and data version = the whole's data_id, like every
    dataset bundle asset, with the same checks (run in the merge step).
    """
    prefix = key.to_python_identifier()
    specs = check_specs(key, freshness=True, drift=drift)
    # The graph's check outputs are named by Dagster after each spec; the merge op's match them.
    check_outs = {
        spec.get_python_identifier(): dg.Out(dg.Nothing, is_required=False) for spec in specs
    }

    @dg.op(
        name=f"{prefix}_list",
        ins={"source": dg.In(dg.Nothing)},
        out=dg.DynamicOut(Fragment),
        required_resource_keys={resource_key},
    )
    def list_fragments(context: dg.OpExecutionContext) -> Iterator[dg.DynamicOutput[Fragment]]:
        """Derive the fragments and their content ids (local hashes remembered in the store)."""
        store = getattr(context.resources, resource_key).get_store()
        fragments = dataset.fragment_list(store)
        context.log.info(f"dataset {dataset.name}: {len(fragments)} fragments")
        for fragment in fragments:
            yield dg.DynamicOutput(fragment, mapping_key=fragment.mapping_key)

    @dg.op(name=f"{prefix}_partial", required_resource_keys={resource_key}, pool=pool)
    def partial(context: dg.OpExecutionContext, fragment: Fragment) -> dg.Output[Fragment]:
        """The fragment's partial: reused when stored under its content id, else built and stored."""
        partials = PartialFiles(getattr(context.resources, resource_key).get_store())
        where = (dataset.name, fragment.fragment_id, config.config_id, fragment.content_id)
        started = time.perf_counter()
        if partials.exists(*where):
            state, rows = "reused", None
        else:
            built = build_partial(
                fragment.source,
                fragment=(fragment.index, fragment.count),
                split=fragment.split,
                config=config,
                storage_options=dict(dataset.storage_options) or None,
            )
            partials.write(*where, built.to_bytes())
            state, rows = "built", built.rows
        context.log.info(f"dataset {dataset.name}, fragment {fragment.fragment_id}: {state}")
        metadata: dict[str, Any] = {
            "fragment": fragment.fragment_id,
            "content_id": fragment.content_id,
            "partial": state,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if rows is not None:
            metadata["rows"] = rows
        return dg.Output(fragment, metadata=metadata)

    @dg.op(
        name=f"{prefix}_merge",
        out={"result": dg.Out(dg.Nothing, is_required=False), **check_outs},
        required_resource_keys={resource_key},
    )
    def merge(
        context: dg.OpExecutionContext, fragments: list[Fragment]
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Merge the stored partials in order, publish the bundle under the dataset's name, check it."""
        resource: BundleStoreResource = getattr(context.resources, resource_key)
        store = resource.get_store()
        progress = RunProgress(total=1, log=context.log.info)
        published = merged_bundle(
            store, dataset.name, fragments, config, dict(dataset.storage_options) or None
        )
        yield materialize_result(
            published, store, progress, dataset.name,
            viewer_url=resource.get_viewer_url(), asset_key=key,
        )  # fmt: skip
        yield from check_results(
            key, store, dataset.name, config.config_id, dataset.current_data_id,
            context.selected_asset_check_keys, drift,
        )  # fmt: skip

    @dg.graph_asset(
        key=key,
        ins={"source": dg.AssetIn(key=source_key, dagster_type=dg.Nothing)},
        check_specs=specs,
        group_name=group_name,
        code_version=config.config_id,
        kinds={"buckaroo"},
        metadata={"dataset": dataset.name, "source": dataset.source, "fragmented": True},
        description=dataset.description
        or f"Buckaroo bundle of {dataset.name} ({dataset.source}), by fragment",
    )
    def bundle_by_fragment(source: None) -> Any:
        merged = merge(list_fragments(source).map(partial).collect())
        return {"result": merged.result, **{name: getattr(merged, name) for name in check_outs}}

    return bundle_by_fragment


def merged_bundle(
    store: BundleStore,
    dataset: str,
    fragments: Sequence[Fragment],
    config: StatsConfig,
    storage_options: dict[str, Any] | None = None,
) -> Published:
    """The bundle of all ``fragments``: a hit when stored, else merged from their partials."""
    started = time.perf_counter()
    ordered = sorted(fragments, key=lambda f: f.index)
    data_id = fragments_data_id([(f.fragment_id, f.content_id) for f in ordered])
    try:
        bundle = store.get(data_id, config.config_id)
    except (BundleNotFound, BundleCorrupted):
        bundle = None
    members = [f.fragment_id for f in ordered]
    if bundle is not None:
        entry = store.point(data_id, config.config_id, dataset=dataset)
        PartialFiles(store).set_members(dataset, config.config_id, members)
        return Published(bundle, entry, True, time.perf_counter() - started)
    parts = [
        stored_partial(store, dataset, fragment, config, storage_options) for fragment in ordered
    ]
    bundle = merge_partials(parts, data_id=data_id, config=config)
    entry = store.put(bundle, dataset=dataset)
    PartialFiles(store).set_members(dataset, config.config_id, members)
    return Published(bundle, entry, False, time.perf_counter() - started)


def stored_partial(
    store: BundleStore,
    dataset: str,
    fragment: Fragment,
    config: StatsConfig,
    storage_options: dict[str, Any] | None = None,
) -> PartialStats:
    """The fragment's stored partial, placed at its position; rebuilt and stored again when
    it is gone (collected by ``gc`` meanwhile) or damaged, so the merge never fails for it."""
    partials = PartialFiles(store)
    where = (dataset, fragment.fragment_id, config.config_id, fragment.content_id)
    raw = partials.read(*where)
    try:
        if raw is None:
            raise PartialStatsError("not stored")
        part = PartialStats.from_bytes(raw)
    except PartialStatsError as exc:
        if fragment.source is None:
            raise PartialStatsError(
                f"the partial of {dataset} fragment {fragment.fragment_id} "
                f"({partials.path(*where)}) cannot be used: {exc}; materialize that "
                "partition again to rebuild it"
            ) from None
        log.warning("rebuilding partial %s: %s", partials.path(*where), exc)
        part = build_partial(
            fragment.source,
            fragment=(fragment.index, fragment.count),
            split=fragment.split,
            config=config,
            storage_options=storage_options,
        )
        partials.write(*where, part.to_bytes())
    # A whole file's partial does not depend on where the file sits among the others.
    if fragment.split:
        return part
    return replace(part, fragment_index=fragment.index, fragment_count=fragment.count)


_MERGE_ATTEMPTS = 5


def partitions_bundle_asset(
    upstream: dg.AssetsDefinition | dg.AssetSpec,
    *,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    config: StatsConfig | None = None,
    key_prefix: str | Sequence[str] = "buckaroo",
    group_name: str | None = "buckaroo",
    pool: str | None = "buckaroo",
    resource_key: str = "buckaroo_store",
    automation_condition: dg.AutomationCondition | None = None,
    drift: DriftCheck | None = None,
) -> dg.AssetsDefinition:
    """The bundle of every partition of a partitioned ``upstream``, one partial per partition.

    The asset is partitioned like ``upstream`` (identity mapping), so Dagster's
    partition status, staleness, backfills and automation apply. Materializing
    partition P summarises P alone (its partial is reused when stored under P's
    content id), makes that partial P's current one, then merges the current
    partials of every partition that has one, in the partitions definition's
    order, and publishes the bundle of the whole as ``dataset`` (default: the
    upstream key, dotted). ``path`` says where P's data is, with
    ``{partition_key}`` in it (``"s3://lake/events/{partition_key}.parquet"``,
    read with ``storage_options``); without it, P is loaded through the
    upstream's IO manager (a pandas, polars or pyarrow table). P's data version
    is its content id; the checks (integrity, consistency, ``drift``) run on
    the merged bundle in the same step.
    """
    config = config or StatsConfig.from_project()
    upstream_key, partitions_def = upstream.key, upstream.partitions_def
    if partitions_def is None:
        raise ValueError(
            f"{upstream_key.to_user_string()} is not partitioned: frame_bundle_asset builds its bundle"
        )
    if path is not None:
        _check_template(path)
    name = (
        dataset_for_asset(upstream_key)
        if dataset is None
        else validate_data_id(dataset, what="dataset name")
    )
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    key = dg.AssetKey([*prefix, *upstream_key.path])
    options = dict(storage_options or {}) or None
    if path is None:  # loaded by the upstream's IO manager, one partition (identity mapping)
        ins = {"frame": dg.AssetIn(key=upstream_key)}
    else:  # read from the path: the upstream is a dependency only
        ins = {"upstream": dg.AssetIn(key=upstream_key, dagster_type=dg.Nothing)}

    @dg.asset(
        key=key,
        ins=ins,
        partitions_def=partitions_def,
        check_specs=check_specs(key, freshness=False, drift=drift),
        code_version=config.config_id,
        group_name=group_name,
        kinds={"buckaroo"},
        pool=pool,
        required_resource_keys={resource_key},
        automation_condition=automation_condition,
        metadata={"dataset": name, "source": path or upstream_key.to_user_string(),
                  "fragmented": True},
        description=f"Buckaroo bundle of every partition of {upstream_key.to_user_string()}",
    )  # fmt: skip
    def bundle_of_partitions(
        context: dg.AssetExecutionContext, **inputs: Any
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        resource: BundleStoreResource = getattr(context.resources, resource_key)
        store = resource.get_store()
        partition = context.partition_key
        if path is None:
            source = inputs["frame"]
            content_id = data_id_for(source)
        else:
            source = path.format(partition_key=partition)
            content_id = data_id_for(source, storage_options=options, memo=store.file_hashes)
        state, part = _current_partial(store, name, partition, content_id, source, config, options)
        context.log.info(f"dataset {name}, partition {partition}: partial {state}")
        keys = partitions_def.get_partition_keys(dynamic_partitions_store=context.instance)
        published, merged = merged_partitions(store, name, keys, config)
        result = materialize_result(
            published, store, RunProgress(total=1, log=context.log.info), name,
            viewer_url=resource.get_viewer_url(),
        )  # fmt: skip
        metadata = {
            **result.metadata,
            "partial": state,
            "content_id": content_id,
            "partition_rows": part.rows,
            "partitions": merged,
        }
        yield dg.MaterializeResult(
            asset_key=key, metadata=metadata, data_version=dg.DataVersion(content_id)
        )
        yield from check_results(
            key, store, name, config.config_id, None, context.selected_asset_check_keys, drift
        )

    return bundle_of_partitions


def _check_template(path: str) -> None:
    """A path with ``{partition_key}`` and no other field, so each partition has its own file."""
    try:
        differs = path.format(partition_key="a") != path.format(partition_key="b")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"path may name only {{partition_key}}, got {path!r}: {exc!r}") from None
    if not differs:
        raise ValueError(f"path must contain {{partition_key}}, got {path!r}")


def _current_partial(
    store: BundleStore,
    dataset: str,
    partition: str,
    content_id: str,
    source: Any,
    config: StatsConfig,
    storage_options: dict[str, Any] | None,
) -> tuple[str, PartialStats]:
    """('reused' or 'built', the partial) of one partition, made the partition's current one."""
    partials = PartialFiles(store)
    fragment_id = fragment_id_for_path(partition)
    where = (dataset, fragment_id, config.config_id, content_id)
    raw = partials.read(*where)
    part = None
    if raw is not None:
        try:
            part = PartialStats.from_bytes(raw)
        except PartialStatsError as exc:
            log.warning("rebuilding partial %s: %s", partials.path(*where), exc)
    state = "reused"
    if part is None:
        part = build_partial(source, split=False, config=config, storage_options=storage_options)
        raw, state = part.to_bytes(), "built"
        partials.write(*where, raw)
    if partials.current(*where[:3]) != content_id:
        if state == "reused":
            # Content summarised before (a change undone): written again, so that it is the
            # newest partial of its folder, the one gc keeps.
            partials.write(*where, raw)
        partials.set_current(*where, label=partition)
    return state, part


def merged_partitions(
    store: BundleStore, dataset: str, partition_keys: Sequence[str], config: StatsConfig
) -> tuple[Published, int]:
    """(published bundle, partitions in it): the current partials of ``partition_keys`` that
    have one, merged in that order, by ``merged_bundle`` (a hit when already stored).

    Runs of other partitions may make their partials current meanwhile: the pointers are
    read again after publishing, and the merge redone while they changed, so the last run
    to publish has seen every partition made current before it.
    """
    partials = PartialFiles(store)
    fragments = _current_fragments(partials, dataset, partition_keys, config.config_id)
    for _ in range(_MERGE_ATTEMPTS):
        published = merged_bundle(store, dataset, fragments, config)
        merged, fragments = (
            fragments,
            _current_fragments(partials, dataset, partition_keys, config.config_id),
        )
        if fragments == merged:
            break
    else:
        log.warning("dataset %s: partitions kept changing while merging", dataset)
    return published, len(merged)


def _current_fragments(
    partials: PartialFiles, dataset: str, partition_keys: Sequence[str], config_id: str
) -> list[Fragment]:
    """The partitions with a current partial, as fragments at their position among them."""
    current = partials.all_current(dataset, config_id)
    present = []
    for partition in partition_keys:
        fragment_id = fragment_id_for_path(partition)
        label, content_id = current.get(fragment_id, (None, ""))
        if label == partition:
            present.append((fragment_id, content_id))
    return [
        Fragment(fragment_id, content_id, None, index, len(present), split=False)
        for index, (fragment_id, content_id) in enumerate(present)
    ]
