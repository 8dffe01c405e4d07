"""Remembered content hashes of local files, so that an unchanged file is not read again.

A local file's data_id is the hash of all its bytes.  Prewarms, sensors and
freshness checks ask for it again and again, and reading a large file each
time would make a cache hit cost as much as a miss.  So a store remembers each
hash together with what the file looked like on this host when it was hashed:
device, inode, size, ``mtime_ns`` and ``ctime_ns``.  When all of them are
unchanged the remembered hash is reused: writing a file moves its mtime and
ctime, and ctime cannot be set back by anyone but the kernel.

Two rules keep a reused hash true (they are git's index rules):

- a file whose timestamps are less than :data:`SETTLE_SECONDS` older than the
  start of hashing is not remembered, because a second write within the
  filesystem's timestamp granularity would leave every stat field equal;
- a file whose stat changed while it was being hashed is not remembered.

One entry per host and real path, replaced when the file changes, so the
memo grows with the number of files and never with their versions.  A memo
that cannot be read or written only costs a re-read, never a wrong id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable

__all__ = ["SETTLE_SECONDS", "FileHashMemo"]

SETTLE_SECONDS = 2.0  # coarser than any local filesystem's timestamp granularity (FAT: 2 s)

log = logging.getLogger(__name__)


class FileHashMemo:
    """Content hashes of local files keyed by their stat identity, kept as small JSON objects.

    ``read(key)`` returns an object's bytes or ``None`` when there is none;
    ``write(key, data)`` replaces one object whole.
    """

    def __init__(
        self,
        read: Callable[[str], bytes | None],
        write: Callable[[str, bytes], None],
        prefix: str,
    ) -> None:
        self._read = read
        self._write = write
        self._prefix = prefix.rstrip("/")
        self._host = socket.gethostname()

    def __repr__(self) -> str:
        return f"FileHashMemo({self._prefix!r})"

    def hashed(self, path: str, compute: Callable[[], str], *, scheme: str) -> str:
        """The remembered hash of local file ``path`` if it is unchanged, else ``compute()``.

        ``scheme`` names how ``compute`` hashes: a hash remembered under another
        scheme (an older id scheme) is a miss, never reused.
        """
        real = os.path.realpath(path)
        started_ns = time.time_ns()
        before = _identity(os.stat(real))
        key = self._key(real)
        remembered = self._recall(key, real, before, scheme)
        if remembered is not None:
            return remembered
        file_id = compute()
        if before == _identity(os.stat(real)) and _settled(before, started_ns):
            self._remember(key, real, before, file_id, scheme)
        return file_id

    def _key(self, real: str) -> str:
        digest = hashlib.blake2b(f"{self._host}\0{real}".encode(), digest_size=16).hexdigest()
        return f"{self._prefix}/{digest}.json"

    def _recall(self, key: str, real: str, identity: dict[str, int], scheme: str) -> str | None:
        try:
            raw = self._read(key)
            if raw is None:
                return None
            entry = json.loads(raw)
        except Exception as exc:  # an unreadable memo is a miss, never an error
            log.debug("file hash memo %s unreadable: %s", key, exc)
            return None
        if not isinstance(entry, dict):
            return None
        same = (entry.get("host"), entry.get("path"), entry.get("scheme")) == (self._host, real, scheme)
        file_id = entry.get("file_id")
        if same and entry.get("stat") == identity and isinstance(file_id, str):
            return file_id
        return None

    def _remember(
        self, key: str, real: str, identity: dict[str, int], file_id: str, scheme: str
    ) -> None:
        entry = {
            "host": self._host, "path": real, "stat": identity, "file_id": file_id, "scheme": scheme,
        }  # fmt: skip
        try:
            self._write(key, json.dumps(entry, sort_keys=True).encode())
        except Exception as exc:  # a read-only store still hashes correctly
            log.warning("cannot remember the hash of %s (%s); it will be read again", real, exc)


def _identity(st: os.stat_result) -> dict[str, int]:
    return {
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def _settled(identity: dict[str, int], started_ns: int) -> bool:
    newest = max(identity["mtime_ns"], identity["ctime_ns"])
    return started_ns - newest >= SETTLE_SECONDS * 1e9
