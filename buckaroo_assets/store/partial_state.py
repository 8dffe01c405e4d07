"""The partial state of a build in progress: its first rows, readable before its stats exist.

A producer building a missing bundle publishes the source's first window
here first, so a viewer can show rows while the stats are computed::

    v1/building/<data_id>/<config_id>/window.bin     the first rows (Parquet, or Arrow IPC), first
    v1/building/<data_id>/<config_id>/partial.json   the marker, last: "state": "partial", the
                                                     build's id and start time, labels, schema,
                                                     and the window's size and SHA-256

It lives outside ``v1/bundles``, so nothing that reads bundles (``get``,
``resolve``, ``list``, ``verify``'s checks, a producer's hit) ever sees it;
only ``get_partial`` reads it, as a :class:`Bundle` with ``partial=True``.
A marker older than :data:`STALE_AFTER` was left by a build that was killed:
it is never served, and ``gc`` removes it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..bundle import codec
from ..bundle.columns import column_key
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_config_id, validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted
from .objects import ObjectFiles, modified, utc_now
from .packing import read_window, schema_b64, window_bytes

__all__ = [
    "PARTIAL_MARKER",
    "PARTIAL_WINDOW",
    "STALE_AFTER",
    "PartialEntry",
    "abandoned_files",
    "entry_from_marker",
    "partial_bundle",
    "partial_markers",
    "partial_objects",
    "read_marker",
]

FORMAT_NAME = "buckaroo-assets.partial"
FORMAT_VERSION = 1
PARTIAL_MARKER = "partial.json"
PARTIAL_WINDOW = "window.bin"
STALE_AFTER = _dt.timedelta(hours=6)
"""A build started longer ago than this is taken for dead: its partial state is stale."""


@dataclass(frozen=True)
class PartialEntry:
    """One build in progress, as its marker describes it."""

    data_id: str
    config_id: str
    dataset: str | None
    build: str
    started_at: _dt.datetime
    window_rows: int
    rows_total: int | None
    columns: int

    @property
    def stale(self) -> bool:
        """Started longer than ``STALE_AFTER`` ago: a build killed before it could clean up."""
        return utc_now() - self.started_at > STALE_AFTER

    def to_json(self) -> dict[str, Any]:
        return {
            "state": "partial",
            "dataset": self.dataset,
            "data_id": self.data_id,
            "config_id": self.config_id,
            "build": self.build,
            "started_at": self.started_at.isoformat(),
            "window_rows": self.window_rows,
            "rows_total": self.rows_total,
            "columns": self.columns,
            "stale": self.stale,
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partial_objects(
    bundle: Bundle, *, dataset: str | None, build: str, started_at: _dt.datetime
) -> tuple[bytes, bytes]:
    """The marker and the window object of a partial bundle (stats: labels and types only)."""
    window, media_type = window_bytes(bundle.first_window)
    rows_total = bundle.meta.get("rows")
    marker = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "state": "partial",
        "data_id": bundle.data_id,
        "config_id": bundle.config_id,
        "config": bundle.config.to_dict(),
        "dataset": dataset,
        "build": build,
        "started_at": started_at.isoformat(timespec="milliseconds"),
        "rows_total": rows_total if isinstance(rows_total, int) else None,
        "window_rows": bundle.first_window.num_rows,
        "columns": list(bundle.stats.values()),
        "arrow_schema": schema_b64(bundle.schema),
        "window": {"name": PARTIAL_WINDOW, "size": len(window), "sha256": _sha256(window),
                   "media_type": media_type},
    }  # fmt: skip
    return codec.dumps(marker), window


def read_marker(raw: bytes, *, where: str) -> dict[str, Any]:
    """A marker, checked for shape; anything else is ``BundleCorrupted``."""
    try:
        marker = codec.loads(raw)
        ok = (
            isinstance(marker, dict)
            and marker.get("format") == FORMAT_NAME
            and marker.get("format_version") == FORMAT_VERSION
            and marker.get("state") == "partial"
            and isinstance(marker.get("build"), str)
            and isinstance(marker.get("config"), dict)
            and isinstance(marker.get("columns"), list)
            and all(isinstance(c, dict) and "orig_col_name" in c for c in marker["columns"])
            and isinstance(marker.get("arrow_schema"), str)
            and isinstance(marker.get("window"), dict)
            and type(marker.get("window_rows")) is int
            and (marker.get("rows_total") is None or type(marker["rows_total"]) is int)
        )
        if ok:
            validate_data_id(marker["data_id"])
            validate_config_id(marker["config_id"])
            if marker.get("dataset") is not None:
                validate_data_id(marker["dataset"], what="dataset name")
            ok = _dt.datetime.fromisoformat(marker["started_at"]).tzinfo is not None
    except (codec.MalformedEncodingError, RecursionError, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise BundleCorrupted(f"{where}: not a valid partial-state marker")
    return marker


def entry_from_marker(marker: dict[str, Any]) -> PartialEntry:
    return PartialEntry(
        data_id=marker["data_id"],
        config_id=marker["config_id"],
        dataset=marker.get("dataset"),
        build=marker["build"],
        started_at=_dt.datetime.fromisoformat(marker["started_at"]),
        window_rows=marker["window_rows"],
        rows_total=marker["rows_total"],
        columns=len(marker["columns"]),
    )


def partial_bundle(marker: dict[str, Any], window: bytes, *, where: str) -> Bundle:
    """The partial bundle a marker and its window make, both verified; any damage raises."""
    named = marker["window"]
    if len(window) != named.get("size") or _sha256(window) != named.get("sha256"):
        raise BundleCorrupted(f"{where}: window does not match its marker")
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(marker["arrow_schema"])))
        table = read_window(memoryview(window), named.get("media_type"), schema)
        config = StatsConfig.from_dict(marker["config"])
    except BundleCorrupted:
        raise
    except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:
        raise BundleCorrupted(f"{where}: cannot decode partial state: {exc}") from None
    columns = marker["columns"]
    if (
        config.config_id != marker["config_id"]
        or len(columns) != table.num_columns
        or table.num_rows != marker["window_rows"]
    ):
        raise BundleCorrupted(f"{where}: marker disagrees with its window")
    meta: dict[str, Any] = {
        "data_id": marker["data_id"],
        "config_id": marker["config_id"],
        "state": "partial",
        "build": marker["build"],
        "started_at": marker["started_at"],
    }
    if marker["rows_total"] is not None:
        meta["rows"] = marker["rows_total"]
    return Bundle(
        data_id=marker["data_id"],
        config=config,
        stats={column_key(i): entry for i, entry in enumerate(columns)},
        first_window=table,
        meta=meta,
        dataset=marker.get("dataset"),
        partial=True,
    )


def partial_markers(
    files: ObjectFiles, listing: dict[str, dict[str, Any]]
) -> dict[str, PartialEntry | None]:
    """Each marker among files listed under ``v1/building``, read (None when unreadable)."""
    paths = sorted(p for p in listing if p.endswith(f"/{PARTIAL_MARKER}"))
    found: dict[str, PartialEntry | None] = {}
    for path, data in files.cat_many(paths).items():
        try:
            if isinstance(data, BaseException):
                raise BundleCorrupted(f"{path}: {data}")
            found[path] = entry_from_marker(read_marker(data, where=path))
        except BundleCorrupted:
            found[path] = None
    return found


def abandoned_files(
    listing: dict[str, dict[str, Any]], markers: dict[str, PartialEntry | None]
) -> list[str]:
    """Files of partial states left by dead builds: stale markers and what sits beside them.

    ``markers`` maps each marker path found to its entry (None when unreadable).
    A folder without a readable marker is abandoned once its files are older
    than ``STALE_AFTER`` (younger ones may belong to a write in progress).
    """
    cutoff = utc_now() - STALE_AFTER
    found = []
    for path, info in listing.items():
        folder = path.rsplit("/", 1)[0]
        entry = markers.get(f"{folder}/{PARTIAL_MARKER}")
        if entry is not None:
            dead = entry.stale
        else:
            changed = modified(info)
            dead = changed is not None and changed < cutoff
        if dead:
            found.append(path)
    return sorted(found)
