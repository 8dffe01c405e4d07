"""Listing a store from object names: LISTs and the pointers, no GET per bundle.

``put`` writes an empty *entry object* beside each manifest, right after it,
whose name carries what a listing shows (see :func:`.entries.entry_name`).
A listing is then one LIST of the dataset pointers (and a GET of each: a few
per dataset), then one LIST of ``v1/bundles`` (1,000 keys a request on S3).
Only a bundle without a current entry object has its manifest read: one
published by an older version of this library, or whose ``put`` stopped
between the manifest and the entry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..bundle.ids import validate_config_id, validate_data_id
from ..errors import BundleCorrupted
from .entries import BundleEntry, entry_from_manifest, entry_from_name, entry_name
from .layout import MANIFEST, Layout
from .objects import ObjectFiles, modified
from .packing import read_manifest
from .pointers import dataset_pointers, pins

__all__ = [
    "checked_manifest",
    "list_bundles",
    "listed_bundles",
    "settle_entries",
    "write_entry",
]

Key = tuple[str, str]


def list_bundles(
    files: ObjectFiles, layout: Layout, dataset: str | None = None
) -> list[BundleEntry]:
    """Every published bundle (of one dataset), oldest first, with the pointers naming it.

    With ``dataset``, only that dataset's pointers are read, so ``pinned_by``
    leaves out another dataset's pointer naming the same bundle.
    """
    # Pointers first: put writes them after the manifest, so each one seen here
    # names a bundle the listing below sees (unless it was deleted meanwhile).
    pinned = pins(dataset_pointers(files, layout, files.find(layout.datasets(dataset))))
    found = [
        dataclasses.replace(entry, pinned_by=pinned.get((entry.data_id, entry.config_id), ()))
        for entry in listed_bundles(files, layout, files.find(layout.bundles()))
        if dataset is None or entry.dataset == dataset
    ]
    return sorted(found, key=lambda e: (e.created_at, e.data_id, e.config_id))


def listed_bundles(
    files: ObjectFiles, layout: Layout, listing: dict[str, dict[str, Any]]
) -> list[BundleEntry]:
    """The committed bundles in a listing of ``v1/bundles`` (or of one data_id's part of it).

    A bundle is committed when its manifest is listed: an entry object without
    one (a delete that stopped halfway) is never shown.  An entry object older
    than the manifest describes an earlier publication of the key and is not
    used.  Manifests read for want of an entry that fail their checks are left
    to ``verify``.  No pointers: ``pinned_by`` is empty.
    """
    manifests: dict[Key, dict[str, Any]] = {}
    named: dict[Key, list[tuple[BundleEntry, str, dict[str, Any]]]] = {}
    for path, info in listing.items():
        # From the end: some filesystems (zip://) list paths in another form than the root's.
        parts = path.rsplit("/", 4)[-4:]
        if len(parts) != 4 or parts[0] != "bundles":
            continue  # a data_id's pointer, or no object of a bundle
        data_id, config_id, name = parts[1:]
        if name == MANIFEST:
            manifests[(data_id, config_id)] = info
        elif (entry := entry_from_name(name, data_id, config_id)) is not None:
            named.setdefault((data_id, config_id), []).append((entry, path, info))
    found: list[BundleEntry] = []
    unnamed: list[str] = []
    for key, manifest_info in manifests.items():
        try:
            validate_data_id(key[0])
            validate_config_id(key[1])
        except ValueError:
            continue  # not a folder this library wrote
        current = [
            (entry, path)
            for entry, path, info in named.get(key, [])
            if _not_older(info, manifest_info)
        ]
        if current:
            found.append(_newest(current)[0])
        else:
            unnamed.append(f"{layout.bundle_dir(*key)}/{MANIFEST}")
    for path, data in files.cat_many(unnamed).items():
        try:
            manifest = checked_manifest(path, data)
        except Exception:  # one bad manifest must not hide the rest
            continue
        found.append(entry_from_manifest(manifest, len(data)))  # type: ignore[arg-type]
    return found


def write_entry(files: ObjectFiles, layout: Layout, entry: BundleEntry) -> None:
    """Write a bundle's entry object; only once its manifest is written (it says: committed)."""
    files.write(f"{layout.bundle_dir(entry.data_id, entry.config_id)}/{entry_name(entry)}", b"")


def settle_entries(files: ObjectFiles, layout: Layout, data_id: str, config_id: str) -> None:
    """Leave one entry object in a bundle's folder: the one of the manifest there now.

    One LIST of the folder and one GET of the manifest.  Every writer does this
    after its pointers, so a key put again, or by writers racing, ends with the
    entry of the manifest that won, whichever entries were written meanwhile.
    A writer still racing may leave another; listings then read the manifest,
    and ``gc`` replaces that entry with the manifest's own.
    """
    folder = layout.bundle_dir(data_id, config_id)
    raw = files.read_if_any(f"{folder}/{MANIFEST}")
    if raw is None:  # deleted meanwhile: nothing to settle
        return
    manifest = checked_manifest(f"{folder}/{MANIFEST}", raw)
    current = f"{folder}/{entry_name(entry_from_manifest(manifest, len(raw)))}"
    written = [
        path
        for path in files.find(folder)
        if entry_from_name(path.rsplit("/", 1)[-1], data_id, config_id) is not None
    ]
    if current not in written:
        files.write(current, b"")
    for path in written:
        if path != current:
            files.remove(path)


def checked_manifest(path: str, data: bytes | BaseException) -> dict[str, Any]:
    """The manifest read from ``path``, verified, and naming the bundle of its folder."""
    if isinstance(data, BaseException):
        raise data
    manifest = read_manifest(data, where=path)
    data_id, config_id = path.rsplit("/", 3)[-3:-1]
    if (manifest["data_id"], manifest["config_id"]) != (data_id, config_id):
        raise BundleCorrupted(f"{path}: manifest names another bundle")
    return manifest


def _newest(written: list[tuple[BundleEntry, str]]) -> tuple[BundleEntry, str]:
    """The newest of a key's entry objects; the name breaks a tie, so every writer agrees."""
    return max(written, key=lambda found: (found[0].created_at, found[1].rsplit("/", 1)[-1]))


def _not_older(entry: dict[str, Any], manifest: dict[str, Any]) -> bool:
    """Whether an entry object was written no earlier than the manifest (unknown: trusted)."""
    entry_time, manifest_time = modified(entry), modified(manifest)
    return entry_time is None or manifest_time is None or entry_time >= manifest_time
