"""Bundles on any fsspec filesystem, published atomically and verified when read.

``put`` writes the pack, then the manifest, then the entry object a listing
reads instead of the manifest, then the pointers, so a reader that finds a
manifest finds a complete bundle and neither a pointer nor a listing shows an
unpublished one (the layout is in :mod:`.layout`).  Two writers of one key
write the same content, so either manifest is a valid answer.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import os
import uuid
from typing import Any

import fsspec

from ..bundle import codec
from ..bundle.ids import validate_config_id, validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted, BundleNotFound
from .entries import BundleEntry, entry_from_manifest
from .file_hashes import FileHashMemo
from .layout import MANIFEST, Layout, pointer_label
from .listing import list_bundles, settle_entries, write_entry
from .maintenance import StoreMaintenance
from .objects import OBJECT_STORES, ObjectFiles, unavailable_as_store_error, utc_now
from .packing import pack_bundle, read_manifest, unpack_bundle
from .partial_state import (
    PARTIAL_MARKER,
    PARTIAL_WINDOW,
    PartialEntry,
    entry_from_marker,
    partial_bundle,
    partial_markers,
    partial_objects,
    read_marker,
)
from .pointers import dataset_pointers, pointer_bytes, read_pointer, read_pointers

__all__ = ["BundleStore", "options_digest"]

_PACK_RETRIES = 3


def options_digest(options: dict[str, Any] | None) -> str | None:
    """A digest of storage options, or None when they hold live objects (a session, a client)."""
    try:
        return hashlib.blake2b(codec.dumps(options or {}), digest_size=16).hexdigest()
    except (TypeError, ValueError):
        return None


class BundleStore(StoreMaintenance):
    """Bundles keyed by ``(data_id, config_id)`` under one fsspec URL.

    ``storage_options`` go to fsspec (for S3: ``key``, ``secret``,
    ``client_kwargs={"endpoint_url": ...}``, ...); with none given, s3fs uses
    the standard AWS environment and credential chain.  They are never logged
    or shown in ``repr``.
    """

    def __init__(self, url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None):
        url = os.fspath(url)
        options = dict(storage_options or {})
        protocol = fsspec.utils.get_protocol(url)
        if protocol in OBJECT_STORES - {"memory"}:
            # Listings must see other processes' writes; reads by key never list.
            options.setdefault("use_listings_cache", False)
        if protocol in {"s3", "s3a"}:
            # Bundles are small: one GET each, without s3fs's size-probing HEAD.
            options.setdefault("max_concurrency", 1)
        self.fs, root = fsspec.url_to_fs(url, **options)
        self.root = root.rstrip("/") or "/"
        self.url = self.fs.unstrip_protocol(self.root)
        # Same URL with other endpoints or credentials is another store (and another cache).
        self.identity = (self.url, options_digest(storage_options) or uuid.uuid4().hex)
        self.files = ObjectFiles(self.fs)
        self.layout = Layout.under(self.root)

    def __repr__(self) -> str:
        return f"BundleStore({self.url!r})"

    def manifest_url(self, data_id: str, config_id: str) -> str:
        """Where a bundle's manifest lives; the URL Dagster metadata links to."""
        path = self.layout.manifest(validate_data_id(data_id), validate_config_id(config_id))
        return self.fs.unstrip_protocol(path)

    @property
    def file_hashes(self) -> FileHashMemo:
        """Content hashes of local source files, kept here so every producer reuses them."""
        return FileHashMemo(self.files.read_if_any, self.files.write, self.layout.file_hashes())

    # ------------------------------------------------------------------ writing

    def put(self, bundle: Bundle, *, dataset: str | None = None) -> BundleEntry:
        """Publish a bundle: pack, then manifest (the commit point), then entry, then pointers.

        The pack is written even when an object of its name exists: a damaged
        copy is repaired, and its fresh modification time keeps a concurrent
        ``gc`` from taking it for a leftover before the manifest names it.
        The entry object, empty, is named after what ``list()`` shows, so
        listings read no manifest (see :mod:`.listing`); last, one LIST of the
        bundle's folder and one read of its manifest leave only the entry of
        the manifest there now (the key put again, or by a concurrent writer).
        """
        validate_data_id(bundle.data_id)
        config_id = validate_config_id(bundle.config_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        packed = pack_bundle(bundle, dataset=dataset)
        folder = self.layout.bundle_dir(bundle.data_id, config_id)
        self.files.write(f"{folder}/{packed.pack_name}", packed.pack)
        self.files.write(f"{folder}/{MANIFEST}", packed.manifest)
        manifest = read_manifest(packed.manifest, where=folder)
        entry = entry_from_manifest(manifest, len(packed.manifest))
        write_entry(self.files, self.layout, entry)
        pinned = self._move_pointers(bundle.data_id, config_id, manifest["created_at"], dataset)
        settle_entries(self.files, self.layout, bundle.data_id, config_id)
        return dataclasses.replace(entry, pinned_by=pinned)

    def point(self, data_id: str, config_id: str, *, dataset: str | None = None) -> BundleEntry:
        """Move pointers to an already published bundle without rewriting it.

        This is what a producer does on a hit: the data_id's and (given a
        name) the dataset's pointers name the bundle, whose manifest must exist.
        A pointer that already names it is read, not rewritten: a prewarm of
        unchanged datasets writes nothing.
        """
        validate_data_id(data_id)
        validate_config_id(config_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        folder = self.layout.bundle_dir(data_id, config_id)
        missing = f"no bundle ({data_id}, {config_id}) in {self.url}"
        raw = self.files.cat(f"{folder}/{MANIFEST}", missing)
        manifest = read_manifest(raw, where=folder)
        published_at = utc_now().isoformat(timespec="milliseconds")
        pinned = self._move_pointers(data_id, config_id, published_at, dataset, unless_right=True)
        return entry_from_manifest(manifest, len(raw), pinned)

    def _move_pointers(
        self,
        data_id: str,
        config_id: str,
        published_at: str,
        dataset: str | None,
        *,
        unless_right: bool = False,
    ) -> tuple[str, ...]:
        """Point the data_id (and the dataset, both latest and per-config) at a bundle.

        With ``unless_right``, a pointer that already names the bundle is left
        as it is (one read instead of one write; on object stores writes cost more).
        """
        paths = [self.layout.id_pointer(data_id)]
        if dataset is not None:
            paths += [
                self.layout.dataset_pointer(dataset, config_id),
                self.layout.dataset_pointer(dataset, None),
            ]
        right = self._naming(paths, (data_id, config_id)) if unless_right else set()
        for path in paths:
            if path not in right:
                owner = None if path == paths[0] else dataset
                self.files.write(path, pointer_bytes(data_id, config_id, published_at, owner))
        if dataset is None:
            return ()
        return (f"{dataset}@{config_id}", dataset)  # the order list() reports them in

    def _naming(self, paths: list[str], key: tuple[str, str]) -> set[str]:
        """Those of ``paths`` holding a valid pointer to ``key`` (a damaged one does not)."""
        found = read_pointers(self.files, self.layout, paths)
        return {path for path, named in found.items() if named == key}

    # ------------------------------------------------------------------ reading

    def resolve(
        self,
        data_id: str | None = None,
        config_id: str | None = None,
        *,
        dataset: str | None = None,
    ) -> tuple[str, str]:
        """The ``(data_id, config_id)`` a request names, reading one pointer if it must."""
        if (data_id is None) == (dataset is None):
            raise ValueError("give exactly one of data_id and dataset")
        if config_id is not None:
            validate_config_id(config_id)
        if data_id is not None:
            validate_data_id(data_id)
            if config_id is not None:
                return data_id, config_id
            path = self.layout.id_pointer(data_id)
            missing = f"no bundle for data_id {data_id!r} in {self.url}"
        else:
            validate_data_id(dataset, what="dataset name")
            path = self.layout.dataset_pointer(dataset, config_id)  # type: ignore[arg-type]
            where = "" if config_id is None else f" with config_id {config_id}"
            missing = f"no bundle for dataset {dataset!r}{where} in {self.url}"
        return read_pointer(self.files, self.layout, path, missing)

    def fetch(self, data_id: str, config_id: str) -> tuple[dict[str, Any], bytes]:
        """Manifest and pack of one bundle: two GETs, no LIST, no HEAD."""
        folder = self.layout.bundle_dir(validate_data_id(data_id), validate_config_id(config_id))
        missing = f"no bundle ({data_id}, {config_id}) in {self.url}"
        for _ in range(_PACK_RETRIES):
            manifest = read_manifest(self.files.cat(f"{folder}/{MANIFEST}", missing), where=folder)
            if manifest["data_id"] != data_id or manifest["config_id"] != config_id:
                raise BundleCorrupted(f"{folder}: manifest names another bundle")
            pack = f"{folder}/{manifest['pack']['name']}"
            try:
                with unavailable_as_store_error("read", pack):
                    return manifest, self.fs.cat_file(pack)
            except FileNotFoundError:
                continue  # republished meanwhile and the old pack collected: read the new one
        raise BundleCorrupted(f"{folder}: the manifest's pack is missing")

    def get(
        self,
        data_id: str | None = None,
        config_id: str | None = None,
        *,
        dataset: str | None = None,
    ) -> Bundle:
        """A verified bundle, or ``BundleNotFound`` / ``BundleCorrupted``."""
        data_id, config_id = self.resolve(data_id, config_id, dataset=dataset)
        manifest, pack = self.fetch(data_id, config_id)
        return unpack_bundle(manifest, pack, where=self.layout.bundle_dir(data_id, config_id))

    def exists(self, data_id: str, config_id: str) -> bool:
        """Whether a bundle is published (its manifest exists); does not verify it."""
        path = self.layout.manifest(validate_data_id(data_id), validate_config_id(config_id))
        with unavailable_as_store_error("look for", path):
            return self.fs.exists(path)

    # ------------------------------------------------------------------ listing

    def datasets(self) -> dict[str, tuple[str, str]]:
        """Every readable dataset pointer (``latest`` and per-config) and the bundle it names.

        Labels are ``<dataset>`` for the latest pointer and ``<dataset>@<config_id>``
        for a per-config one; damaged pointers are left to ``verify``.
        """
        return {
            pointer_label(path): key
            for path, key in dataset_pointers(self.files, self.layout).items()
            if not isinstance(key, BundleCorrupted)
        }

    def list(self, dataset: str | None = None) -> builtins.list[BundleEntry]:
        """Every published bundle (of one dataset), oldest first.

        Reads no manifest of a bundle ``put`` wrote an entry object for, so
        its cost on an object store is a few LISTs and a GET per dataset
        pointer, not a GET per bundle; ``verify`` reads and checks every
        manifest.  With ``dataset``, only its pointers are read and
        ``pinned_by`` leaves out other datasets' pointers.
        """
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        return list_bundles(self.files, self.layout, dataset)

    # ------------------------------------------------------------------ builds in progress

    def put_partial(self, bundle: Bundle, *, build: str, dataset: str | None = None) -> PartialEntry:
        """Publish the first window of a build in progress (window, then marker).

        ``bundle`` is a partial bundle (``partial=True``: stats hold labels and
        types only); ``build`` identifies the build, so a failed one removes
        its own partial state and no other.  Nothing that reads bundles sees
        it: see :mod:`.partial_state`.
        """
        if not bundle.partial:
            raise ValueError("put_partial takes a partial bundle; publish a complete one with put")
        validate_data_id(bundle.data_id)
        validate_config_id(bundle.config_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        marker, window = partial_objects(bundle, dataset=dataset, build=build, started_at=utc_now())
        folder = self.layout.building(bundle.data_id, bundle.config_id)
        self.files.write(f"{folder}/{PARTIAL_WINDOW}", window)
        self.files.write(f"{folder}/{PARTIAL_MARKER}", marker)
        return entry_from_marker(read_marker(marker, where=folder))

    def get_partial(self, data_id: str, config_id: str) -> Bundle:
        """The verified first window of a build in progress, as a bundle with ``partial=True``.

        ``BundleNotFound`` when no build of this key is in progress, or when
        its partial state is stale (see ``STALE_AFTER``); ``BundleCorrupted``
        when the marker and window disagree.
        """
        folder = self.layout.building(validate_data_id(data_id), validate_config_id(config_id))
        missing = f"no build of ({data_id}, {config_id}) in progress in {self.url}"
        marker = read_marker(self.files.cat(f"{folder}/{PARTIAL_MARKER}", missing), where=folder)
        entry = entry_from_marker(marker)
        if (entry.data_id, entry.config_id) != (data_id, config_id):
            raise BundleCorrupted(f"{folder}: partial-state marker names another bundle")
        if entry.stale:
            raise BundleNotFound(
                f"the build of ({data_id}, {config_id}) in {self.url} started at "
                f"{entry.started_at.isoformat()} and never finished: its partial state is stale"
            )
        window = self.files.cat(f"{folder}/{PARTIAL_WINDOW}", missing)
        return partial_bundle(marker, window, where=folder)

    def in_progress(
        self, data_id: str | None = None, *, dataset: str | None = None
    ) -> builtins.list[PartialEntry]:
        """Builds with a partial state (of one data_id, or one dataset), newest first.

        Stale ones are included (``entry.stale``); unreadable markers are left to ``gc``.
        """
        if data_id is not None:
            validate_data_id(data_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        found = partial_markers(self.files, self.files.find(self.layout.building(data_id)))
        entries = [e for e in found.values() if e is not None]
        if dataset is not None:
            entries = [e for e in entries if e.dataset == dataset]
        return sorted(entries, key=lambda e: e.started_at, reverse=True)

    def remove_partial(self, data_id: str, config_id: str, *, build: str | None = None) -> bool:
        """Remove a partial state (marker first); with ``build``, only that build's own.

        Returns whether a marker was removed.  A window without a marker (its
        build stopped between the two writes) is removed whatever ``build`` says.
        """
        folder = self.layout.building(validate_data_id(data_id), validate_config_id(config_id))
        marker = f"{folder}/{PARTIAL_MARKER}"
        raw = self.files.read_if_any(marker)
        if build is not None and raw is not None:
            try:
                if read_marker(raw, where=folder)["build"] != build:
                    return False  # another build's, in progress
            except BundleCorrupted:
                return False  # left for gc
        self.files.remove(marker)  # no longer served from here on
        self.files.remove(f"{folder}/{PARTIAL_WINDOW}")
        if not self.files.atomic:
            for empty in (folder, self.layout.building(data_id)):
                with contextlib.suppress(OSError):
                    self.fs.rmdir(empty)
        return raw is not None
