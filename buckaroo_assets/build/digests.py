"""Domain-separated, length-framed BLAKE2b-128 digests shared by every kind of data_id."""

from __future__ import annotations

import hashlib
import json

DIGEST_SIZE = 16  # 128 bits: 32 hex characters


def qualified_name(x: object) -> str:
    cls = type(x)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def new_hash(domain: bytes = b"") -> hashlib.blake2b:
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    if domain:
        h.update(b"buckaroo_assets:" + domain + b"\n")
    return h


def framed(h: hashlib.blake2b, data: bytes) -> None:
    """Length-prefix each piece so that no two sequences of pieces hash alike."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
