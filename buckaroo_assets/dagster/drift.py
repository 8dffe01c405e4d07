"""The opt-in drift check: did the version just published move too far from the previous one?

It compares two stored bundles (``ba.diff``), so it reads no data. Schema
changes are also what Dagster's own ``build_column_schema_change_checks``
reports from ``dagster/column_schema``; this check adds what Dagster cannot
see in metadata: row drops, null-rate jumps and histogram distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

from ..changes.compare import diff
from ..changes.history import previous_and_latest
from ..changes.thresholds import DriftThresholds
from ..errors import BundleError, BundleNotFound
from ..reader.load import load_bundle
from ..store.bundle_store import BundleStore

__all__ = ["DRIFT_CHECK", "DriftCheck", "drift_result"]

DRIFT_CHECK = "drift"
_LISTED = 20  # crossings kept in the check's metadata
_TEXT = 8_000  # characters of the diff's text kept there


@dataclass(frozen=True)
class DriftCheck:
    """Turns the drift check on: the limits (``DriftThresholds``) and how loud a crossing is."""

    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    severity: Literal["WARN", "ERROR"] = "WARN"

    def __post_init__(self) -> None:
        if self.severity not in ("WARN", "ERROR"):
            raise ValueError(f"severity must be 'WARN' or 'ERROR', got {self.severity!r}")


def drift_result(
    key: dg.AssetKey, store: BundleStore, dataset: str, check: DriftCheck
) -> dg.AssetCheckResult:
    """The drift check of ``dataset``'s latest version against its previous one."""
    severity = dg.AssetCheckSeverity[check.severity]

    def result(passed: bool, description: str, metadata: dict[str, object]) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=key, check_name=DRIFT_CHECK, passed=passed, severity=severity,
            description=description, metadata=metadata,
        )  # fmt: skip

    try:
        (old_id, old_config), (new_id, new_config) = previous_and_latest(store, dataset)
    except BundleNotFound:
        return result(True, "no previous version to compare with", {})
    try:
        changes = diff(
            load_bundle(old_id, store=store, config=old_config),
            load_bundle(new_id, store=store, config=new_config),
        )
    except BundleError as exc:
        return result(False, f"cannot compare: {type(exc).__name__}: {exc}", {})
    crossings = check.thresholds.crossed(changes)
    metadata: dict[str, object] = {
        "previous_data_id": old_id,
        "data_id": new_id,
        "changed_columns": len(changes.changed_columns),
        "schema_changed": changes.schema.changed,
        "crossed": dg.MetadataValue.json([c.to_json() for c in crossings[:_LISTED]]),
        "changes": dg.MetadataValue.md(f"```\n{_shortened(changes.to_text())}\n```"),
    }
    if changes.rows.pct_change is not None:  # None when the previous version had no rows
        metadata["rows_change_pct"] = changes.rows.pct_change
    if not crossings:
        return result(True, f"within limits of {old_id}", metadata)
    shown = "; ".join(c.message for c in crossings[:3])
    more = f" (and {len(crossings) - 3} more)" if len(crossings) > 3 else ""
    return result(False, f"{len(crossings)} limits crossed since {old_id}: {shown}{more}", metadata)


def _shortened(text: str) -> str:
    return text if len(text) <= _TEXT else text[:_TEXT] + "\n… (cut; ba.diff gives all of it)"
