"""Asset checks on stored bundles: integrity, stats consistency, freshness, and opt-in drift.

They read the store, never the data (freshness only derives the source's
current data_id), so they are cheap enough to run after every materialization.
"""


from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Literal

import dagster as dg

from ..bundle.model import Bundle
from ..errors import BundleError
from ..store.bundle_store import BundleStore
from .drift import DRIFT_CHECK, DriftCheck, drift_result
from .naming import partition_dataset
from .resource import BundleStoreResource

__all__ = [
    "CHECK_NAMES",
    "CHECKS_ONE",
    "ChecksMode",
    "bundle_checks",
    "check_results",
    "check_specs",
    "chunk_check_results",
    "evaluate_bundle",
    "partitioned_bundle_checks",
]

CHECK_NAMES = ("bundle_integrity", "stats_consistency", "freshness")
CHECKS_ONE = "bundle"  # the three as one check: a third of Dagster's events for checks
# "each": the three checks; "one": one check passing when all three would; "none": none.
ChecksMode = Literal["each", "one", "none"]
_LISTED_FAILURES = 50  # datasets named in a chunk check's metadata


def _consistency(bundle: Bundle) -> tuple[bool, dict[str, object]]:
    """Every column's null + non-null counts equal its length, and that equals the row count."""
    bad = [
        str(entry["orig_col_name"])
        for entry in bundle.stats.values()
        if not (entry["null_count"] + entry["non_null_count"] == entry["length"] == bundle.rows)
    ]
    return not bad, {"rows": bundle.rows, "inconsistent_columns": bad[:20]}


def evaluate_bundle(
    store: BundleStore,
    dataset: str,
    config_id: str,
    current_data_id: Callable[[BundleStore], str] | None,
) -> dict[str, tuple[bool, str, dict[str, object]]]:
    """Result per check name: (passed, description, metadata)."""
    try:
        data_id, _ = store.resolve(dataset=dataset, config_id=config_id)
        bundle = store.get(data_id, config_id)  # verifies every part's checksum
    except BundleError as exc:
        failure = (False, f"{type(exc).__name__}: {exc}", {})
        return dict.fromkeys(CHECK_NAMES, failure)
    url = store.manifest_url(data_id, config_id)
    results = {"bundle_integrity": (True, "manifest and parts verified", {"uri": url})}
    consistent, details = _consistency(bundle)
    results["stats_consistency"] = (
        consistent,
        "counts agree for every column" if consistent else "counts disagree",
        details,
    )
    if current_data_id is not None:
        try:
            current = current_data_id(store)
        except Exception as exc:
            results["freshness"] = (False, f"cannot read the source: {exc}", {"stored": data_id})
        else:
            fresh = current == data_id
            results["freshness"] = (
                fresh,
                "bundle matches the source" if fresh else "the source changed since the bundle",
                {"stored_data_id": data_id, "current_data_id": current},
            )
    return results


def check_specs(
    key: dg.AssetKey, *, freshness: bool, drift: DriftCheck | None = None, mode: ChecksMode = "each"
) -> list[dg.AssetCheckSpec]:
    """The checks of one bundle asset; freshness only where a source can be re-read."""
    names = [check for check in CHECK_NAMES if freshness or check != "freshness"]
    if mode == "one":
        described = ", ".join(check.replace("_", " ") for check in names)
        specs = [dg.AssetCheckSpec(CHECKS_ONE, asset=key, description=described)]
    else:
        specs = [
            dg.AssetCheckSpec(check, asset=key, description=check.replace("_", " "))
            for check in names
            if mode == "each"
        ]
    if drift is not None:
        specs.append(
            dg.AssetCheckSpec(
                DRIFT_CHECK, asset=key, description="changes since the previous version"
            )
        )
    return specs


def check_results(
    key: dg.AssetKey,
    store: BundleStore,
    dataset: str,
    config_id: str,
    current: Callable[[BundleStore], str] | None,
    wanted: AbstractSet[dg.AssetCheckKey],
    drift: DriftCheck | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of one bundle asset, evaluated against the store."""
    if dg.AssetCheckKey(key, CHECKS_ONE) in wanted:
        yield _result(key, CHECKS_ONE, _all_of(evaluate_bundle(store, dataset, config_id, current)))
    elif any(dg.AssetCheckKey(key, c) in wanted for c in CHECK_NAMES):
        for check, result in evaluate_bundle(store, dataset, config_id, current).items():
            if dg.AssetCheckKey(key, check) in wanted:
                yield _result(key, check, result)
    if drift is not None and dg.AssetCheckKey(key, DRIFT_CHECK) in wanted:
        yield drift_result(key, store, dataset, drift)


def chunk_check_results(
    key: dg.AssetKey,
    store: BundleStore,
    members: Sequence[tuple[str, Callable[[BundleStore], str]]],
    config_id: str,
    wanted: AbstractSet[dg.AssetCheckKey],
    *,
    failed: Mapping[str, str] | None = None,
    drift: DriftCheck | None = None,
    rebuilt: AbstractSet[str] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of a chunk asset: each passes when it passes for every dataset
    of the chunk (``members``: name and current data_id) and names those it failed for.

    A dataset whose build ``failed`` (name -> error) fails every check. Drift is looked
    at for the datasets ``rebuilt`` in this run (every member when None), so a run for
    one changed dataset does not report the old drift of the others again.
    """
    broken = {name: (False, f"its build failed: {error}", {}) for name, error in (failed or {}).items()}
    one = dg.AssetCheckKey(key, CHECKS_ONE) in wanted
    separate = [check for check in CHECK_NAMES if dg.AssetCheckKey(key, check) in wanted]
    if one or separate:
        evaluated = {name: evaluate_bundle(store, name, config_id, now) for name, now in members}
        if one:
            yield _result(key, CHECKS_ONE, _across({**{n: _all_of(r) for n, r in evaluated.items()}, **broken}))
        for check in separate:
            yield _result(key, check, _across({**{n: r[check] for n, r in evaluated.items()}, **broken}))
    if drift is not None and dg.AssetCheckKey(key, DRIFT_CHECK) in wanted:
        looked_at = [name for name, _ in members if rebuilt is None or name in rebuilt]
        each = {name: drift_result(key, store, name, drift) for name in looked_at}
        passed, description, metadata = _across(
            {**{name: (r.passed, r.description or "", {}) for name, r in each.items()}, **broken}
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name=DRIFT_CHECK, passed=passed, description=description,
            metadata=metadata, severity=dg.AssetCheckSeverity[drift.severity],
        )  # fmt: skip


def _across(
    results: dict[str, tuple[bool, str, dict[str, object]]],
) -> tuple[bool, str, dict[str, object]]:
    """One check over many datasets: passed when it passed for each, described by the failures."""
    failed = {name: description for name, (ok, description, _) in results.items() if not ok}
    listed = dict(list(failed.items())[:_LISTED_FAILURES])
    metadata: dict[str, object] = {
        "datasets": len(results),
        "failed": len(failed),
        "failures": dg.MetadataValue.json(listed),
    }
    if not results:
        return True, "no dataset to look at in this run", metadata
    if not failed:
        return True, f"passed for all {len(results)} datasets", metadata
    shown = "; ".join(f"{name}: {why}" for name, why in list(failed.items())[:3])
    return False, f"{len(failed)} of {len(results)} datasets failed: {shown}", metadata


def bundle_checks(
    key: dg.AssetKey,
    dataset: str,
    *,
    config_id: str,
    name: str,
    resource_key: str = "buckaroo_store",
    drift: DriftCheck | None = None,
) -> dg.AssetChecksDefinition:
    """Integrity, consistency (and drift, if asked) of one unpartitioned frame's bundle.

    One definition per frame: a frame that fails to build skips its own checks, never another's.
    """

    @dg.multi_asset_check(
        specs=check_specs(key, freshness=False, drift=drift),
        name=name,
        can_subset=True,
        required_resource_keys={resource_key},
    )
    def check_bundle(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        resource: BundleStoreResource = getattr(context.resources, resource_key)
        wanted = context.selected_asset_check_keys
        yield from check_results(
            key, resource.get_store(), dataset, config_id, None, wanted, drift
        )

    return check_bundle


def partitioned_bundle_checks(
    key: dg.AssetKey,
    dataset: str,
    *,
    config_id: str,
    partitions_def: dg.PartitionsDefinition,
    resource_key: str = "buckaroo_store",
) -> list[dg.AssetChecksDefinition]:
    """Integrity and consistency of one partition's bundle (a frame has no source to re-read)."""

    def make(check: str) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=key,
            name=check,
            description=check.replace("_", " "),
            partitions_def=partitions_def,
            required_resource_keys={resource_key},
        )
        def one_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            resource: BundleStoreResource = getattr(context.resources, resource_key)
            name = partition_dataset(dataset, context.partition_key)
            result = evaluate_bundle(resource.get_store(), name, config_id, None)[check]
            return _result(key, check, result)

        return one_check

    return [make(check) for check in CHECK_NAMES if check != "freshness"]


def _all_of(
    results: dict[str, tuple[bool, str, dict[str, object]]],
) -> tuple[bool, str, dict[str, object]]:
    """The checks as one: passed when all passed, described by those that failed."""
    failed = [f"{check}: {description}" for check, (ok, description, _) in results.items() if not ok]
    metadata = {check: ok for check, (ok, _, _) in results.items()}
    for check, (_, _, details) in results.items():
        metadata |= {f"{check}/{name}": value for name, value in details.items()}
    return not failed, "; ".join(failed) or f"{', '.join(results)}: passed", metadata


def _result(
    key: dg.AssetKey, check: str, result: tuple[bool, str, dict[str, object]]
) -> dg.AssetCheckResult:
    passed, description, metadata = result
    return dg.AssetCheckResult(
        asset_key=key, check_name=check, passed=passed, description=description, metadata=metadata
    )
