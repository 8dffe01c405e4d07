"""data_ids of files, folders and objects: content hashes, or S3 ETags where they exist.

Only the bytes count, never the path, so a copy elsewhere gets the same id; a
local file's hash is remembered in the store's file-hash memo so an unchanged
file is not read twice.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedSourceError
from .digests import framed, json_bytes, new_hash

if TYPE_CHECKING:
    from ..store.file_hashes import FileHashMemo

READ_CHUNK = 8 << 20  # bounded memory, and chunks large enough to hash on every core
SCHEME = "blake3-128"  # what a remembered file hash was computed with


def path_id(
    path: str | os.PathLike[Any],
    storage_options: dict[str, Any] | None,
    memo: FileHashMemo | None,
) -> str:
    import fsspec.core

    text = os.fsdecode(path)
    fs, fs_path = fsspec.core.url_to_fs(text, **(storage_options or {}))
    try:
        info = fs.info(fs_path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file or directory", text) from None
    refuse_special_file(info, text)
    if info.get("type") == "directory":
        return "dir-" + _directory_digest(fs, fs_path, memo)
    return _file_fingerprint(fs, fs_path, info, memo)


def refuse_special_file(info: dict[str, Any], shown: str) -> None:
    """Only regular files and folders are read: a pipe would block forever, a device
    (``/dev/zero`` behind a ``.parquet`` name) never end."""
    if info.get("type") not in ("file", "directory"):
        raise UnsupportedSourceError(
            f"{shown} is not a regular file or a folder (a pipe, device or socket?): not read"
        )


def _is_s3(fs: Any) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return any(p in ("s3", "s3a") for p in protocols)


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _file_fingerprint(
    fs: Any, path: str, info: dict[str, Any], memo: FileHashMemo | None
) -> str:
    if _is_s3(fs):
        etag = info.get("ETag") or info.get("etag")
        if not etag:
            info = fs.info(path)  # listings may omit the ETag; a HEAD does not
            etag = info.get("ETag") or info.get("etag")
        if etag:
            h = new_hash(b"s3etag:v2")
            h.update(json_bytes([str(etag).strip('"'), info.get("size")]))
            return "s3etag-" + h.hexdigest()
    if memo is not None and _is_local(fs):
        return memo.hashed(path, lambda: _content_hash(fs, path), scheme=SCHEME)
    return _content_hash(fs, path)


def _content_hash(fs: Any, path: str) -> str:
    h = new_hash(threaded=True)  # no domain prefix: the id is the plain b3sum of the bytes
    with fs.open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
    return "file-" + h.hexdigest()


def _directory_digest(fs: Any, root: str, memo: FileHashMemo | None) -> str:
    found = fs.find(root, withdirs=False, detail=True)
    prefix = root.rstrip("/") + "/"
    entries = []
    for path, info in found.items():
        if info.get("type") == "directory":
            continue
        rel = path[len(prefix) :] if path.startswith(prefix) else path
        entries.append((rel, path, info))
    entries.sort(key=lambda e: e[0])
    h = new_hash(b"dir:v2")
    for rel, path, info in entries:
        framed(h, json_bytes([rel, _file_fingerprint(fs, path, info, memo)]))
    return h.hexdigest()
