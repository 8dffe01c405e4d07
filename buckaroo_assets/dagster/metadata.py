"""Materialization metadata that reads well in the asset page and plots over time.

Dagster metadata lives in the run database, so it links the bundle
(``dagster/uri``) instead of carrying it, and keeps per-column entries to a
bounded number of columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import dagster as dg

from ..build.publish import Published
from ..bundle.model import Bundle
from ..store import BundleEntry, BundleStore
from ..units import human_number
from .progress import RunProgress

__all__ = [
    "PLOTTED_COLUMNS",
    "bundle_metadata",
    "column_description",
    "column_metric_key",
    "materialize_result",
]

PREVIEW_COLUMNS = 50
SCHEMA_COLUMNS = 500
PLOTTED_COLUMNS = 20
_CELL = 60
_APPROX = "≈ "
_PREVIEW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("column", "string"),
        dg.TableColumn("dtype", "string"),
        dg.TableColumn("null %", "string"),
        dg.TableColumn("distinct", "string", description="≈ marks an estimate (sketched column)"),
        dg.TableColumn("min", "string"),
        dg.TableColumn("max", "string"),
        dg.TableColumn("mean", "string"),
        dg.TableColumn("most frequent", "string", description="≈ marks an estimate"),
    ]
)


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _shown(entry: Mapping[str, Any], stat: str) -> str:
    """One stat as people read it, ``≈``-marked when it comes from a sketch."""
    value = entry.get(stat)
    if value is None:
        return ""
    approximate = stat in (entry.get("approximate") or ())
    return (_APPROX if approximate else "") + _short(human_number(value))


def _null_percent(entry: Mapping[str, Any]) -> float:
    length = entry.get("length") or 0
    return 100.0 * (entry.get("null_count") or 0) / length if length else 0.0


def _label(key: str, entry: Mapping[str, Any]) -> str:
    return _short(str(entry["orig_col_name"])) or key


def column_description(entry: Mapping[str, Any]) -> str:
    """``2.0 % null · 4,813 distinct · 0.01 – 97.3``: what a column holds, in one line."""
    parts = [f"{human_number(round(_null_percent(entry), 2))} % null"]
    if entry.get("distinct_count") is not None:
        parts.append(f"{_shown(entry, 'distinct_count')} distinct")
    if entry.get("min") is not None and entry.get("max") is not None:
        parts.append(f"{_shown(entry, 'min')} – {_shown(entry, 'max')}")
    return " · ".join(parts)


def column_metric_key(column: str, metric: str) -> str:
    """The metadata key Dagster plots for one column's metric, e.g. ``column/fare/null_pct``."""
    return f"column/{column}/{metric}"


def _schema(bundle: Bundle) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=_label(key, entry), type=str(entry["dtype"]), description=column_description(entry)
            )
            for key, entry in list(bundle.stats.items())[:SCHEMA_COLUMNS]
        ]
    )


def _preview(bundle: Bundle) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord(
            {
                "column": _label(key, entry),
                "dtype": str(entry["dtype"]),
                "null %": human_number(round(_null_percent(entry), 2)),
                "distinct": _shown(entry, "distinct_count"),
                "min": _shown(entry, "min"),
                "max": _shown(entry, "max"),
                "mean": _shown(entry, "mean"),
                "most frequent": _shown(entry, "most_freq"),
            }
        )
        for key, entry in list(bundle.stats.items())[:PREVIEW_COLUMNS]
    ]
    return dg.MetadataValue.table(records, schema=_PREVIEW_SCHEMA)


def _plotted(bundle: Bundle) -> dict[str, float | int]:
    """Numeric per-column metrics of the first columns, which Dagster plots across materializations."""
    metrics: dict[str, float | int] = {}
    for key, entry in list(bundle.stats.items())[:PLOTTED_COLUMNS]:
        column = _label(key, entry)
        metrics[column_metric_key(column, "null_pct")] = round(_null_percent(entry), 4)
        if entry.get("distinct_count") is not None:
            metrics[column_metric_key(column, "distinct")] = int(entry["distinct_count"])
        mean = entry.get("mean")
        if isinstance(mean, int | float) and math.isfinite(mean):
            metrics[column_metric_key(column, "mean")] = float(mean)
    return metrics


def bundle_metadata(
    bundle: Bundle,
    entry: BundleEntry | None,
    store: BundleStore,
    *,
    hit: bool,
    seconds: float,
    viewer_url: str | None = None,
) -> dict[str, Any]:
    """Metadata for one materialization; ``entry`` is what ``put`` published (None on a hit)."""
    rows = bundle.rows
    metadata: dict[str, Any] = {
        "dagster/uri": store.manifest_url(bundle.data_id, bundle.config_id),
        "dagster/row_count": rows,
        "dagster/column_schema": _schema(bundle),
        "data_id": bundle.data_id,
        "config_id": bundle.config_id,
        "cache": "hit" if hit else "miss",
        "columns": len(bundle.stats),
        "approximate_columns": sum(1 for e in bundle.stats.values() if e.get("approximate")),
        "seconds": round(seconds, 3),
        "stats_preview": _preview(bundle),
        **_plotted(bundle),
    }
    if entry is not None:
        metadata["bundle_bytes"] = entry.bytes
    if not hit:  # the engine's own time: publishing and waiting for a slot are not reading
        build = float(bundle.meta.get("build_seconds") or seconds)
        metadata["rows_per_second"] = round(rows / build) if build > 0 else rows
    if viewer_url:
        link = f"{viewer_url.rstrip('/')}/bundles/{bundle.data_id}/{bundle.config_id}"
        metadata["viewer"] = dg.MetadataValue.url(link)
    return metadata


def materialize_result(
    published: Published,
    store: BundleStore,
    progress: RunProgress,
    dataset: str,
    *,
    viewer_url: str | None,
    asset_key: dg.AssetKey | None = None,
) -> dg.MaterializeResult:
    """One bundle asset's materialization: metadata, progress so far, data version = data_id."""
    bundle = published.bundle
    metadata = bundle_metadata(
        bundle,
        published.entry,
        store,
        hit=published.hit,
        seconds=published.seconds,
        viewer_url=viewer_url,
    )
    metadata["dataset"] = dataset
    metadata["progress"] = progress.finished(dataset, bundle.rows, published.hit)
    return dg.MaterializeResult(
        asset_key=asset_key, metadata=metadata, data_version=dg.DataVersion(bundle.data_id)
    )
