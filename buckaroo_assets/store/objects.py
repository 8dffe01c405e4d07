"""Whole objects on any fsspec filesystem: written atomically, read singly or many at once.

Each object is written whole: one PUT on object stores, a temporary file
renamed into place on local disk, so a reader sees the old bytes or the new,
never a prefix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import BuckarooAssetsError, BundleNotFound, StoreUnavailable
from .layout import TEMP_MARK

__all__ = ["OBJECT_STORES", "ObjectFiles", "modified", "protocols", "quietly", "utc_now"]

OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az", "memory"})
_GLOB_CHARS = re.compile(r"[*?\[]")


@contextlib.contextmanager
def unavailable_as_store_error(action: str, path: str) -> Iterator[None]:
    """Backend failures (an outage, credentials, a full or read-only disk) as ``StoreUnavailable``.

    A missing object is not a failure: ``FileNotFoundError`` passes through, and
    so do the library's own errors.
    """
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, BuckarooAssetsError):
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreUnavailable(f"cannot {action} {path}: {reason}") from exc


class ObjectFiles:
    """One filesystem seen as a key-value store of whole objects."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.atomic = bool(set(protocols(fs)) & OBJECT_STORES)

    def write(self, path: str, data: bytes) -> None:
        """Write one object whole: readers see the old bytes or the new, never a prefix."""
        with unavailable_as_store_error("write", path):
            self._write(path, data)

    def _write(self, path: str, data: bytes) -> None:
        if self.atomic:
            self.fs.pipe_file(path, data)
            return
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{path}{TEMP_MARK}{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(temp, data)
            self.fs.mv(temp, path)
        except BaseException:
            # Best effort: on a disk gone read-only the removal fails too, and the
            # write's own error is the one to report (gc collects the leftover).
            with contextlib.suppress(OSError):
                self.fs.rm_file(temp)
            raise

    def cat(self, path: str, missing: str) -> bytes:
        """The object's bytes, or ``BundleNotFound(missing)``."""
        try:
            with unavailable_as_store_error("read", path):
                return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):
            raise BundleNotFound(missing) from None

    def read_if_any(self, path: str) -> bytes | None:
        try:
            with unavailable_as_store_error("read", path):
                return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def cat_many(self, paths: Iterable[str]) -> dict[str, bytes | BaseException]:
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
            with unavailable_as_store_error("read", f"{len(paths)} objects under {paths[0]}"):
                raw = self.fs.cat(paths, on_error="return")
        found: dict[str, bytes | BaseException] = {}
        for path in paths:
            data = raw.get(path, OSError(f"{path}: not returned when read"))
            if not isinstance(data, FileNotFoundError):
                found[path] = data
        return found

    def find(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every object below ``prefix`` with its info, listed afresh (no listing cache)."""
        self.fs.invalidate_cache()
        try:
            with unavailable_as_store_error("list", prefix):
                return self.fs.find(prefix, detail=True)
        except FileNotFoundError:
            return {}

    def remove(self, path: str) -> None:
        quietly(self.fs.rm_file, path)


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def modified(info: dict[str, Any]) -> _dt.datetime | None:
    """Last-modified time from an fsspec info dict, whatever the backend calls it."""
    for key in ("LastModified", "mtime", "created", "last_modified"):
        value = info.get(key)
        if isinstance(value, _dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        if isinstance(value, int | float):
            return _dt.datetime.fromtimestamp(value, _dt.UTC)
    return None


def protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def quietly(func: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(FileNotFoundError):
        func(*args, **kwargs)
