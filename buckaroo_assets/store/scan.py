"""One pass over a store: every manifest and dataset pointer, read once.

``list``, ``verify`` and ``gc`` all decide from the same scan, so a listing
costs one LIST per prefix and one concurrent read of the manifests.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from ..errors import BundleCorrupted
from .entries import BundleEntry, Damage, entry_from_manifest
from .layout import MANIFEST, TEMP_MARK, Layout, pointer_label
from .objects import ObjectFiles, modified, utc_now
from .packing import read_manifest
from .pointers import dataset_pointers

__all__ = ["Scan", "leftovers", "scan"]


@dataclass
class Scan:
    entries: list[BundleEntry] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # under bundles/ and datasets/
    pointers: dict[str, tuple[str, str] | BundleCorrupted] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)  # packs a readable manifest names
    unreadable: set[str] = field(default_factory=set)  # bundle folders with a bad manifest


def scan(files: ObjectFiles, layout: Layout) -> Scan:
    """Every manifest and dataset pointer, read once; what list, verify and gc work from."""
    # Pointers first: put writes them after the manifest, so each one seen here names
    # a manifest the listing below sees (unless it was deleted meanwhile).
    dataset_files = files.find(f"{layout.base}/datasets")
    pointers = dataset_pointers(files, layout, dataset_files)
    pins: dict[tuple[str, str], list[str]] = {}
    for path, key in pointers.items():
        if not isinstance(key, BundleCorrupted):
            pins.setdefault(key, []).append(pointer_label(path))
    bundle_files = files.find(f"{layout.base}/bundles")
    manifests = sorted(p for p in bundle_files if p.endswith(f"/{MANIFEST}"))
    result = Scan(files={**bundle_files, **dataset_files}, pointers=pointers)
    for path, data in files.cat_many(manifests).items():
        folder = path.rsplit("/", 1)[0]
        data_id, config_id = folder.rsplit("/", 2)[-2:]
        try:
            if isinstance(data, BaseException):
                raise data
            manifest = read_manifest(data, where=path)
            key = (manifest["data_id"], manifest["config_id"])
            if key != (data_id, config_id):
                raise BundleCorrupted(f"{path}: manifest names another bundle")
        except Exception as exc:  # one bad manifest must not hide the rest
            result.unreadable.add(folder)
            result.damaged.append(Damage(path, str(exc), data_id, config_id))
            continue
        result.referenced.add(f"{folder}/{manifest['pack']['name']}")
        result.entries.append(entry_from_manifest(manifest, len(data), tuple(pins.get(key, ()))))
    result.entries.sort(key=lambda e: (e.created_at, e.data_id, e.config_id))
    return result


def leftovers(result: Scan, grace: _dt.timedelta) -> list[str]:
    """Packs no manifest names and interrupted temporary files, older than ``grace``.

    Packs beside a manifest that cannot be read (damaged, or of a newer
    format) are kept: they are evidence, or another version's data.
    """
    cutoff = utc_now() - grace
    found = []
    for path, info in result.files.items():
        folder, name = path.rsplit("/", 1)
        unreferenced_pack = (
            name.startswith("pack-")
            and TEMP_MARK not in name
            and path not in result.referenced
            and folder not in result.unreadable
        )
        if not (TEMP_MARK in name or unreferenced_pack):
            continue
        changed = modified(info)
        if changed is not None and changed < cutoff:
            found.append(path)
    return sorted(found)
