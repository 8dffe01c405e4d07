"""Buckaroo's names for columns and dtypes, as bundles store them.

Buckaroo renames columns by position to base-26 letter keys (a, b, ... z, ba,
bb, ...), which makes any label (int, tuple, duplicate) a safe field name; the
original label travels alongside as ``orig_col_name``.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["column_key", "pandas_dtype_name", "pandas_dtypes"]


def column_key(position: int) -> str:
    """Buckaroo's key for the column at ``position``: base 26 with 'a' as zero."""
    if position < 0:
        raise ValueError(f"column position must be >= 0, got {position}")
    digits = []
    while True:
        position, digit = divmod(position, 26)
        digits.append(chr(ord("a") + digit))
        if position == 0:
            return "".join(reversed(digits))


_NUMPY_NAMES = {
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.uint8(): "uint8",
    pa.uint16(): "uint16",
    pa.uint32(): "uint32",
    pa.uint64(): "uint64",
    pa.float16(): "float16",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.bool_(): "bool",
}


def pandas_dtype_name(t: pa.DataType) -> str:
    """The dtype pandas shows after ``Table.to_pandas()``, without importing pandas.

    Buckaroo displays ``str(series.dtype)``; a bundle built from a pandas frame
    records the frame's real dtype instead of this approximation.
    """
    if t in _NUMPY_NAMES:
        return _NUMPY_NAMES[t]
    if pa.types.is_dictionary(t):
        return "category"
    if pa.types.is_timestamp(t):
        return f"datetime64[{t.unit}, {t.tz}]" if t.tz else f"datetime64[{t.unit}]"
    if pa.types.is_duration(t):
        return f"timedelta64[{t.unit}]"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    return "object"


def pandas_dtypes(schema: pa.Schema) -> list[str]:
    """The dtype pandas shows for each column of ``schema``.

    A table written from pandas (to Parquet, or through ``Table.from_pandas``)
    records each column's pandas dtype in its schema metadata: that is what
    the frame showed, so it wins (a nullable boolean is ``boolean``, not
    ``bool``; an ``Int64`` stays ``Int64``). Columns without it get
    :func:`pandas_dtype_name` of their Arrow type.
    """
    recorded: dict[str, str] = {}
    try:
        metadata = schema.pandas_metadata or {}
    except (ValueError, TypeError):  # metadata that is not valid JSON: ignore it
        metadata = {}
    for column in metadata.get("columns") or []:
        if isinstance(column, dict) and isinstance(column.get("field_name"), str):
            dtype = _recorded_dtype(column)
            if dtype is not None:
                recorded[column["field_name"]] = dtype
    return [recorded.get(f.name) or pandas_dtype_name(f.type) for f in schema]


def _recorded_dtype(column: dict) -> str | None:
    """``str(dtype)`` from one column of pandas' metadata (numpy_type, adjusted as pandas does)."""
    numpy_type, pandas_type = column.get("numpy_type"), column.get("pandas_type")
    if not isinstance(numpy_type, str):
        return None
    if pandas_type == "categorical":
        return "category"
    if pandas_type == "datetimetz" and numpy_type.endswith("]"):
        zone = (column.get("metadata") or {}).get("timezone")
        return f"{numpy_type[:-1]}, {zone}]" if isinstance(zone, str) else numpy_type
    return numpy_type
