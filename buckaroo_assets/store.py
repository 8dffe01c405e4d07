"""Bundles on any fsspec filesystem, published atomically and verified when read.

Layout under the store root (``v1`` is the layout version)::

    v1/bundles/<data_id>/<config_id>/pack-<sha256>.bin   parts, content-addressed
    v1/bundles/<data_id>/<config_id>/manifest.json       the commit point
    v1/bundles/<data_id>/latest.json                     config last published for a data_id
    v1/datasets/<name>/latest.json                       newest bundle of a named dataset
    v1/datasets/<name>/config-<config_id>.json           newest bundle of it under one config

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

    def _dataset_pointer(self, dataset: str, config_id: str | None) -> str:
        name = LATEST if config_id is None else f"config-{config_id}.json"
        return f"{self._base}/datasets/{dataset}/{name}"

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
        """Publish a bundle: pack, then manifest (the commit point), then pointers."""
        if dataset is not None:
            validate_data_id(dataset, what="dataset name")
        packed = pack_bundle(bundle, dataset=dataset)
        folder = self._bundle_dir(bundle.data_id, validate_config_id(bundle.config_id))
        pack_path = f"{folder}/{packed.pack_name}"
        if not self._has_object(pack_path, len(packed.pack)):
            self._write(pack_path, packed.pack)
        self._write(f"{folder}/{MANIFEST}", packed.manifest)
        manifest = read_manifest(packed.manifest, where=folder)
        pointer = codec.dumps(
            {
                "data_id": bundle.data_id,
                "config_id": bundle.config_id,
                "published_at": manifest["created_at"],
            }
        )
        self._write(f"{self._base}/bundles/{bundle.data_id}/{LATEST}", pointer)
        if dataset is not None:
            self._write(self._dataset_pointer(dataset, bundle.config_id), pointer)
            self._write(self._dataset_pointer(dataset, None), pointer)
        return self._entry(manifest, len(packed.manifest))

    def _has_object(self, path: str, size: int) -> bool:
        try:
            return int(self.fs.info(path)["size"]) == size
        except FileNotFoundError:
            return False

    # ------------------------------------------------------------------ reading

    def _cat(self, path: str, missing: str) -> bytes:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise BundleNotFound(missing) from None
        except IsADirectoryError:
            raise BundleNotFound(missing) from None

    def _read_pointer(self, path: str, missing: str) -> tuple[str, str]:
        raw = self._cat(path, missing)
        try:
            pointer = codec.loads(raw)
            return (
                validate_data_id(pointer["data_id"]),  # type: ignore[index]
                validate_config_id(pointer["config_id"]),  # type: ignore[index]
            )
        except (codec.MalformedEncodingError, TypeError, KeyError, UnsafeDataIdError):
            raise BundleCorrupted(f"{path}: pointer is damaged") from None

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
                f"{self._base}/bundles/{data_id}/{LATEST}",
                f"no bundle for data_id {data_id!r} in {self.url}",
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
            if manifest.get("data_id") != data_id or manifest.get("config_id") != config_id:
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
        path = f"{self._bundle_dir(validate_data_id(data_id), validate_config_id(config_id))}"
        return self.fs.exists(f"{path}/{MANIFEST}")

    # ------------------------------------------------------------------ listing

    def _invalidate(self) -> None:
        self.fs.invalidate_cache()

    def _find(self, prefix: str) -> dict[str, dict[str, Any]]:
        self._invalidate()
        try:
            return self.fs.find(f"{self._base}/{prefix}", detail=True)
        except FileNotFoundError:
            return {}

    def datasets(self) -> dict[str, tuple[str, str]]:
        """Every dataset pointer (``latest`` and per-config) and the bundle it names."""
        pointers: dict[str, tuple[str, str]] = {}
        for path in sorted(self._find("datasets")):
            if _TEMP_MARK in path:
                continue
            dataset, name = path.rsplit("/", 2)[-2:]
            label = dataset if name == LATEST else f"{dataset}@{name[7:-5]}"
            try:
                pointers[label] = self._read_pointer(path, path)
            except (BundleNotFound, BundleCorrupted):
                continue
        return pointers

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

    def _scan(self) -> tuple[list[BundleEntry], list[Damage], dict[str, dict[str, Any]]]:
        """Entries from every manifest, damage found reading them, and every file seen."""
        files = self._find("bundles")
        manifests = sorted(p for p in files if p.endswith(f"/{MANIFEST}"))
        raw = self.fs.cat(manifests, on_error="return") if manifests else {}
        pins: dict[tuple[str, str], list[str]] = {}
        for label, key in self.datasets().items():
            pins.setdefault(key, []).append(label)
        entries, damaged = [], []
        for path in manifests:
            data = raw.get(path)
            if isinstance(data, FileNotFoundError):
                continue  # deleted while we listed
            data_id, config_id = path.rsplit("/", 3)[-3:-1]
            try:
                if isinstance(data, BaseException):
                    raise data
                manifest = read_manifest(data, where=path)
                key = (manifest["data_id"], manifest["config_id"])
                if key != (data_id, config_id):
                    raise BundleCorrupted(f"{path}: manifest names another bundle")
                entries.append(self._entry(manifest, len(data), tuple(pins.get(key, ()))))
            except Exception as exc:  # one bad manifest must not hide the rest
                damaged.append(Damage(path, str(exc), data_id, config_id))
        entries.sort(key=lambda e: (e.created_at, e.data_id, e.config_id))
        return entries, damaged, files

    def list(self) -> list[BundleEntry]:
        """Every published bundle, oldest first; damaged manifests are left to ``verify``."""
        return self._scan()[0]

    # ------------------------------------------------------------------ maintenance

    def verify(self, grace: _dt.timedelta = DEFAULT_GRACE) -> VerifyReport:
        """Re-read and re-check every bundle; report damage and leftover files.

        Leftovers (packs no manifest names, temporary files) younger than
        ``grace`` may belong to a write in progress and are not reported.
        """
        entries, damaged, files = self._scan()
        report = VerifyReport(checked=len(entries) + len(damaged), damaged=damaged)
        for entry in entries:
            try:
                self.get(entry.data_id, entry.config_id)
            except BundleNotFound:
                report.checked -= 1  # deleted while we verified
            except Exception as exc:
                path = self._bundle_dir(entry.data_id, entry.config_id)
                report.damaged.append(Damage(path, str(exc), entry.data_id, entry.config_id))
        pinned = self.datasets()
        published = {(e.data_id, e.config_id) for e in entries}
        published |= {(d.data_id, d.config_id) for d in damaged}
        for label, key in pinned.items():
            if key not in published:
                report.damaged.append(
                    Damage(label, "dataset pointer names a bundle that is not published", *key)
                )
        report.orphans = self._leftovers(files, grace)
        return report

    def _leftovers(self, files: dict[str, dict[str, Any]], grace: _dt.timedelta) -> list[str]:
        """Packs no manifest names and interrupted temporary files, older than ``grace``."""
        referenced: set[str] = set()
        for path in (p for p in files if p.endswith(f"/{MANIFEST}")):
            try:
                manifest = read_manifest(self.fs.cat_file(path), where=path)
            except Exception:
                continue  # damaged manifests are verify's business, not garbage
            referenced.add(f"{path.rsplit('/', 1)[0]}/{manifest['pack']['name']}")
        cutoff = _now() - grace
        leftovers = []
        for path, info in files.items():
            name = path.rsplit("/", 1)[-1]
            is_pack = name.startswith("pack-") and _TEMP_MARK not in name
            if not (_TEMP_MARK in name or (is_pack and path not in referenced)):
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
        folder = self._bundle_dir(validate_data_id(data_id), validate_config_id(config_id))
        pointers = [p for p, key in self._pointer_paths().items() if key == (data_id, config_id)]
        if pointers and not force:
            raise ValueError(
                f"bundle ({data_id}, {config_id}) is named by dataset pointer(s) "
                f"{', '.join(sorted(pointers))}; pass force=True to delete it anyway"
            )
        for path in pointers:
            _quietly(self.fs.rm_file, path)
        return self._remove_bundle(data_id, config_id, folder)

    def _remove_bundle(self, data_id: str, config_id: str, folder: str) -> bool:
        existed = self.fs.exists(f"{folder}/{MANIFEST}")
        _quietly(self.fs.rm_file, f"{folder}/{MANIFEST}")
        _quietly(self.fs.rm, folder, recursive=True)
        latest = f"{self._base}/bundles/{data_id}/{LATEST}"
        try:
            if self._read_pointer(latest, latest) == (data_id, config_id):
                _quietly(self.fs.rm_file, latest)
        except (BundleNotFound, BundleCorrupted):
            pass
        return existed

    def _pointer_paths(self) -> dict[str, tuple[str, str]]:
        found = {}
        for path in self._find("datasets"):
            if _TEMP_MARK in path:
                continue
            try:
                found[path] = self._read_pointer(path, path)
            except (BundleNotFound, BundleCorrupted):
                continue
        return found

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
        entries, _, files = self._scan()
        cutoff = None if older_than is None else _now() - older_than
        report = GcReport(dry_run=dry_run)
        for entry in _collectable(entries, keep_latest, cutoff):
            report.removed.append(entry)
            if not dry_run:
                folder = self._bundle_dir(entry.data_id, entry.config_id)
                self._remove_bundle(entry.data_id, entry.config_id, folder)
        report.kept = len(entries) - len(report.removed)
        report.removed_files = self._leftovers(files, grace)
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


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _quietly(func: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(FileNotFoundError):
        func(*args, **kwargs)
