"""When bundles get built: a sensor for new dataset versions, a schedule to prewarm them all.

Both compare each dataset's current data_id with the data version of its
bundle asset's latest materialization (one bulk read of the instance), so
datasets whose bundles are up to date get no run and no event at all.
"""


import hashlib
import json
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from ..store.bundle_store import BundleStore
from .chunks import CHUNK_DATA_IDS, CHUNK_MEMBERS, members_digest
from .datasets import Dataset

__all__ = ["new_versions_sensor", "outdated_datasets", "prewarm_schedule"]

_DATA_VERSION_TAG = "dagster/data_version"
_CODE_VERSION_TAG = "dagster/code_version"
# Dagster times a tick out after 60 s: both stop deriving data_ids well before.
TICK_BUDGET_SECONDS = 20.0
DATASETS_PER_TICK = 2000
_READERS = 8  # data_ids derived at once (S3 HEADs and local memo reads wait on I/O)
_KEYS_PER_QUERY = 500


def _current_data_ids(
    datasets: Sequence[Dataset], store: BundleStore, deadline: float, log: dg.DagsterLogManager
) -> tuple[dict[str, str], int]:
    """(data_id by name, datasets looked at), in order, until ``deadline``.

    At least one batch is looked at, so every tick makes progress.  An
    unreadable source is logged and left out; it counts as looked at.
    """
    def one(ds: Dataset) -> str | Exception:
        try:
            return ds.current_data_id(store)
        except Exception as exc:
            return exc

    found: dict[str, str] = {}
    done = 0
    with ThreadPoolExecutor(_READERS) as pool:
        for start in range(0, len(datasets), 4 * _READERS):
            if done and time.monotonic() >= deadline:  # every tick makes some progress
                break
            batch = datasets[start : start + 4 * _READERS]
            for ds, result in zip(batch, pool.map(one, batch), strict=True):
                if isinstance(result, Exception):
                    log.warning(f"cannot read dataset {ds.name}: {type(result).__name__}: {result}")
                else:
                    found[ds.name] = result
            done += len(batch)
    return found, done


def _latest_materializations(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey]
) -> dict[dg.AssetKey, tuple[float, dg.AssetMaterialization]]:
    """When, and what, the latest materialization of each key that has one was; a few
    hundred keys per query."""
    latest: dict[dg.AssetKey, tuple[float, dg.AssetMaterialization]] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        events = instance.get_latest_materialization_events(keys[start : start + _KEYS_PER_QUERY])
        for key, entry in events.items():
            if entry is not None and entry.asset_materialization is not None:
                latest[key] = (entry.timestamp, entry.asset_materialization)
    return latest


def outdated_datasets(
    instance: dg.DagsterInstance,
    bundle_keys: Mapping[str, dg.AssetKey],
    current: Mapping[str, str],
    *,
    config_id: str | None,
    store_url: str,
    chunks: Collection[dg.AssetKey] = (),
) -> dict[str, str]:
    """The datasets of ``current`` (name -> data_id now) whose bundle asset is not up to date.

    Up to date: the latest materialization has that data_id as its data
    version, ``config_id`` as its code version (when given) and its manifest in
    the store at ``store_url``.  Read in bulk, never one query per dataset.

    Chunk assets (``chunks``, every one of them) hold many datasets: a chunk's
    latest record must be for the members it has now, and a dataset's data_id is
    read from the newest chunk record that lists it, since a dataset built while
    it belonged to another chunk was recorded there.
    """
    keys = list(dict.fromkeys([*(bundle_keys[n] for n in current), *chunks]))
    latest = _latest_materializations(instance, keys)
    members: dict[dg.AssetKey, list[str]] = {}
    for name, key in bundle_keys.items():
        members.setdefault(key, []).append(name)
    digests: dict[dg.AssetKey, str] = {}  # of each chunk's members, made once per chunk
    newest = _newest_chunk_records(latest)
    outdated = {}
    for name, data_id in current.items():
        key = bundle_keys[name]
        mat = latest[key][1] if key in latest else None
        if mat is not None and CHUNK_DATA_IDS in mat.metadata:
            held = mat.metadata.get(CHUNK_MEMBERS)
            if key not in digests:
                digests[key] = members_digest(members[key])
            if held is None or held.value != digests[key]:
                outdated[name] = data_id
                continue
            mat = latest[newest.get(name, key)][1]
        uri = mat.metadata.get("dagster/uri") if mat is not None else None
        if (
            mat is None
            or _recorded_data_id(mat, name) != data_id
            or (config_id is not None and mat.tags.get(_CODE_VERSION_TAG) != config_id)
            or uri is None
            or not str(uri.value).startswith(store_url.rstrip("/") + "/")
        ):
            outdated[name] = data_id
    return outdated


def _newest_chunk_records(
    latest: Mapping[dg.AssetKey, tuple[float, dg.AssetMaterialization]],
) -> dict[str, dg.AssetKey]:
    """For each dataset listed by a chunk record, the chunk whose record of it is newest."""
    newest: dict[str, tuple[float, dg.AssetKey]] = {}
    for key, (when, mat) in latest.items():
        listed = mat.metadata.get(CHUNK_DATA_IDS)
        if listed is None or not isinstance(listed.value, dict):
            continue
        for name in listed.value:
            if name not in newest or when > newest[name][0]:
                newest[name] = (when, key)
    return {name: key for name, (_, key) in newest.items()}


def _recorded_data_id(mat: dg.AssetMaterialization, name: str) -> str | None:
    """The data_id a materialization holds for dataset ``name``: its data version, or for a
    chunk asset, the dataset's entry in the chunk's list."""
    chunk = mat.metadata.get(CHUNK_DATA_IDS)
    if chunk is None:
        return mat.tags.get(_DATA_VERSION_TAG)
    recorded = chunk.value.get(name) if isinstance(chunk.value, dict) else None
    return recorded if isinstance(recorded, str) else None


def new_versions_sensor(
    datasets: Sequence[Dataset],
    bundle_keys: Mapping[str, dg.AssetKey],
    source_keys: Mapping[str, dg.AssetKey],
    *,
    name: str = "buckaroo_new_versions",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    resource_key: str = "buckaroo_store",
    config_id: str | None = None,
    datasets_per_tick: int = DATASETS_PER_TICK,
    tick_budget_seconds: float = TICK_BUDGET_SECONDS,
    chunks: Collection[dg.AssetKey] = (),
) -> dg.SensorDefinition:
    """Requests one run for exactly the datasets whose bundle does not hold their new data_id.

    ``bundle_keys`` gives each dataset's asset (several datasets share a chunk
    asset, all of which ``chunks`` lists); ``source_keys`` their source assets,
    where they have one.

    Each tick looks at most ``datasets_per_tick`` datasets, for at most about
    ``tick_budget_seconds``, starting where the last tick stopped (the cursor
    remembers where, and each dataset's last data_id).  A dataset whose
    data_id changed is requested unless its latest materialization already
    holds it (see ``outdated_datasets``); the tick also records an observation
    of each requested source, so the UI shows its bundle stale until the run
    lands.  An unreadable source is logged and retried when its turn comes again.
    """
    if datasets_per_tick < 1:
        raise ValueError(f"datasets_per_tick must be >= 1, got {datasets_per_tick}")

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        asset_selection=list(dict.fromkeys(bundle_keys.values())),
        default_status=default_status,
        description="Builds bundles for new versions of the declared datasets.",
        required_resource_keys={resource_key},
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        store: BundleStore = getattr(context.resources, resource_key).get_store()
        seen, requested, start = _read_cursor(context.cursor)
        start = start % len(datasets) if datasets else 0
        turn = [*datasets[start:], *datasets[:start]][:datasets_per_tick]
        deadline = time.monotonic() + tick_budget_seconds
        current, looked = _current_data_ids(turn, store, deadline, context.log)
        resume = (start + looked) % len(datasets) if datasets else 0
        changed = {n: d for n, d in current.items() if seen.get(n) != d}
        outdated = outdated_datasets(
            context.instance, bundle_keys, changed, config_id=config_id, store_url=store.url,
            chunks=chunks,
        )  # fmt: skip
        seen = {**seen, **changed}
        if not outdated:
            partial = "" if looked == len(datasets) else f" among {looked} of {len(datasets)}"
            return dg.SensorResult(
                skip_reason=f"no dataset changed{partial}",
                cursor=_write_cursor(seen, requested, resume),
            )
        # The run key must differ whenever a run is really wanted (a file toggled A -> B -> A
        # -> B asks for {name: B} twice), yet repeat when a tick is retried with its old
        # cursor: so it counts the runs requested so far, which the cursor remembers.
        digest = hashlib.blake2b(json.dumps(outdated, sort_keys=True).encode(), digest_size=12)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"buckaroo-{requested + 1}-{digest.hexdigest()}",
                    asset_selection=list(dict.fromkeys(bundle_keys[n] for n in outdated)),
                    tags={"buckaroo/datasets": ",".join(sorted(outdated))[:200]},
                )
            ],
            asset_events=[
                dg.AssetObservation(
                    source_keys[n], metadata={"data_id": d}, tags={_DATA_VERSION_TAG: d}
                )
                for n, d in outdated.items()
                if n in source_keys
            ],
            cursor=_write_cursor(seen, requested + 1, resume),
        )

    return sensor


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], int, int]:
    """(data_id last seen per dataset, runs requested so far, where the next tick starts).

    Also reads the older forms: without the position, and the flat ``{name: data_id}``.
    """
    state = json.loads(cursor) if cursor else {}
    if isinstance(state.get("seen"), dict):
        return dict(state["seen"]), int(state.get("requested", 0)), int(state.get("next", 0))
    return dict(state), 0, 0


def _write_cursor(seen: Mapping[str, str], requested: int, resume: int) -> str:
    return json.dumps({"seen": dict(seen), "requested": requested, "next": resume}, sort_keys=True)


def _frames_behind(
    instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition]
) -> list[dg.AssetKey]:
    """Bundle assets never materialized, or materialized before one of their upstream assets."""
    deps = {key: sorted(a.asset_deps.get(key, ()), key=str) for a in assets for key in a.keys}
    every = sorted({*deps, *(u for ups in deps.values() for u in ups)}, key=str)
    latest = {
        key: entry.timestamp
        for start in range(0, len(every), _KEYS_PER_QUERY)
        for key, entry in instance.get_latest_materialization_events(
            every[start : start + _KEYS_PER_QUERY]
        ).items()
        if entry is not None
    }
    return [
        key
        for key, ups in deps.items()
        if key not in latest or any(latest.get(u, 0.0) > latest[key] for u in ups)
    ]


def prewarm_schedule(
    assets: Sequence[dg.AssetsDefinition],
    *,
    cron: str = "0 3 * * *",
    name: str = "buckaroo_prewarm",
    max_partitions: int = 100,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    datasets: Mapping[dg.AssetKey, Dataset | Sequence[Dataset]] | None = None,
    config_id: str | None = None,
    resource_key: str = "buckaroo_store",
    tick_budget_seconds: float = TICK_BUDGET_SECONDS,
    chunks: Collection[dg.AssetKey] = (),
) -> dg.ScheduleDefinition:
    """Materializes, on ``cron``, the bundle assets that are missing or out of date.

    Declared datasets (``datasets``: those of each bundle asset, by its key;
    several share a chunk asset) are requested when
    ``outdated_datasets`` says so; those not looked at within
    ``tick_budget_seconds`` are requested anyway (a stored bundle is a hit
    that reads no data).  Other unpartitioned bundle assets are requested when
    never materialized or older than an upstream materialization.  They share
    one run, and no run at all when everything is up to date.  Each
    partitioned one gets a run per partition for its newest ``max_partitions``
    partitions (static, time-window and dynamic partitions alike).
    """
    # One dataset per key (as before chunks existed) or several.
    held = {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in (datasets or {}).items()}
    plain = [a for a in assets if a.partitions_def is None]
    partitioned = [a for a in assets if a.partitions_def is not None]
    every_key = [key for a in assets for key in a.keys]
    others = [a for a in plain if not set(a.keys) <= set(held)]

    @dg.schedule(
        cron_schedule=cron,
        name=name,
        target=dg.AssetSelection.assets(*every_key),
        default_status=default_status,
        description="Rebuilds every missing or outdated bundle; up-to-date ones get no run.",
        required_resource_keys={resource_key} if held else None,
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        wanted = _frames_behind(context.instance, others) if others else []
        if held:
            store: BundleStore = getattr(context.resources, resource_key).get_store()
            declared = [ds for a in plain for key in a.keys for ds in held.get(key, ())]
            deadline = time.monotonic() + tick_budget_seconds
            current, looked = _current_data_ids(declared, store, deadline, context.log)
            keys = {ds.name: key for key, members in held.items() for ds in members}
            outdated = outdated_datasets(
                context.instance, keys, current, config_id=config_id, store_url=store.url,
                chunks=chunks,
            )  # fmt: skip
            unreadable = [ds for ds in declared[:looked] if ds.name not in current]
            wanted += [keys[ds.name] for ds in declared if ds.name in outdated]
            wanted += [keys[ds.name] for ds in [*unreadable, *declared[looked:]]]
            wanted = list(dict.fromkeys(wanted))
        # Dagster refuses a tick of several run requests unless each has a run key;
        # schedules scope run keys to the tick's time, so fixed keys dedupe only retries.
        requests = [dg.RunRequest(run_key="prewarm", asset_selection=wanted)] if wanted else []
        for asset in partitioned:
            partition_keys = asset.partitions_def.get_partition_keys(  # type: ignore[union-attr]
                dynamic_partitions_store=context.instance
            )
            requests += [
                dg.RunRequest(
                    run_key=f"prewarm:{asset.key.to_user_string()}:{partition_key}",
                    asset_selection=list(asset.keys),
                    partition_key=partition_key,
                )
                for partition_key in partition_keys[-max_partitions:]
            ]
        return requests or dg.SkipReason("every bundle is up to date")

    return schedule
