"""Materialization metadata: small summary scalars, the schema, a bounded stats preview.

Dagster metadata lives in the run database, so it links the bundle
(``dagster/uri``) instead of carrying it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ..build.publish import Published
from ..bundle.model import Bundle
from ..store import BundleEntry, BundleStore
from .progress import RunProgress

__all__ = ["bundle_metadata", "materialize_result"]

PREVIEW_COLUMNS = 25
SCHEMA_COLUMNS = 500
_CELL = 40


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _preview(bundle: Bundle) -> str:
    stats = ("dtype", "null_count", "distinct_count", "min", "max", "mean", "most_freq")
    lines = ["| column | " + " | ".join(stats) + " |", "|" + "---|" * (len(stats) + 1)]
    for entry in list(bundle.stats.values())[:PREVIEW_COLUMNS]:
        cells = [_cell(entry["orig_col_name"]), *(_cell(entry.get(s)) for s in stats)]
        lines.append("| " + " | ".join(cells) + " |")
    hidden = len(bundle.stats) - PREVIEW_COLUMNS
    if hidden > 0:
        lines.append(f"\n… and {hidden} more columns (open the bundle for all)")
    return "\n".join(lines)


def _schema(bundle: Bundle) -> dg.TableSchema:
    columns = [
        dg.TableColumn(name=_cell(entry["orig_col_name"]) or key, type=str(entry["dtype"]))
        for key, entry in list(bundle.stats.items())[:SCHEMA_COLUMNS]
    ]
    return dg.TableSchema(columns=columns)


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
        "seconds": round(seconds, 3),
        "stats_preview": dg.MetadataValue.md(_preview(bundle)),
    }
    if entry is not None:
        metadata["bundle_bytes"] = entry.bytes
    if not hit:
        build = float(bundle.meta.get("build_seconds") or seconds)
        metadata["build_seconds"] = round(build, 3)
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
    metadata.update(progress.finished(dataset, bundle.rows, published.hit))
    return dg.MaterializeResult(
        asset_key=asset_key, metadata=metadata, data_version=dg.DataVersion(bundle.data_id)
    )
