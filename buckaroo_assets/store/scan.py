"""One pass over a store: every manifest and dataset pointer, read once.

``verify`` and ``gc`` decide from the same scan: one LIST per prefix and one
concurrent read of the manifests.  ``list`` reads no manifest it need not
(see :mod:`.listing`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from ..errors import BundleCorrupted
from .entries import BundleEntry, Damage, entry_from_manifest, entry_from_name, is_entry_name
from .layout import MANIFEST, TEMP_MARK, Layout
from .listing import checked_manifest
from .objects import ObjectFiles, modified, utc_now
from .pointers import dataset_pointers, pins

__all__ = ["Scan", "leftovers", "scan"]


@dataclass
class Scan:
    entries: list[BundleEntry] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # under bundles/ and datasets/
    pointers: dict[str, tuple[str, str] | BundleCorrupted] = field(default_factory=dict)
    # The pack a readable manifest names, and its entry object when there is one.
    referenced: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)  # bundle folders with a bad manifest
    # Readable manifests without an entry object of their publication (older versions wrote none).
    unnamed: list[BundleEntry] = field(default_factory=list)


def scan(files: ObjectFiles, layout: Layout) -> Scan:
    """Every manifest and dataset pointer, read once; what verify and gc work from."""
    # Pointers first: put writes them after the manifest, so each one seen here names
    # a manifest the listing below sees (unless it was deleted meanwhile).
    dataset_files = files.find(layout.datasets())
    pointers = dataset_pointers(files, layout, dataset_files)
    pinned = pins(pointers)
    bundle_files = files.find(layout.bundles())
    manifests = sorted(p for p in bundle_files if p.endswith(f"/{MANIFEST}"))
    result = Scan(files={**bundle_files, **dataset_files}, pointers=pointers)
    named = _entry_objects(bundle_files)
    for path, data in files.cat_many(manifests).items():
        folder = path.rsplit("/", 1)[0]
        data_id, config_id = folder.rsplit("/", 2)[-2:]
        try:
            manifest = checked_manifest(path, data)
        except Exception as exc:  # one bad manifest must not hide the rest
            result.unreadable.add(folder)
            result.damaged.append(Damage(path, str(exc), data_id, config_id))
            continue
        pinned_by = pinned.get((data_id, config_id), ())
        entry = entry_from_manifest(manifest, len(data), pinned_by)  # type: ignore[arg-type]
        result.referenced.add(f"{folder}/{manifest['pack']['name']}")
        # The entry of this manifest's publication (its dataset and creation time) stays
        # even when it disagrees with the manifest otherwise: damage, which verify reports.
        # Any other was listed before this manifest was read, so its own manifest was
        # overwritten since: it is a leftover.
        publication = (entry.dataset, entry.created_at)
        written = [p for p, made in named.get(folder, {}).items() if made == publication]
        result.referenced.update(written)
        if not written:
            result.unnamed.append(entry)
        result.entries.append(entry)
    result.entries.sort(key=lambda e: (e.created_at, e.data_id, e.config_id))
    return result


def _entry_objects(
    listing: dict[str, Any],
) -> dict[str, dict[str, tuple[str | None, _dt.datetime]]]:
    """The entry objects in a listing of bundle folders: folder -> path -> (dataset, created_at)."""
    found: dict[str, dict[str, tuple[str | None, _dt.datetime]]] = {}
    for path in listing:
        folder, name = path.rsplit("/", 1)
        data_id, config_id = folder.rsplit("/", 2)[-2:]
        if (entry := entry_from_name(name, data_id, config_id)) is not None:
            found.setdefault(folder, {})[path] = (entry.dataset, entry.created_at)
    return found


def leftovers(result: Scan, grace: _dt.timedelta) -> list[str]:
    """Packs and entry objects no manifest accounts for, and interrupted temporary files,
    older than ``grace``.

    Entry objects of a deleted bundle, or of another publication of its key than
    its manifest's, go; packs and entry objects beside a manifest that cannot be
    read (damaged, or of a newer format) are kept: they are evidence, or another
    version's data.
    """
    cutoff = utc_now() - grace
    found = []
    for path, info in result.files.items():
        folder, name = path.rsplit("/", 1)
        if (name.startswith("pack-") and TEMP_MARK not in name) or is_entry_name(name):
            if path in result.referenced or folder in result.unreadable:
                continue
        elif TEMP_MARK not in name:
            continue
        changed = modified(info)
        if changed is not None and changed < cutoff:
            found.append(path)
    return sorted(found)
