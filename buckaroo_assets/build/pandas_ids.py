"""data_ids of pandas frames: labels, dtypes, the index and every cell, type-tagged.

Numeric columns hash as raw bytes, strings through pandas' fixed-key cell hash,
other object cells through a repr-free encoding so ``1`` and ``"1"`` differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from ..errors import UnsupportedColumnError, UnsupportedSourceError
from .arrow_ids import arrow_column_digest
from .digests import framed, json_bytes, new_hash
from .faults import column_fault, index_fault, source_name
from .object_cells import CellFault, identities

CELLS_PER_UPDATE = 4_096


class _LabelFault(Exception):
    """A label without a stable form; the caller says which column or axis it labels."""


def _label_bytes(label: object) -> bytes:
    """Column/index labels via the shared codec, so ids agree with what bundles store."""
    from ..bundle.codec import dumps

    try:
        return b"c" + dumps(label)
    except (TypeError, ValueError):  # e.g. pandas.Timestamp labels the codec refuses
        pass
    try:
        return b"p" + json_bytes(next(identities([label])))
    except CellFault as exc:
        raise _LabelFault(exc.problem) from None


def _labels_bytes(labels: Iterable[object]) -> bytes:
    h = new_hash()
    for label in labels:
        framed(h, _label_bytes(label))
    return h.digest()


def _object_cells(values: Iterable[object]) -> Iterator[bytes]:
    batch: list[object] = []
    for identity in identities(values):
        batch.append(identity)
        if len(batch) == CELLS_PER_UPDATE:
            yield json_bytes(batch)
            batch = []
    if batch:
        yield json_bytes(batch)


def _pandas_values_digest(values: Any, fault: Callable[[str], UnsupportedColumnError]) -> bytes:
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
        framed(h, _pandas_values_digest(dtype.categories, lambda problem: fault(f"among its categories, {problem}")))
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
    except CellFault as exc:
        raise fault(str(exc)) from None
    return h.digest()


def pandas_id(df: Any) -> str:
    """The ``pandas-`` id; a cell or label without a stable form is an ``UnsupportedColumnError``
    naming the column, as the build of the same frame raises."""
    h = new_hash(b"pandas:v2")
    source = source_name(df)
    columns, index = df.columns, df.index
    framed(h, json_bytes(list(df.shape)))
    labels = new_hash()
    for position, label in enumerate(columns.tolist()):
        try:
            framed(labels, _label_bytes(label))
        except _LabelFault as exc:
            dtype = str(df.dtypes.iloc[position])
            raise column_fault(source, label, position, dtype, f"its label {exc}") from None
    framed(h, labels.digest())
    for axis, names in (("columns", columns.names), ("index", index.names)):
        try:
            framed(h, _labels_bytes(names))
        except _LabelFault as exc:
            raise UnsupportedSourceError(f"{source}: a name of its {axis} {exc}") from None
    for level in range(index.nlevels):
        values = index.get_level_values(level)
        at = partial(index_fault, source, level, values.name, str(values.dtype))
        framed(h, _pandas_values_digest(values, at))
    for position, label in enumerate(columns.tolist()):
        series = df.iloc[:, position]
        at = partial(column_fault, source, label, position, str(series.dtype))
        framed(h, _pandas_values_digest(series, at))
    return "pandas-" + h.hexdigest()
