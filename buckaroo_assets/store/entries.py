"""What listing, verifying and collecting a store report: plain values, cheap to print."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

from ..bundle.ids import validate_data_id
from .partial_state import PartialEntry

__all__ = [
    "BundleEntry",
    "Damage",
    "GcReport",
    "VerifyReport",
    "entry_from_manifest",
    "entry_from_name",
    "entry_name",
    "is_entry_name",
]

_NO_DATASET = "-"  # never a dataset name: names may not start with "-"
# entry~<dataset>~<created_at, UTC>~<rows>~<columns>~<manifest bytes>~<pack bytes>
_ENTRY_NAME = re.compile(
    r"entry~([^~/]+)~(\d{8}T\d{6}\.\d{3}(?:\d{3})?Z)~(\d+)~(\d+)~(\d+)~(\d+)", re.ASCII
)
_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class BundleEntry:
    """What ``list()`` knows about one published bundle: its manifest's summary, which the
    name of its entry object (see :func:`entry_name`) repeats, and the pointers naming it."""

    data_id: str
    config_id: str
    dataset: str | None
    created_at: _dt.datetime
    rows: int
    columns: int
    manifest_bytes: int
    pack_bytes: int
    pinned_by: tuple[str, ...] = ()

    @property
    def bytes(self) -> int:
        return self.manifest_bytes + self.pack_bytes

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, as the CLI's ``--json`` and the server's index print it."""
        return {
            "dataset": self.dataset,
            "data_id": self.data_id,
            "config_id": self.config_id,
            "rows": self.rows,
            "columns": self.columns,
            "bytes": self.bytes,
            "manifest_bytes": self.manifest_bytes,
            "pack_bytes": self.pack_bytes,
            "created_at": self.created_at.isoformat(),
            "pinned_by": list(self.pinned_by),
        }


def entry_from_manifest(
    manifest: dict[str, Any], manifest_bytes: int, pinned: tuple[str, ...] = ()
) -> BundleEntry:
    return BundleEntry(
        data_id=manifest["data_id"],
        config_id=manifest["config_id"],
        dataset=manifest.get("dataset"),
        created_at=_dt.datetime.fromisoformat(manifest["created_at"]),
        rows=int(manifest["rows"]),
        columns=int(manifest["columns"]),
        manifest_bytes=manifest_bytes,
        pack_bytes=int(manifest["pack"]["size"]),
        pinned_by=pinned,
    )


def entry_name(entry: BundleEntry) -> str:
    """The name of a bundle's entry object: everything a listing shows but the pointers.

    ``put`` writes it beside the manifest, after it, so a listing of the bundle
    folders describes each bundle without reading it.  The dataset comes first
    so that no dataset name (one may hold ``.tmp-``) ends the name.
    """
    created = entry.created_at.astimezone(_dt.UTC)
    fraction = f"{created.microsecond:06d}"
    stamp = f"{created:%Y%m%dT%H%M%S}.{fraction[:3] if fraction.endswith('000') else fraction}Z"
    fields = (stamp, entry.rows, entry.columns, entry.manifest_bytes, entry.pack_bytes)
    return "~".join(["entry", entry.dataset or _NO_DATASET, *map(str, fields)])


def _entry_fields(name: str) -> tuple[str, ...] | None:
    match = _ENTRY_NAME.fullmatch(name)
    if match is None:
        return None
    if match.group(1) != _NO_DATASET:
        try:
            validate_data_id(match.group(1), what="dataset name")
        except ValueError:
            return None
    return match.groups()


def is_entry_name(name: str) -> bool:
    """Whether ``name`` is an entry object's (a temporary file of one is not)."""
    return _entry_fields(name) is not None


def entry_from_name(name: str, data_id: str, config_id: str) -> BundleEntry | None:
    """The entry an entry object's name describes, or None when ``name`` is not one."""
    fields = _entry_fields(name)
    if fields is None:
        return None
    dataset, stamp, rows, columns, manifest_bytes, pack_bytes = fields
    return BundleEntry(
        data_id=data_id,
        config_id=config_id,
        dataset=None if dataset == _NO_DATASET else dataset,
        created_at=_dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=_dt.UTC),
        rows=int(rows),
        columns=int(columns),
        manifest_bytes=int(manifest_bytes),
        pack_bytes=int(pack_bytes),
    )


@dataclass(frozen=True)
class Damage:
    """One stored thing that fails verification, and why."""

    path: str
    reason: str
    data_id: str | None = None
    config_id: str | None = None


@dataclass
class VerifyReport:
    checked: int = 0
    damaged: list[Damage] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    # Builds in progress (partial states, see store.partial_state): never bundles, never damage.
    building: list[PartialEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged


@dataclass
class GcReport:
    removed: list[BundleEntry] = field(default_factory=list)
    kept: int = 0
    removed_files: list[str] = field(default_factory=list)
    dry_run: bool = False
