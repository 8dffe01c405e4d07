"""When bundles get built: a sensor for new dataset versions, a schedule to prewarm them all."""


import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg

from .datasets import Dataset

__all__ = ["new_versions_sensor", "prewarm_schedule"]

_DATA_VERSION_TAG = "dagster/data_version"


def new_versions_sensor(
    datasets: Sequence[Dataset],
    bundle_keys: Mapping[str, dg.AssetKey],
    source_keys: Mapping[str, dg.AssetKey],
    *,
    name: str = "buckaroo_new_versions",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    resource_key: str = "buckaroo_store",
) -> dg.SensorDefinition:
    """Requests one run for exactly the datasets whose data_id changed since the last tick.

    The cursor remembers each dataset's last data_id; the tick also records
    an observation of each changed source, so the UI shows its bundle stale
    until the run lands.  An unreadable source is logged and retried next tick.
    """

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        asset_selection=list(bundle_keys.values()),
        default_status=default_status,
        description="Builds bundles for new versions of the declared datasets.",
        required_resource_keys={resource_key},
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        store = getattr(context.resources, resource_key).get_store()
        seen, requested = _read_cursor(context.cursor)
        changed: dict[str, str] = {}
        for ds in datasets:
            try:
                data_id = ds.current_data_id(store)
            except Exception as exc:
                context.log.warning(f"cannot read dataset {ds.name}: {type(exc).__name__}: {exc}")
                continue
            if seen.get(ds.name) != data_id:
                changed[ds.name] = data_id
        if not changed:
            cursor = _write_cursor(seen, requested)
            return dg.SensorResult(skip_reason="no dataset changed", cursor=cursor)
        # The run key must differ whenever a run is really wanted (a file toggled A -> B -> A
        # -> B asks for {name: B} twice), yet repeat when a tick is retried with its old
        # cursor: so it counts the runs requested so far, which the cursor remembers.
        digest = hashlib.blake2b(json.dumps(changed, sort_keys=True).encode(), digest_size=12)
        cursor = _write_cursor({**seen, **changed}, requested + 1)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"buckaroo-{requested + 1}-{digest.hexdigest()}",
                    asset_selection=[bundle_keys[n] for n in changed],
                    tags={"buckaroo/datasets": ",".join(sorted(changed))[:200]},
                )
            ],
            asset_events=[
                dg.AssetObservation(
                    source_keys[n], metadata={"data_id": d}, tags={_DATA_VERSION_TAG: d}
                )
                for n, d in changed.items()
            ],
            cursor=cursor,
        )

    return sensor


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], int]:
    """(data_id last seen per dataset, runs requested so far); also reads the old flat form."""
    state = json.loads(cursor) if cursor else {}
    if isinstance(state.get("seen"), dict):
        return dict(state["seen"]), int(state.get("requested", 0))
    return dict(state), 0


def _write_cursor(seen: Mapping[str, str], requested: int) -> str:
    return json.dumps({"seen": dict(seen), "requested": requested}, sort_keys=True)


def prewarm_schedule(
    assets: Sequence[dg.AssetsDefinition],
    *,
    cron: str = "0 3 * * *",
    name: str = "buckaroo_prewarm",
    max_partitions: int = 100,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """Materializes every bundle asset on ``cron``; stored bundles are hits that read no data.

    Unpartitioned bundle assets share one run; each partitioned one gets a
    run per partition for its newest ``max_partitions`` partitions (static,
    time-window and dynamic partitions alike).
    """
    plain = [key for a in assets if a.partitions_def is None for key in a.keys]
    partitioned = [a for a in assets if a.partitions_def is not None]
    every_key = [key for a in assets for key in a.keys]

    @dg.schedule(
        cron_schedule=cron,
        name=name,
        target=dg.AssetSelection.assets(*every_key),
        default_status=default_status,
        description="Rebuilds every missing or outdated bundle; present ones cost no data read.",
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        # Dagster refuses a tick of several run requests unless each has a run key;
        # schedules scope run keys to the tick's time, so fixed keys dedupe only retries.
        if plain:
            yield dg.RunRequest(run_key="prewarm", asset_selection=plain)
        for asset in partitioned:
            keys = asset.partitions_def.get_partition_keys(  # type: ignore[union-attr]
                dynamic_partitions_store=context.instance
            )
            for partition_key in keys[-max_partitions:]:
                yield dg.RunRequest(
                    run_key=f"prewarm:{asset.key.to_user_string()}:{partition_key}",
                    asset_selection=list(asset.keys),
                    partition_key=partition_key,
                )

    return schedule
