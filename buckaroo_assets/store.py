"""Bundles on any fsspec filesystem, published atomically and verified when read.

Layout under the store root (``v1`` is the layout version)::

    v1/bundles/<data_id>/<config_id>/pack-<sha256>.bin   parts, content-addressed
    v1/bundles/<data_id>/<config_id>/manifest.json       the commit point
    v1/bundles/<data_id>/latest.json                     config last published for a data_id
    v1/datasets/<name>/latest.json                       newest bundle of a named dataset
    v1/datasets/<name>/config-<config_id>.json           newest bundle of it under one config
    v1/file-hashes/<digest>.json                         remembered hashes of local sources

``put`` writes the pack, then the manifest, then the pointers, so a reader that
finds a manifest finds a complete bundle and a pointer never names an
unpublished one.  Each object is written whole: one PUT on object stores, a
temporary file renamed into place on local disk.  Two writers of one key write
the same content, so either manifest is a valid answer.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import fsspec

from . import codec
from .bundle import Bundle
from .errors import BundleCorrupted, BundleNotFound, UnsafeDataIdError
from .file_hashes import FileHashMemo
from .identity import validate_data_id
from .packing import pack_bundle, read_manifest, unpack_bundle

__all__ = [
    "BundleEntry",
    "BundleStore",
    "Damage",
    "GcReport",
    "VerifyReport",
    "options_digest",
    "validate_config_id",
]

LAYOUT = "v1"
MANIFEST = "manifest.json"
LATEST = "latest.json"
_CONFIG_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_CONFIG_POINTER = re.compile(r"config-([0-9a-f]{32})\.json", re.ASCII)
_GLOB_CHARS = re.compile(r"[*?\[]")
_TEMP_MARK = ".tmp-"
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az", "memory"})
_PACK_RETRIES = 3
DEFAULT_GRACE = _dt.timedelta(hours=1)


def options_digest(options: dict[str, Any] | None) -> str | None:
    """A digest of storage options, or None when they hold live objects (a session, a client)."""
    try:
        return hashlib.blake2b(codec.dumps(options or {}), digest_size=16).hexdigest()
    except (TypeError, ValueError):
        return None


def validate_config_id(config_id: object) -> str:
    """A config_id is 32 lowercase hex characters; anything else is refused before any I/O."""
    if not isinstance(config_id, str) or not _CONFIG_ID.fullmatch(config_id):
        shown = repr(config_id)[:60]
        raise UnsafeDataIdError(f"config_id must be 32 lowercase hex characters, got {shown}")
    return config_id


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

    @property
    def ok(self) -> bool:
        return not self.damaged


@dataclass
class GcReport:
    removed: list[BundleEntry] = field(default_factory=list)
    kept: int = 0
    removed_files: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class _Scan:
    """One pass over the store: what ``list``, ``verify`` and ``gc`` decide from."""

    entries: list[BundleEntry] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # under bundles/ and datasets/
    pointers: dict[str, tuple[str, str] | BundleCorrupted] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)  # packs a readable manifest names
    unreadable: set[str] = field(default_factory=set)  # bundle folders with a bad manifest


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _modified(info: dict[str, Any]) -> _dt.datetime | None:
    """Last-modified time from an fsspec info dict, whatever the backend calls it."""
    for key in ("LastModified", "mtime", "created", "last_modified"):
        value = info.get(key)
        if isinstance(value, _dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        if isinstance(value, int | float):
            return _dt.datetime.fromtimestamp(value, _dt.UTC)
    return None


class BundleStore:
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
        if protocol in _OBJECT_STORES - {"memory"}:
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
        self._atomic_put = bool(set(_protocols(self.fs)) & _OBJECT_STORES)
        self._base = f"{self.root}/{LAYOUT}"

    def __repr__(self) -> str:
        return f"BundleStore({self.url!r})"

    # ------------------------------------------------------------------ paths

    def _bundle_dir(self, data_id: str, config_id: str) -> str:
        return f"{self._base}/bundles/{data_id}/{config_id}"

    def manifest_url(self, data_id: str, config_id: str) -> str:
        """Where a bundle's manifest lives; the URL Dagster metadata links to."""
        key = self._bundle_dir(validate_data_id(data_id), validate_config_id(config_id))
        return self.fs.unstrip_protocol(f"{key}/{MANIFEST}")

    def _id_pointer(self, data_id: str) -> str:
        return f"{self._base}/bundles/{data_id}/{LATEST}"

    def _dataset_pointer(self, dataset: str, config_id: str | None) -> str:
        name = LATEST if config_id is None else f"config-{config_id}.json"
        return f"{self._base}/datasets/{dataset}/{name}"

    @property
    def file_hashes(self) -> FileHashMemo:
        """Content hashes of local source files, kept here so every producer reuses them."""
        return FileHashMemo(self._read_if_any, self._write, f"{self._base}/file-hashes")

    # ------------------------------------------------------------------ writing

    def _write(self, path: str, data: bytes) -> None:
        """Write one object whole: readers see the old bytes or the new, never a prefix."""
        if self._atomic_put:
            self.fs.pipe_file(path, data)
            return
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{path}{_TEMP_MARK}{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(temp, data)
            self.fs.mv(temp, path)
        except BaseException:
            _quietly(self.fs.rm_file, temp)
            raise

    def put(self, bundle: Bundle, *, dataset: str | None = None) -> BundleEntry:
        """Publish a bundle: pack, then manifest (the commit point), then pointers.

        The pack is written even when an object of its name exists: a damaged
        copy is repaired, and its fresh modification time keeps a concurrent
        ``gc`` from taking it for a leftover before the manifest names it.
        """
        validate_data_id(bundle.data_id)
        config_id = validate_config_id(bundle.config_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        packed = pack_bundle(bundle, dataset=dataset)
        folder = self._bundle_dir(bundle.data_id, config_id)
        self._write(f"{folder}/{packed.pack_name}", packed.pack)
        self._write(f"{folder}/{MANIFEST}", packed.manifest)
        manifest = read_manifest(packed.manifest, where=folder)
        pointer = _pointer_bytes(bundle.data_id, config_id, manifest["created_at"])
        self._write(self._id_pointer(bundle.data_id), pointer)
        pinned: tuple[str, ...] = ()
        if dataset is not None:
            self._write(self._dataset_pointer(dataset, config_id), pointer)
            self._write(self._dataset_pointer(dataset, None), pointer)
            pinned = (f"{dataset}@{config_id}", dataset)  # the order list() reports them in
        return self._entry(manifest, len(packed.manifest), pinned)

    def point(self, data_id: str, config_id: str, *, dataset: str | None = None) -> BundleEntry:
        """Move pointers to an already published bundle without rewriting it.

        This is what a producer does on a hit: the data_id's and (given a
        name) the dataset's pointers name the bundle, whose manifest must exist.
        """
        validate_data_id(data_id)
        validate_config_id(config_id)
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        folder = self._bundle_dir(data_id, config_id)
        raw = self._cat(f"{folder}/{MANIFEST}", f"no bundle ({data_id}, {config_id}) in {self.url}")
        manifest = read_manifest(raw, where=folder)
        pointer = _pointer_bytes(data_id, config_id, _now().isoformat(timespec="milliseconds"))
        self._write(self._id_pointer(data_id), pointer)
        pinned: tuple[str, ...] = ()
        if dataset is not None:
            self._write(self._dataset_pointer(dataset, config_id), pointer)
            self._write(self._dataset_pointer(dataset, None), pointer)
            pinned = (f"{dataset}@{config_id}", dataset)
        return self._entry(manifest, len(raw), pinned)

    # ------------------------------------------------------------------ reading

    def _cat(self, path: str, missing: str) -> bytes:
        try:
            return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):
            raise BundleNotFound(missing) from None

    def _read_if_any(self, path: str) -> bytes | None:
        try:
            return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def _cat_many(self, paths: Iterable[str]) -> dict[str, bytes | BaseException]:
        """Contents of many objects (concurrently where fsspec can); vanished ones are left out."""
        paths = list(paths)
        if not paths:
            return {}
        if any(_GLOB_CHARS.search(p) for p in paths):
            # fsspec expands a list of paths as globs: read a root like "data[1]" one by one.
            raw: dict[str, Any] = {}
            for path in paths:
                try:
                    raw[path] = self.fs.cat_file(path)
                except Exception as exc:
                    raw[path] = exc
        else:
            raw = self.fs.cat(paths, on_error="return")
        found: dict[str, bytes | BaseException] = {}
        for path in paths:
            data = raw.get(path, OSError(f"{path}: not returned when read"))
            if not isinstance(data, FileNotFoundError):
                found[path] = data
        return found

    def _pointer_scope(self, path: str) -> tuple[str | None, str | None] | None:
        """What the pointer at ``path`` may name, as (data_id, config_id) constraints.

        ``None`` when ``path`` is not a pointer at all (a temporary file, a stray object).
        """
        if not path.startswith(f"{self._base}/"):
            return None
        parts = path[len(self._base) + 1 :].split("/")
        if len(parts) != 3:
            return None
        kind, owner, name = parts
        if kind == "bundles" and name == LATEST:
            return owner, None
        if kind == "datasets":
            if name == LATEST:
                return None, None
            if match := _CONFIG_POINTER.fullmatch(name):
                return None, match.group(1)
        return None

    def _is_id_pointer(self, path: str) -> bool:
        scope = self._pointer_scope(path)
        return scope is not None and scope[0] is not None

    def _parse_pointer(self, raw: bytes, path: str) -> tuple[str, str]:
        """The ``(data_id, config_id)`` a pointer names; one that cannot be right is damaged."""
        try:
            pointer = codec.loads(raw)
            if not isinstance(pointer, dict):
                raise TypeError("not an object")
            key = (validate_data_id(pointer["data_id"]), validate_config_id(pointer["config_id"]))
        except (ValueError, TypeError, KeyError, RecursionError):
            raise BundleCorrupted(f"{path}: pointer is damaged") from None
        want_data_id, want_config_id = self._pointer_scope(path) or (None, None)
        if want_data_id not in (None, key[0]) or want_config_id not in (None, key[1]):
            raise BundleCorrupted(f"{path}: pointer names another bundle ({key[0]}, {key[1]})")
        return key

    def _read_pointer(self, path: str, missing: str) -> tuple[str, str]:
        return self._parse_pointer(self._cat(path, missing), path)

    def _read_pointers(
        self, paths: Iterable[str]
    ) -> dict[str, tuple[str, str] | BundleCorrupted]:
        """Every pointer among ``paths``, each as the key it names or the damage found."""
        found: dict[str, tuple[str, str] | BundleCorrupted] = {}
        for path, data in self._cat_many(paths).items():
            if isinstance(data, BaseException):
                found[path] = BundleCorrupted(f"{path}: pointer cannot be read: {data}")
                continue
            try:
                found[path] = self._parse_pointer(data, path)
            except BundleCorrupted as exc:
                found[path] = exc
        return found

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
            return self._read_pointer(
                self._id_pointer(data_id), f"no bundle for data_id {data_id!r} in {self.url}"
            )
        validate_data_id(dataset, what="dataset name")
        where = "" if config_id is None else f" with config_id {config_id}"
        return self._read_pointer(
            self._dataset_pointer(dataset, config_id),  # type: ignore[arg-type]
            f"no bundle for dataset {dataset!r}{where} in {self.url}",
        )

    def fetch(self, data_id: str, config_id: str) -> tuple[dict[str, Any], bytes]:
        """Manifest and pack of one bundle: two GETs, no LIST, no HEAD."""
        folder = self._bundle_dir(validate_data_id(data_id), validate_config_id(config_id))
        missing = f"no bundle ({data_id}, {config_id}) in {self.url}"
        for _ in range(_PACK_RETRIES):
            manifest = read_manifest(self._cat(f"{folder}/{MANIFEST}", missing), where=folder)
            if manifest["data_id"] != data_id or manifest["config_id"] != config_id:
                raise BundleCorrupted(f"{folder}: manifest names another bundle")
            try:
                return manifest, self.fs.cat_file(f"{folder}/{manifest['pack']['name']}")
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
        return unpack_bundle(manifest, pack, where=self._bundle_dir(data_id, config_id))

    def exists(self, data_id: str, config_id: str) -> bool:
        """Whether a bundle is published (its manifest exists); does not verify it."""
        path = self._bundle_dir(validate_data_id(data_id), validate_config_id(config_id))
        return self.fs.exists(f"{path}/{MANIFEST}")

    # ------------------------------------------------------------------ listing

    def _find(self, prefix: str) -> dict[str, dict[str, Any]]:
        self.fs.invalidate_cache()
        try:
            return self.fs.find(f"{self._base}/{prefix}", detail=True)
        except FileNotFoundError:
            return {}

    def _dataset_pointers(
        self, files: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, tuple[str, str] | BundleCorrupted]:
        if files is None:
            files = self._find("datasets")
        return self._read_pointers(sorted(p for p in files if self._pointer_scope(p)))

    def datasets(self) -> dict[str, tuple[str, str]]:
        """Every readable dataset pointer (``latest`` and per-config) and the bundle it names.

        Labels are ``<dataset>`` for the latest pointer and ``<dataset>@<config_id>``
        for a per-config one; damaged pointers are left to ``verify``.
        """
        return {
            _pointer_label(path): key
            for path, key in self._dataset_pointers().items()
            if not isinstance(key, BundleCorrupted)
        }

    def _entry(
        self, manifest: dict[str, Any], manifest_bytes: int, pinned: tuple[str, ...] = ()
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

    def _scan(self) -> _Scan:
        """Every manifest and dataset pointer, read once; what list, verify and gc work from."""
        # Pointers first: put writes them after the manifest, so each one seen here names
        # a manifest the listing below sees (unless it was deleted meanwhile).
        dataset_files = self._find("datasets")
        pointers = self._dataset_pointers(dataset_files)
        pins: dict[tuple[str, str], list[str]] = {}
        for path, key in pointers.items():
            if not isinstance(key, BundleCorrupted):
                pins.setdefault(key, []).append(_pointer_label(path))
        files = self._find("bundles")
        manifests = sorted(p for p in files if p.endswith(f"/{MANIFEST}"))
        scan = _Scan(files={**files, **dataset_files}, pointers=pointers)
        for path, data in self._cat_many(manifests).items():
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
                scan.unreadable.add(folder)
                scan.damaged.append(Damage(path, str(exc), data_id, config_id))
                continue
            scan.referenced.add(f"{folder}/{manifest['pack']['name']}")
            scan.entries.append(self._entry(manifest, len(data), tuple(pins.get(key, ()))))
        scan.entries.sort(key=lambda e: (e.created_at, e.data_id, e.config_id))
        return scan

    def list(self) -> list[BundleEntry]:
        """Every published bundle, oldest first; damaged manifests are left to ``verify``."""
        return self._scan().entries

    # ------------------------------------------------------------------ maintenance

    def verify(self, grace: _dt.timedelta = DEFAULT_GRACE) -> VerifyReport:
        """Re-read and re-check every bundle and pointer; report damage and leftover files.

        Damage: a manifest or pack that fails verification, a pointer that
        cannot be read or names a bundle that is not published.  Leftovers
        (packs no manifest names, temporary files) younger than ``grace`` may
        belong to a write in progress and are not reported.
        """
        scan = self._scan()
        report = VerifyReport(checked=len(scan.entries) + len(scan.damaged))
        report.damaged.extend(scan.damaged)
        for entry in scan.entries:
            try:
                self.get(entry.data_id, entry.config_id)
            except BundleNotFound:
                report.checked -= 1  # deleted while we verified
            except Exception as exc:
                path = self._bundle_dir(entry.data_id, entry.config_id)
                report.damaged.append(Damage(path, str(exc), entry.data_id, entry.config_id))
        published = {(e.data_id, e.config_id) for e in scan.entries}
        published |= {(d.data_id, d.config_id) for d in scan.damaged}
        id_pointers = self._read_pointers(
            sorted(p for p in scan.files if self._is_id_pointer(p))
        )
        for path, key in sorted({**scan.pointers, **id_pointers}.items()):
            if isinstance(key, BundleCorrupted):
                report.damaged.append(Damage(path, str(key)))
            elif key not in published and not self.exists(*key):  # exists: published since
                report.damaged.append(
                    Damage(path, "pointer names a bundle that is not published", *key)
                )
        report.orphans = self._leftovers(scan, grace)
        return report

    def _leftovers(self, scan: _Scan, grace: _dt.timedelta) -> list[str]:
        """Packs no manifest names and interrupted temporary files, older than ``grace``.

        Packs beside a manifest that cannot be read (damaged, or of a newer
        format) are kept: they are evidence, or another version's data.
        """
        cutoff = _now() - grace
        leftovers = []
        for path, info in scan.files.items():
            folder, name = path.rsplit("/", 1)
            unreferenced_pack = (
                name.startswith("pack-")
                and _TEMP_MARK not in name
                and path not in scan.referenced
                and folder not in scan.unreadable
            )
            if not (_TEMP_MARK in name or unreferenced_pack):
                continue
            modified = _modified(info)
            if modified is not None and modified < cutoff:
                leftovers.append(path)
        return sorted(leftovers)

    def delete(self, data_id: str, config_id: str, *, force: bool = False) -> bool:
        """Unpublish a bundle (manifest first) and remove its files.

        A bundle a dataset pointer names is refused unless ``force``, which
        removes those pointers too.  Returns whether a bundle was published.
        """
        validate_data_id(data_id)
        validate_config_id(config_id)
        pointers = [
            path for path, key in self._dataset_pointers().items() if key == (data_id, config_id)
        ]
        if pointers and not force:
            raise ValueError(
                f"bundle ({data_id}, {config_id}) is named by dataset pointer(s) "
                f"{', '.join(sorted(_pointer_label(p) for p in pointers))}; "
                "pass force=True to delete it anyway"
            )
        for path in pointers:
            _quietly(self.fs.rm_file, path)
        return self._remove_bundle(data_id, config_id)

    def _remove_bundle(self, data_id: str, config_id: str) -> bool:
        folder = self._bundle_dir(data_id, config_id)
        manifest = f"{folder}/{MANIFEST}"
        existed = self.fs.exists(manifest)
        _quietly(self.fs.rm_file, manifest)  # unpublished from here on
        # File by file: fsspec's recursive rm would treat glob characters in the root as globs.
        for path in self._find(f"bundles/{data_id}/{config_id}"):
            _quietly(self.fs.rm_file, path)
        if not self._atomic_put:
            with contextlib.suppress(OSError):
                self.fs.rmdir(folder)
        self._repoint_data_id(data_id, config_id)
        return existed

    def _repoint_data_id(self, data_id: str, removed_config_id: str) -> None:
        """After removing the config a data_id's pointer names, name its newest remaining one."""
        latest = self._id_pointer(data_id)
        try:
            if self._read_pointer(latest, latest)[1] != removed_config_id:
                return
        except (BundleNotFound, BundleCorrupted):
            return  # nothing to repoint, or damage that verify reports
        newest: tuple[_dt.datetime, dict[str, Any]] | None = None
        manifests = [p for p in self._find(f"bundles/{data_id}") if p.endswith(f"/{MANIFEST}")]
        for path, data in self._cat_many(manifests).items():
            try:
                manifest = read_manifest(data, where=path)  # type: ignore[arg-type]
            except Exception:
                continue
            if manifest["data_id"] != data_id or manifest["config_id"] == removed_config_id:
                continue
            created = _dt.datetime.fromisoformat(manifest["created_at"])
            if newest is None or created > newest[0]:
                newest = (created, manifest)
        if newest is None:
            _quietly(self.fs.rm_file, latest)
        else:
            manifest = newest[1]
            self._write(
                latest, _pointer_bytes(data_id, manifest["config_id"], manifest["created_at"])
            )

    def gc(
        self,
        *,
        keep_latest: int | None = None,
        older_than: _dt.timedelta | None = None,
        grace: _dt.timedelta = DEFAULT_GRACE,
        dry_run: bool = False,
    ) -> GcReport:
        """Remove old bundles and leftovers; never what a dataset pointer names.

        ``keep_latest=N`` keeps the N newest bundles of each dataset;
        ``older_than`` removes only bundles created before ``now - older_than``
        (with ``keep_latest`` both must hold; alone, it applies to every bundle).
        Packs no manifest names and temporary files are removed once older
        than ``grace`` (a write in progress is younger).
        """
        if keep_latest is None and older_than is None:
            raise ValueError("gc needs keep_latest and/or older_than")
        if keep_latest is not None and keep_latest < 0:
            raise ValueError(f"keep_latest must be >= 0, got {keep_latest}")
        scan = self._scan()
        cutoff = None if older_than is None else _now() - older_than
        # Leftovers from the scan, before removing bundles, whose packs are not leftovers.
        report = GcReport(dry_run=dry_run, removed_files=self._leftovers(scan, grace))
        for entry in _collectable(scan.entries, keep_latest, cutoff):
            report.removed.append(entry)
            if not dry_run:
                self._remove_bundle(entry.data_id, entry.config_id)
        report.kept = len(scan.entries) - len(report.removed)
        if not dry_run:
            for path in report.removed_files:
                _quietly(self.fs.rm_file, path)
        return report


def _collectable(
    entries: Iterable[BundleEntry], keep_latest: int | None, cutoff: _dt.datetime | None
) -> list[BundleEntry]:
    by_dataset: dict[str | None, list[BundleEntry]] = {}
    for entry in entries:
        by_dataset.setdefault(entry.dataset, []).append(entry)
    chosen = []
    for dataset, group in by_dataset.items():
        group.sort(key=lambda e: e.created_at, reverse=True)
        for rank, entry in enumerate(group):
            if entry.pinned_by:
                continue
            beyond_kept = keep_latest is None or (dataset is not None and rank >= keep_latest)
            old_enough = cutoff is None or entry.created_at < cutoff
            if beyond_kept and old_enough and (cutoff is not None or dataset is not None):
                chosen.append(entry)
    return chosen


def _pointer_bytes(data_id: str, config_id: str, published_at: str) -> bytes:
    return codec.dumps(
        {"data_id": data_id, "config_id": config_id, "published_at": published_at}
    )


def _pointer_label(path: str) -> str:
    """``<dataset>`` for a dataset's latest pointer, ``<dataset>@<config_id>`` for a per-config one."""
    dataset, name = path.rsplit("/", 2)[-2:]
    return dataset if name == LATEST else f"{dataset}@{name[len('config-') : -len('.json')]}"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _quietly(func: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(FileNotFoundError):
        func(*args, **kwargs)
