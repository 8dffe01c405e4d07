"""Domain-separated, length-framed BLAKE3-128 digests shared by every kind of data_id.

BLAKE3 (the ``blake3`` package) is a cryptographic hash, so an id stays
collision-resistant against whoever writes the data, and it runs at memory
speed: hashing a 391 MB Parquet file took 0.125 s against 0.38 s with
BLAKE2b (measured here, one process, file in the page cache), which keeps a
content-hash data_id within a few percent of the build it keys.
"""

from __future__ import annotations

import json

import blake3

DIGEST_SIZE = 16  # 128 bits: 32 hex characters


class Digest:
    """An incremental 128-bit BLAKE3 digest.

    ``threaded`` hashes each update on every core: worth it for the megabytes of
    a file's chunks, a loss for the small pieces of a table's columns.
    """

    def __init__(self, threaded: bool = False) -> None:
        self._hash = blake3.blake3(max_threads=blake3.blake3.AUTO if threaded else 1)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest(DIGEST_SIZE)

    def hexdigest(self) -> str:
        return self._hash.hexdigest(DIGEST_SIZE)


def qualified_name(x: object) -> str:
    cls = type(x)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def new_hash(domain: bytes = b"", *, threaded: bool = False) -> Digest:
    h = Digest(threaded)
    if domain:
        h.update(b"buckaroo_assets:" + domain + b"\n")
    return h


def framed(h: Digest, data: bytes) -> None:
    """Length-prefix each piece so that no two sequences of pieces hash alike."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
