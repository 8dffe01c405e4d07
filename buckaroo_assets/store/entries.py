"""What listing, verifying and collecting a store report: plain values, cheap to print."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from .partial_state import PartialEntry

__all__ = ["BundleEntry", "Damage", "GcReport", "VerifyReport", "entry_from_manifest"]


@dataclass(frozen=True)
class BundleEntry:
    """What ``list()`` knows about one published bundle, from its manifest alone."""

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
