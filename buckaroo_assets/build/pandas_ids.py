"""data_ids of pandas frames: labels, dtypes, the index and every cell, type-tagged.

Numeric columns hash as raw bytes, strings through pandas' fixed-key cell hash,
other object cells through a repr-free encoding so ``1`` and ``"1"`` differ.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from ..bundle.ids import short_repr
from .arrow_ids import arrow_column_digest
from .digests import framed, json_bytes, new_hash, qualified_name

CELLS_PER_UPDATE = 4_096


def _label_bytes(label: object) -> bytes:
    """Column/index labels via the shared codec, so ids agree with what bundles store."""
    from ..bundle.codec import dumps

    try:
        return b"c" + dumps(label)
    except (TypeError, ValueError):  # e.g. pandas.Timestamp labels the codec refuses
        return b"p" + json_bytes(_cell(label))


def _labels_bytes(labels: Iterable[object]) -> bytes:
    h = new_hash()
    for label in labels:
        framed(h, _label_bytes(label))
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
        return ["dict", sorted(pairs, key=json_bytes)]
    if isinstance(v, set | frozenset):
        return ["set", sorted((_cell(i) for i in v), key=json_bytes)]
    raise TypeError(f"cannot derive a stable identity from a value of type {qualified_name(v)}")


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
    raise TypeError(f"cannot derive a stable identity from a value of type {qualified_name(v)}")


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
    raise TypeError(f"cannot derive a stable identity from a value of type {qualified_name(v)}")


def _object_cells(values: Iterable[object]) -> Iterator[bytes]:
    batch: list[object] = []
    for v in values:
        batch.append(_cell(v))
        if len(batch) == CELLS_PER_UPDATE:
            yield json_bytes(batch)
            batch = []
    if batch:
        yield json_bytes(batch)


def _pandas_values_digest(values: Any, what: str) -> bytes:
    """Digest of one column or index level: null mask plus values, by the cheapest exact route.

    Numbers, bools and datetimes hash as raw bytes, categoricals as their
    categories and codes, strings and extension types as the Arrow array the
    build reads, other object columns as type-tagged cells; every route ends
    in the same cryptographic hash.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    dtype = series.dtype
    h = new_hash()
    framed(h, str(dtype).encode())
    framed(h, np.packbits(np.asarray(series.isna(), dtype=bool)).tobytes())
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        framed(h, b"raw")
        h.update(np.ascontiguousarray(series.to_numpy()).view(np.uint8).reshape(-1))
        return h.digest()
    if isinstance(dtype, pd.CategoricalDtype):
        framed(h, _pandas_values_digest(dtype.categories, f"categories of {what}"))
        framed(h, b"ordered" if dtype.ordered else b"unordered")
        framed(h, b"codes")
        h.update(np.ascontiguousarray(series.cat.codes.to_numpy()).view(np.uint8).reshape(-1))
        return h.digest()
    is_object = isinstance(dtype, np.dtype) and dtype.kind == "O"
    if is_object and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        cells = series
    else:
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            cells = series.astype(object)
        else:
            chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
            framed(h, b"arrow")
            framed(h, str(chunked.type).encode())
            h.update(arrow_column_digest(chunked, len(chunked)))
            return h.digest()
    framed(h, b"cells")
    try:
        for piece in _object_cells(cells):
            h.update(piece)
    except TypeError as exc:
        raise TypeError(f"data_id_for(): {what}: {exc}") from None
    return h.digest()


def pandas_id(df: Any) -> str:
    h = new_hash(b"pandas:v2")
    columns, index = df.columns, df.index
    framed(h, json_bytes(list(df.shape)))
    framed(h, _labels_bytes(columns.tolist()))
    framed(h, _labels_bytes(columns.names))
    framed(h, _labels_bytes(index.names))
    for level in range(index.nlevels):
        values = index.get_level_values(level)
        framed(h, _pandas_values_digest(values, f"index level {level}"))
    for i, label in enumerate(columns):
        framed(h, _pandas_values_digest(df.iloc[:, i], f"column {short_repr(label)}"))
    return "pandas-" + h.hexdigest()
