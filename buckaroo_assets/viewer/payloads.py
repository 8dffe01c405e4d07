"""The two Parquet payloads of an artifact: the window's rows and the one wide row of stats.

Encoded as Buckaroo's ``static-embed.js`` decodes them.  Arrays are assembled
from buffers: ``pa.array()`` on Python values imports pandas to check for
pandas objects, and the reader path must stay free of it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import io
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..bundle.model import Bundle
from ..units import text_of
from .display import Display

__all__ = ["INDEX", "WIRE_ORDER", "is_numeric", "json_safe", "stats_payload", "window_payload"]

# Stats in the order Buckaroo's pipeline emits them; the viewer reads the bins for colour maps.
WIRE_ORDER = (
    "dtype", "null_count", "min", "max", "mean", "std", "median", "histogram_bins",
    "non_null_count", "most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq",
    "unique_count", "distinct_count", "histogram",
)  # fmt: skip
_NUMERIC_ONLY = frozenset({"min", "max", "mean", "std", "median"})  # as Buckaroo: null elsewhere
_RANGE = frozenset({"min", "max"})  # ... except the range of dates and times, worth seeing
INDEX = "index"


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def stats_payload(bundle: Bundle, wanted: list[str]) -> dict[str, Any]:
    """One Parquet row of ``<key>__<stat>`` cells, encoded as Buckaroo's viewer decodes them."""
    names, arrays = [], []
    for (key, entry), column in zip(bundle.stats.items(), bundle.schema, strict=True):
        numeric = is_numeric(column.type)
        temporal = pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)
        for stat in wanted:
            shown = numeric or (temporal and stat in _RANGE)
            value = None if stat in _NUMERIC_ONLY and not shown else entry.get(stat)
            if isinstance(value, _dt.datetime):  # naive: a wall time, which the viewer shows in UTC
                value = value.isoformat() + ("" if value.tzinfo else "Z")
            names.append(f"{key}__{stat}")
            arrays.append(_stat_cell(value))
    return _parquet_envelope(pa.Table.from_arrays(arrays, names=names), layout="wide")


def _stat_cell(value: Any) -> pa.Array:
    """Numbers and bools ride native Parquet types; everything else is JSON text."""
    if isinstance(value, bool | np.bool_):
        return number_array([bool(value)], np.bool_, pa.bool_())
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if -(2**63) <= value < 2**63:
            return number_array([value], np.int64, pa.int64())
        if 0 <= value < 2**64:
            return number_array([value], np.uint64, pa.uint64())
        return text_array([json.dumps(str(value))])
    if isinstance(value, numbers.Real):
        value = float(value)
        return number_array([value], np.float64, pa.float64(), valid=[not math.isnan(value)])
    if value is None:
        return text_array([None])
    return text_array([json.dumps(json_safe(value))])


def _validity(valid: list[bool]) -> pa.Buffer | None:
    if all(valid):
        return None
    return pa.py_buffer(np.packbits(np.array(valid, dtype=bool), bitorder="little").tobytes())


def number_array(
    values: list[Any], dtype: Any, arrow_type: pa.DataType, valid: list[bool] | None = None
) -> pa.Array:
    valid = valid or [True] * len(values)
    data = np.array([v if ok else 0 for v, ok in zip(values, valid, strict=True)], dtype=dtype)
    if arrow_type == pa.bool_():
        data_buffer = pa.py_buffer(np.packbits(data, bitorder="little").tobytes())
    else:
        data_buffer = pa.py_buffer(data.tobytes())
    return pa.Array.from_buffers(arrow_type, len(values), [_validity(valid), data_buffer])


def text_array(values: list[str | None]) -> pa.Array:
    encoded = [b"" if v is None else v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buffers = [
        _validity([v is not None for v in values]),
        pa.py_buffer(offsets.tobytes()),
        pa.py_buffer(b"".join(encoded)),
    ]
    return pa.Array.from_buffers(pa.large_string(), len(values), buffers)


def json_safe(value: Any) -> Any:
    """What JSON.parse can read back: str keys, no NaN, readable text for dates and bytes."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) else value if math.isfinite(value) else str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return text_of(value)


def window_payload(bundle: Bundle, window: pa.Table, display: Display) -> dict[str, Any]:
    """The rows under the column keys, plus ``index``/``level_0``; odd types become text."""
    arrays, json_columns = [], []
    for key, column in zip(bundle.stats, window.columns, strict=True):
        array, is_json = _display_column(column.combine_chunks(), display)
        arrays.append(array)
        if is_json:
            json_columns.append(key)
    index = number_array(list(range(window.num_rows)), np.int64, pa.int64())
    names = [*bundle.stats, INDEX, "level_0"]
    table = pa.Table.from_arrays([*arrays, index, index], names=names)
    return _parquet_envelope(table, json_columns=json_columns)


def _display_column(array: pa.Array, display: Display) -> tuple[pa.Array, bool]:
    """(array the viewer's Parquet decoder reads, whether its cells are JSON text)."""
    t = array.type
    if pa.types.is_dictionary(t):
        if t.value_type == pa.string_view():  # Arrow cannot take() from string views
            array = array.cast(pa.dictionary(t.index_type, pa.large_string()))
        return _display_column(array.dictionary_decode(), display)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view():
        text = array.cast(pa.large_string())
        return pc.utf8_slice_codeunits(text, 0, display.max_cell_chars), False
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_float64(t):
        return array, False
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return array.cast(pa.float64()), False
    if pa.types.is_timestamp(t):
        return array.cast(pa.timestamp("us", t.tz), safe=False), False
    if pa.types.is_date(t) or pa.types.is_time(t):
        text = array.cast(pa.large_string())
        return pc.replace_substring_regex(text, r"\.0+$", ""), False
    if pa.types.is_duration(t):  # microseconds: nanoseconds would come back as pandas objects
        return _cells(array.cast(pa.duration("us"), safe=False), _iso_duration), False
    return _cells(array, lambda v: json.dumps(json_safe(v))[: display.max_cell_chars]), True


def _cells(array: pa.Array, encode: Any) -> pa.Array:
    """Text of each cell of a bounded window, for types the viewer cannot decode natively."""
    return text_array([None if v is None else encode(v) for v in array.to_pylist()])


def _iso_duration(value: _dt.timedelta) -> str:
    """ISO 8601 (``P1DT2H3M4.5S``), which Buckaroo's duration displayer reads."""
    sign = "-" if value < _dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    secs = f"{seconds + value.microseconds / 1e6:g}"
    return f"{sign}P{value.days}DT{hours}H{minutes}M{secs}S"


def _parquet_envelope(
    table: pa.Table, *, layout: str | None = None, json_columns: list[str] | None = None
) -> dict[str, Any]:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    envelope: dict[str, Any] = {
        "format": "parquet_b64",
        "data": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }
    if layout is not None:
        envelope["layout"] = layout
    if json_columns is not None:
        envelope["json_columns"] = json_columns
    return envelope
