"""Content identities (``data_id``) for datasets, and the rules a data_id must obey.

A bundle is keyed by ``(data_id, config_id)``: if the ``data_id`` is equal the
stats may be reused, so it must change whenever the content changes, and it
must be equal for equal content so that caches hit across processes and
machines.  A ``data_id`` also becomes an object-store path segment and a
Dagster partition key, hence the narrow character set of
:func:`validate_data_id`.

pandas, polars and pyarrow are imported only when a value of theirs is
passed in, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import errno
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from buckaroo_assets.errors import UnsafeDataIdError

if TYPE_CHECKING:
    from buckaroo_assets.file_hashes import FileHashMemo

__all__ = ["DATA_ID_MAX_LENGTH", "data_id_for", "validate_data_id"]

DATA_ID_MAX_LENGTH = 200

_SAFE_ID = re.compile(r"[A-Za-z0-9._@=-]+", re.ASCII)
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._@=-]", re.ASCII)
_SHOWN_CHARS = 60

_DIGEST_SIZE = 16  # 128 bits: 32 hex characters
_READ_CHUNK = 1 << 20  # bounded memory when hashing files of any size
_ARROW_BLOCK_ROWS = 65_536  # canonical row blocks, so chunking never changes an id
_CELLS_PER_UPDATE = 4_096


# ---------------------------------------------------------------- validation


def _show(value: object) -> str:
    if isinstance(value, str):
        if len(value) <= _SHOWN_CHARS:
            return repr(value)
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} chars)"
    try:
        shown = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        shown = f"<{type(value).__qualname__} object>"
    if len(shown) > _SHOWN_CHARS:
        shown = shown[: _SHOWN_CHARS - 3] + "..."
    return shown


def validate_data_id(s: object, *, what: str = "data_id") -> str:
    """Return ``s`` unchanged if it is safe as a path segment and a Dagster partition key.

    Allowed: 1 to 200 ASCII letters, digits and ``. _ - @ =``; it may not start
    with ``.`` or ``-`` and may not contain ``..``.  Checked before any I/O, so
    a hostile id can never address another object or escape a prefix.  ``what``
    names the value in the error (dataset names obey the same rule).
    """
    if not isinstance(s, str):
        raise UnsafeDataIdError(f"{what} must be a str, got {type(s).__qualname__}: {_show(s)}")
    if not s:
        raise UnsafeDataIdError(f"{what} must not be empty")
    if len(s) > DATA_ID_MAX_LENGTH:
        raise UnsafeDataIdError(
            f"{what} is {len(s)} characters long, the maximum is {DATA_ID_MAX_LENGTH}: {_show(s)}"
        )
    if not _SAFE_ID.fullmatch(s):
        bad = _UNSAFE_CHAR.search(s)
        char = bad.group() if bad else "?"
        raise UnsafeDataIdError(
            f"{what} may contain only ASCII letters, digits and '._-@=', "
            f"found {char!r}: {_show(s)}"
        )
    if s[0] in ".-":
        raise UnsafeDataIdError(f"{what} must not start with {s[0]!r}: {_show(s)}")
    if ".." in s:
        raise UnsafeDataIdError(f"{what} must not contain '..': {_show(s)}")
    return s


# ---------------------------------------------------------------- data_id_for


def data_id_for(
    x: object,
    *,
    storage_options: dict[str, Any] | None = None,
    memo: FileHashMemo | None = None,
) -> str:
    """Identity of one version of a dataset's content: equal content, equal id, anywhere.

    The result is ``<kind>-<32 lowercase hex>`` (a 128-bit BLAKE2b digest) and
    always passes :func:`validate_data_id`.  The kind says what was hashed,
    and ids of different kinds never compare equal:

    ``file-``
        A single file (local path, ``os.PathLike`` or any fsspec URL such as
        ``file://`` or ``memory://``): BLAKE2b-128 of its raw bytes, streamed
        in 1 MiB chunks, so it equals ``b2sum -l 128 FILE``.  The path itself
        is not hashed: a copy elsewhere has the same id.
    ``s3etag-``
        A single object on a filesystem whose protocol includes ``s3``: a
        digest of its ETag and size, read with ``fs.info`` and nothing
        downloaded.  S3 documents that an object's ETag changes exactly when
        its content changes; identical content uploaded with a different
        multipart layout can get another ETag, which only costs a recompute.
        Objects without an ETag are hashed like ``file-``.
    ``dir-``
        A directory (e.g. a partitioned Parquet dataset): the sorted relative
        paths of all files below it, each with its ``file-``/``s3etag-``
        identity.  Every file counts, including ``_SUCCESS`` or hidden files.
    ``arrow-``
        A ``pyarrow.Table`` or ``RecordBatch`` (and a polars ``DataFrame``,
        via ``to_arrow()``): the schema's field names, types and nullability
        (not schema metadata) plus the values, independent of chunking and
        slicing.  Dictionary and view encodings of top-level columns are
        decoded first and bytes hidden under top-level nulls are ignored;
        inside nested types (struct/list children) the physical encoding
        still counts, so equal values may rarely get different ids.
    ``pandas-``
        A ``pandas.DataFrame``: column labels (any hashable, type-tagged so
        ``0`` and ``"0"`` differ), dtypes, the index (values, dtypes, names)
        and every cell.  Numeric, bool and datetime columns are hashed as raw
        bytes; string and extension columns through pandas' fixed-key 64-bit
        cell hash (``hash_pandas_object``); other object columns through a
        type-tagged encoding of each cell, so ``1`` and ``"1"`` differ.

    ``memo`` (e.g. ``BundleStore.file_hashes``) remembers the ``file-`` hash
    of each local file with its stat identity, so an unchanged file is not
    read again; see :mod:`buckaroo_assets.file_hashes` for when it is reused.

    A missing path raises ``FileNotFoundError``; any other type ``TypeError``.
    """
    if isinstance(x, str | os.PathLike):
        return _path_id(x, storage_options, memo)
    module = type(x).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(x, pa.RecordBatch):
            return _arrow_id(pa.Table.from_batches([x]))
        if isinstance(x, pa.Table):
            return _arrow_id(x)
    elif module.startswith("pandas"):
        import pandas as pd

        if isinstance(x, pd.DataFrame):
            return _pandas_id(x)
        if isinstance(x, pd.Series):
            raise TypeError("data_id_for() takes a DataFrame, not a Series; use .to_frame()")
    elif module.startswith("polars"):
        import polars as pl

        if isinstance(x, pl.DataFrame):
            return _arrow_id(_polars_to_arrow(x))
        if isinstance(x, pl.LazyFrame):
            raise TypeError("data_id_for() needs materialised data; .collect() the LazyFrame")
    raise TypeError(
        "data_id_for() accepts a path or fsspec URL, a pyarrow Table/RecordBatch, "
        f"a pandas DataFrame or a polars DataFrame, not {_qualified_name(x)}"
    )


def _qualified_name(x: object) -> str:
    cls = type(x)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _new_hash(domain: bytes = b"") -> hashlib.blake2b:
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    if domain:
        h.update(b"buckaroo_assets:" + domain + b"\n")
    return h


def _framed(h: hashlib.blake2b, data: bytes) -> None:
    """Length-prefix each piece so that no two sequences of pieces hash alike."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()


# ---------------------------------------------------------------- paths and URLs


def _path_id(
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
    if info.get("type") == "directory":
        return "dir-" + _directory_digest(fs, fs_path, memo)
    return _file_fingerprint(fs, fs_path, info, memo)


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
            h = _new_hash(b"s3etag:v1")
            h.update(_json_bytes([str(etag).strip('"'), info.get("size")]))
            return "s3etag-" + h.hexdigest()
    if memo is not None and _is_local(fs):
        return memo.hashed(path, lambda: _content_hash(fs, path))
    return _content_hash(fs, path)


def _content_hash(fs: Any, path: str) -> str:
    h = _new_hash()  # no domain prefix: the id is the plain b2sum of the bytes
    with fs.open(path, "rb") as f:
        while chunk := f.read(_READ_CHUNK):
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
    h = _new_hash(b"dir:v1")
    for rel, path, info in entries:
        _framed(h, _json_bytes([rel, _file_fingerprint(fs, path, info, memo)]))
    return h.hexdigest()


# ---------------------------------------------------------------- arrow / polars


class _HashSink:
    """A write-only file that hashes instead of storing, so IPC bytes never pile up in memory."""

    closed = False

    def __init__(self) -> None:
        self.hash = _new_hash()

    def write(self, data: Any) -> int:
        self.hash.update(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        pass


def _polars_to_arrow(df: Any) -> Any:
    import polars as pl

    try:  # the oldest layout avoids view types whose buffers vary with history
        return df.to_arrow(compat_level=pl.CompatLevel.oldest())
    except (AttributeError, TypeError):
        return df.to_arrow()


def _canonical_block(arr: Any) -> Any:
    """Undo top-level encodings that can differ for equal values."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if t == pa.string_view():
        arr = arr.cast(pa.large_string())
    elif t == pa.binary_view():
        arr = arr.cast(pa.large_binary())
    return arr


def _arrow_column_digest(column: Any, num_rows: int) -> bytes:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    masks = _new_hash()
    sink = _HashSink()
    writer = None
    options = pa.ipc.IpcWriteOptions(compression=None, use_threads=False)
    for start in range(0, num_rows, _ARROW_BLOCK_ROWS):
        block = _canonical_block(column.slice(start, _ARROW_BLOCK_ROWS).combine_chunks())
        if block.null_count:
            valid = block.is_valid().to_numpy(zero_copy_only=False)
            _framed(masks, np.packbits(valid).tobytes())
            if pa.types.is_null(block.type):
                continue
            block = pc.drop_null(block)
        else:
            _framed(masks, b"")
        if writer is None:
            schema = pa.schema([pa.field("v", block.type)])
            writer = pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema, options=options)
        writer.write_batch(pa.record_batch([block], names=["v"]))
    if writer is not None:
        writer.close()
    return masks.digest() + sink.hash.digest()


def _arrow_id(table: Any) -> str:
    h = _new_hash(b"arrow:v1")
    schema = [[f.name, str(f.type), f.nullable] for f in table.schema]
    _framed(h, _json_bytes([table.num_rows, schema]))
    for column in table.columns:
        _framed(h, _arrow_column_digest(column, table.num_rows))
    return "arrow-" + h.hexdigest()


# ---------------------------------------------------------------- pandas


def _label_bytes(label: object) -> bytes:
    """Column/index labels via the shared codec, so ids agree with what bundles store."""
    from buckaroo_assets.codec import dumps

    try:
        return b"c" + dumps(label)
    except (TypeError, ValueError):  # e.g. pandas.Timestamp labels the codec refuses
        return b"p" + _json_bytes(_cell(label))


def _labels_bytes(labels: Iterable[object]) -> bytes:
    h = _new_hash()
    for label in labels:
        _framed(h, _label_bytes(label))
    return h.digest()


def _cell(v: object) -> object:
    """Type-tagged, repr-free JSON for one object cell, so ``1`` and ``"1"`` never collide."""
    cls = type(v)
    module = cls.__module__
    if v is None:
        return None
    if isinstance(v, str):
        return str(v)
    if module.startswith("pandas"):
        return _pandas_scalar(v)
    if module == "numpy":
        return _numpy_value(v)
    if isinstance(v, bool):
        return ["bool", bool(v)]
    if isinstance(v, int):
        return ["int", format(int(v), "x")]  # hex has no int-to-str digit limit
    if isinstance(v, float):
        return ["float", repr(float(v))]
    if isinstance(v, complex):
        return ["complex", repr(v.real), repr(v.imag)]
    if isinstance(v, bytes | bytearray | memoryview):
        return ["bytes", bytes(v).hex()]
    if isinstance(v, decimal.Decimal):
        return ["decimal", str(v)]
    if isinstance(v, _dt.datetime):
        return ["datetime", v.isoformat(), v.tzname()]
    if isinstance(v, _dt.date):
        return ["date", v.isoformat()]
    if isinstance(v, _dt.time):
        return ["time", v.isoformat(), v.tzname()]
    if isinstance(v, _dt.timedelta):
        return ["timedelta", v.days, v.seconds, v.microseconds]
    if isinstance(v, uuid.UUID):
        return ["uuid", str(v)]
    if isinstance(v, tuple):
        return ["tuple", [_cell(i) for i in v]]
    if isinstance(v, list):
        return ["list", [_cell(i) for i in v]]
    if isinstance(v, dict):
        pairs = [[_cell(k), _cell(i)] for k, i in v.items()]
        return ["dict", sorted(pairs, key=_json_bytes)]
    if isinstance(v, set | frozenset):
        return ["set", sorted((_cell(i) for i in v), key=_json_bytes)]
    raise TypeError(f"cannot derive a stable identity from a value of type {_qualified_name(v)}")


def _pandas_scalar(v: Any) -> object:
    name = type(v).__name__
    if name in ("NAType", "NaTType"):
        return ["null", name]
    if name == "Timestamp":
        return ["Timestamp", v.isoformat(), v.tzname()]  # isoformat keeps nanoseconds
    if name == "Timedelta":
        return ["Timedelta", int(v.value), str(v.unit)]
    if name == "Period":
        return ["Period", v.freqstr, int(v.ordinal)]
    if name == "Interval":
        return ["Interval", _cell(v.left), _cell(v.right), v.closed]
    raise TypeError(f"cannot derive a stable identity from a value of type {_qualified_name(v)}")


def _numpy_value(v: Any) -> object:
    import numpy as np

    if isinstance(v, np.ndarray):
        if v.dtype.kind == "O":
            return ["ndarray", "O", list(v.shape), [_cell(i) for i in v.ravel()]]
        raw = np.ascontiguousarray(v).tobytes().hex()
        return ["ndarray", str(v.dtype), list(v.shape), raw]
    if isinstance(v, np.generic):
        if v.dtype.kind in "mM":
            return ["numpy", v.dtype.str, str(v)]
        return ["numpy", v.dtype.str, _cell(v.item())]
    raise TypeError(f"cannot derive a stable identity from a value of type {_qualified_name(v)}")


def _object_cells(values: Iterable[object]) -> Iterator[bytes]:
    batch: list[object] = []
    for v in values:
        batch.append(_cell(v))
        if len(batch) == _CELLS_PER_UPDATE:
            yield _json_bytes(batch)
            batch = []
    if batch:
        yield _json_bytes(batch)


def _pandas_values_digest(values: Any, what: str) -> bytes:
    """Digest of one column or index level: null mask plus values, by the cheapest exact route."""
    import numpy as np
    import pandas as pd
    from pandas.util import hash_pandas_object

    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    dtype = series.dtype
    h = _new_hash()
    _framed(h, str(dtype).encode())
    _framed(h, np.packbits(np.asarray(series.isna(), dtype=bool)).tobytes())
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        raw = np.ascontiguousarray(series.to_numpy())
        _framed(h, b"raw")
        h.update(raw.view(np.uint8).reshape(-1))
        return h.digest()
    if isinstance(dtype, pd.CategoricalDtype):
        _framed(h, _pandas_values_digest(dtype.categories, f"categories of {what}"))
        _framed(h, b"ordered" if dtype.ordered else b"unordered")
    is_object = isinstance(dtype, np.dtype) and dtype.kind == "O"
    if is_object and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        cells = series
    else:
        try:
            hashes = hash_pandas_object(series, index=False, categorize=False)
        except (TypeError, ValueError):
            cells = series.astype(object)
        else:
            _framed(h, b"hash64")
            h.update(np.ascontiguousarray(hashes.to_numpy(dtype=np.uint64)).view(np.uint8))
            return h.digest()
    _framed(h, b"cells")
    try:
        for piece in _object_cells(cells):
            h.update(piece)
    except TypeError as exc:
        raise TypeError(f"data_id_for(): {what}: {exc}") from None
    return h.digest()


def _pandas_id(df: Any) -> str:
    h = _new_hash(b"pandas:v1")
    columns, index = df.columns, df.index
    _framed(h, _json_bytes(list(df.shape)))
    _framed(h, _labels_bytes(columns.tolist()))
    _framed(h, _labels_bytes(columns.names))
    _framed(h, _labels_bytes(index.names))
    for level in range(index.nlevels):
        values = index.get_level_values(level)
        _framed(h, _pandas_values_digest(values, f"index level {level}"))
    for i, label in enumerate(columns):
        _framed(h, _pandas_values_digest(df.iloc[:, i], f"column {_show(label)}"))
    return "pandas-" + h.hexdigest()
