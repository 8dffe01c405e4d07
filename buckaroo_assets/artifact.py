"""Buckaroo's static-embed artifact, built from a stored bundle alone.

Buckaroo's viewer (``static-embed.js``) renders an *artifact*: the rows as
base64 Parquet, the summary stats as one wide Parquet row of
``<column key>__<stat>`` cells, and a ``df_viewer_config`` that says which stat
rows are pinned and how each column is displayed.  Buckaroo builds it by
running its pandas pipeline over the data; here it comes from the bundle's
exact stats and first window, so opening a dataset of any size costs the same
and needs neither the data nor pandas.

Display knobs (pinned rows, column overrides, formatting) only shape the
artifact: they never touch the bundle, its config_id or the data.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import io
import json
import math
import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .bundle import Bundle, same_label

__all__ = ["EMBED_TYPES", "SUMMARY_ROWS", "Display", "buckaroo_artifact", "json_safe"]

EMBED_TYPES = ("DFViewer", "Buckaroo")

#: Buckaroo's summary view: the stat rows its own artifact pins by default.
SUMMARY_ROWS = (
    "dtype", "non_null_count", "null_count", "unique_count", "distinct_count",
    "mean", "std", "min", "median", "max",
    "most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq",
)  # fmt: skip
_MAIN_ROWS = ("dtype", "histogram")
# Counts are whole numbers in every column: Buckaroo's "inherit" would show a timestamp
# column's count as a 1970 date and a float column's as "13.000".
_COUNT_ROWS = frozenset(
    {"length", "null_count", "non_null_count", "distinct_count", "unique_count", "empty_count"}
)
_WHOLE_NUMBER = {"displayer": "float", "min_fraction_digits": 0, "max_fraction_digits": 0}
# Stats in the order Buckaroo's pipeline emits them; the viewer reads the bins for colour maps.
_WIRE_ORDER = (
    "dtype", "null_count", "min", "max", "mean", "std", "median", "histogram_bins",
    "non_null_count", "most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq",
    "unique_count", "distinct_count", "histogram",
)  # fmt: skip
_NUMERIC_ONLY = frozenset({"min", "max", "mean", "std", "median"})  # as Buckaroo: null elsewhere
_INDEX = "index"

# Buckaroo's column-width estimate (customizations/styling.py), in pixels.
_CHAR_PX_DATA, _CHAR_PX_HEADER, _CELL_PAD, _SORT_ICON = 7, 8, 16, 14
_HISTOGRAM_MIN_PX, _MIN_COL_PX = 100, 30


@dataclass(frozen=True)
class Display:
    """How a bundle is shown; applied when reading, never part of the bundle.

    ``pinned_rows`` replaces the pinned stat rows (stat names, or Buckaroo's
    ``{"primary_key_val": ..., "displayer_args": ...}`` dicts) and
    ``extra_pinned_rows`` appends to them.  ``column_config_overrides`` maps
    a column's original label (or its key ``a``, ``b``, ...) to entries merged
    into that column's config, e.g. ``{"price": {"displayer_args":
    {"max_fraction_digits": 2}}}``.  ``rows`` limits the rows shown (the first
    window at most); string cells longer than ``max_cell_chars`` are cut.
    """

    pinned_rows: Sequence[str | Mapping[str, Any]] | None = None
    extra_pinned_rows: Sequence[str | Mapping[str, Any]] = ()
    column_config_overrides: Mapping[Hashable, Mapping[str, Any]] = field(default_factory=dict)
    rows: int | None = None
    max_cell_chars: int = 10_000
    float_digits: int = 3
    locale: str = "en-US"

    def __post_init__(self) -> None:
        if self.rows is not None and (not isinstance(self.rows, int) or self.rows < 0):
            raise ValueError(f"rows must be a non-negative int or None, got {self.rows!r}")
        if not isinstance(self.max_cell_chars, int) or self.max_cell_chars < 1:
            raise ValueError(f"max_cell_chars must be a positive int, got {self.max_cell_chars!r}")
        if not isinstance(self.float_digits, int) or not 0 <= self.float_digits <= 20:
            raise ValueError(f"float_digits must be an int in 0..20, got {self.float_digits!r}")


def buckaroo_artifact(
    bundle: Bundle, embed_type: str = "DFViewer", display: Display | None = None
) -> dict[str, Any]:
    """The artifact Buckaroo's ``static-embed.js`` renders, for ``embed_type`` DFViewer or Buckaroo."""
    if embed_type not in EMBED_TYPES:
        raise ValueError(f"embed_type must be 'DFViewer' or 'Buckaroo', got {embed_type!r}")
    display = display or Display()
    pinned = _pinned_rows(display, bundle)
    window = bundle.first_window
    if display.rows is not None:
        window = window.slice(0, display.rows)
    df_data = _window_payload(bundle, window, display)
    # Like Buckaroo, the stats of every view ride along, whichever is shown first.
    extra = {row["primary_key_val"].lstrip("?") for row in pinned} - set(_WIRE_ORDER)
    summary_stats = _stats_payload(bundle, [*_WIRE_ORDER, *sorted(extra)])
    viewer_config = _viewer_config(bundle, pinned, display)
    artifact: dict[str, Any] = {
        "embed_type": embed_type,
        "df_data": df_data,
        "df_viewer_config": viewer_config,
        "summary_stats_data": summary_stats,
    }
    if embed_type == "Buckaroo":
        summary = _viewer_config(bundle, _rows(SUMMARY_ROWS), display)
        main = _viewer_config(bundle, _rows(_MAIN_ROWS), display)
        artifact["df_display_args"] = {
            "main": {"data_key": "main", "df_viewer_config": main, "summary_stats_key": "all_stats"},
            "summary": {
                "data_key": "empty", "df_viewer_config": summary, "summary_stats_key": "all_stats",
            },
            "dfviewer_special": {
                "data_key": "empty", "df_viewer_config": viewer_config,
                "summary_stats_key": "all_stats",
            },
        }  # fmt: skip
        artifact["df_data_dict"] = {"main": df_data, "all_stats": summary_stats, "empty": []}
        artifact["df_meta"] = {
            "columns": len(bundle.stats),
            "filtered_rows": bundle.rows,
            "rows_shown": window.num_rows,
            "total_rows": bundle.rows,
        }
        artifact["buckaroo_options"] = {  # the display switcher; nothing else runs statically
            "sampled": [""],
            "auto_clean": [""],
            "post_processing": [""],
            "df_display": ["main", "summary", "dfviewer_special"],
            "show_commands": [""],
            "summary_stats": ["all"],
            "cleaning_method": [""],
        }
        artifact["buckaroo_state"] = {
            "cleaning_method": "",
            "post_processing": "",
            "sampled": False,
            "show_commands": False,
            "df_display": "main",
            "search_string": "",
            "quick_command_args": {},
        }
    return artifact


# ---------------------------------------------------------------- pinned rows


def _rows(names: Iterable[str]) -> list[dict[str, Any]]:
    return [_pinned_row(name) for name in names]


def _pinned_row(row: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(row, str):
        if row == "dtype":
            return {"primary_key_val": "dtype", "displayer_args": {"displayer": "obj"}}
        if row == "histogram":
            return {"primary_key_val": "histogram", "displayer_args": {"displayer": "histogram"}}
        if row in _COUNT_ROWS:
            return {"primary_key_val": row, "displayer_args": dict(_WHOLE_NUMBER)}
        return {"primary_key_val": row, "displayer_args": {"displayer": "inherit"}}
    if isinstance(row, Mapping) and isinstance(row.get("primary_key_val"), str):
        return dict(row)
    raise ValueError(f"a pinned row is a stat name or a dict with 'primary_key_val', got {row!r}")


def _pinned_rows(display: Display, bundle: Bundle) -> list[dict[str, Any]]:
    base = SUMMARY_ROWS if display.pinned_rows is None else display.pinned_rows
    rows = _rows(base) + _rows(display.extra_pinned_rows)
    known = {stat for entry in bundle.stats.values() for stat in entry} | set(_WIRE_ORDER)
    unknown = [r["primary_key_val"] for r in rows if r["primary_key_val"].lstrip("?") not in known]
    if unknown:
        raise ValueError(f"no such stat for pinned rows: {unknown}; known: {sorted(known)}")
    return rows


# ---------------------------------------------------------------- summary stats


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _stats_payload(bundle: Bundle, wanted: list[str]) -> dict[str, Any]:
    """One Parquet row of ``<key>__<stat>`` cells, encoded as Buckaroo's viewer decodes them."""
    names, arrays = [], []
    for (key, entry), column in zip(bundle.stats.items(), bundle.schema, strict=True):
        numeric = _is_numeric(column.type)
        for stat in wanted:
            value = None if stat in _NUMERIC_ONLY and not numeric else entry.get(stat)
            names.append(f"{key}__{stat}")
            arrays.append(_stat_cell(value))
    return _parquet_envelope(pa.Table.from_arrays(arrays, names=names), layout="wide")


def _stat_cell(value: Any) -> pa.Array:
    """Numbers and bools ride native Parquet types; everything else is JSON text."""
    if isinstance(value, bool | np.bool_):
        return _numbers([bool(value)], np.bool_, pa.bool_())
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if -(2**63) <= value < 2**63:
            return _numbers([value], np.int64, pa.int64())
        if 0 <= value < 2**64:
            return _numbers([value], np.uint64, pa.uint64())
        return _texts([json.dumps(str(value))])
    if isinstance(value, numbers.Real):
        value = float(value)
        return _numbers([value], np.float64, pa.float64(), valid=[not math.isnan(value)])
    if value is None:
        return _texts([None])
    return _texts([json.dumps(json_safe(value))])


# Arrays are assembled from buffers: pa.array() on Python values imports pandas to check
# for pandas objects, and the reader path must stay free of it.


def _validity(valid: list[bool]) -> pa.Buffer | None:
    if all(valid):
        return None
    return pa.py_buffer(np.packbits(np.array(valid, dtype=bool), bitorder="little").tobytes())


def _numbers(
    values: list[Any], dtype: Any, arrow_type: pa.DataType, valid: list[bool] | None = None
) -> pa.Array:
    valid = valid or [True] * len(values)
    data = np.array([v if ok else 0 for v, ok in zip(values, valid, strict=True)], dtype=dtype)
    if arrow_type == pa.bool_():
        data_buffer = pa.py_buffer(np.packbits(data, bitorder="little").tobytes())
    else:
        data_buffer = pa.py_buffer(data.tobytes())
    return pa.Array.from_buffers(arrow_type, len(values), [_validity(valid), data_buffer])


def _texts(values: list[str | None]) -> pa.Array:
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
    return str(value)


# ---------------------------------------------------------------- rows


def _window_payload(bundle: Bundle, window: pa.Table, display: Display) -> dict[str, Any]:
    """The rows under the column keys, plus ``index``/``level_0``; odd types become text."""
    arrays, json_columns = [], []
    for key, column in zip(bundle.stats, window.columns, strict=True):
        array, is_json = _display_column(column.combine_chunks(), display)
        arrays.append(array)
        if is_json:
            json_columns.append(key)
    index = _numbers(list(range(window.num_rows)), np.int64, pa.int64())
    names = [*bundle.stats, _INDEX, "level_0"]
    table = pa.Table.from_arrays([*arrays, index, index], names=names)
    return _parquet_envelope(table, json_columns=json_columns)


def _display_column(array: pa.Array, display: Display) -> tuple[pa.Array, bool]:
    """(array the viewer's Parquet decoder reads, whether its cells are JSON text)."""
    t = array.type
    if pa.types.is_dictionary(t):
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
    return _texts([None if v is None else encode(v) for v in array.to_pylist()])


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


# ---------------------------------------------------------------- column config


def _viewer_config(
    bundle: Bundle, pinned: list[dict[str, Any]], display: Display
) -> dict[str, Any]:
    has_histogram = any(r.get("displayer_args", {}).get("displayer") == "histogram" for r in pinned)
    overrides = _overrides_by_key(bundle, display.column_config_overrides)
    columns = [
        _column_config(key, entry, field.type, has_histogram, display, overrides.get(key))
        for (key, entry), field in zip(bundle.stats.items(), bundle.schema, strict=True)
    ]
    return {
        "pinned_rows": pinned,
        "column_config": columns,
        "left_col_configs": [
            {"col_name": _INDEX, "header_name": _INDEX, "displayer_args": {"displayer": "obj"}}
        ],
        "extra_grid_config": {},
        "component_config": {},
    }


def _overrides_by_key(
    bundle: Bundle, overrides: Mapping[Hashable, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    by_key: dict[str, Mapping[str, Any]] = {}
    for label, override in overrides.items():
        keys = [k for k, orig in bundle.columns if same_label(orig, label)]
        if not keys and isinstance(label, str) and label in bundle.stats:
            keys = [label]
        if not keys:
            raise KeyError(f"column_config_overrides: no column labelled {label!r}")
        if not isinstance(override, Mapping):
            raise ValueError(f"column_config_overrides[{label!r}] must be a dict")
        for key in keys:
            by_key[key] = override
    return by_key


def _column_type(t: pa.DataType) -> str:
    """Buckaroo's ``_type``, which picks a column's displayer."""
    if pa.types.is_dictionary(t):
        return _column_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view():
        return "string"
    if pa.types.is_date(t) or pa.types.is_time(t):
        return "time"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    return "obj"


def _column_config(
    key: str,
    entry: Mapping[str, Any],
    t: pa.DataType,
    has_histogram: bool,
    display: Display,
    override: Mapping[str, Any] | None,
) -> dict[str, Any]:
    kind = _column_type(t)
    config: dict[str, Any] = {}
    if kind == "integer":
        disp: dict[str, Any] = dict(_WHOLE_NUMBER)
    elif kind in ("float", "decimal"):
        digits = display.float_digits
        disp = {"displayer": "float", "min_fraction_digits": digits, "max_fraction_digits": digits}
    elif kind == "datetime":
        disp = {"displayer": "datetimeLocaleString", "locale": display.locale, "args": {}}
    elif kind == "duration":
        disp = {"displayer": "duration"}
    elif kind in ("string", "time"):
        disp = {"displayer": "string", "max_length": 35}
        config["tooltip_config"] = {"tooltip_type": "simple", "val_column": key}
    else:
        disp = {"displayer": "obj"}
        config["tooltip_config"] = {"tooltip_type": "simple", "val_column": key}
    override = dict(override or {})
    disp.update(override.pop("displayer_args", None) or {})
    config["displayer_args"] = disp
    label = entry["orig_col_name"]
    numeric = _is_numeric(t)
    width = _min_width(disp, str(label), entry if numeric else {}, has_histogram)
    config["ag_grid_specs"] = {"minWidth": width, **(override.pop("ag_grid_specs", None) or {})}
    config.update(override)
    if isinstance(label, tuple):
        config["col_path"] = [str(part) for part in label]
        config["field"] = key
    else:
        config["col_name"] = key
        config["header_name"] = str(label)
    return config


def _min_width(
    disp: Mapping[str, Any], header: str, stats: Mapping[str, Any], has_histogram: bool
) -> int:
    """Buckaroo's content-aware minimum column width."""
    kind = disp.get("displayer")
    affix = len(str(disp.get("prefix", ""))) + len(str(disp.get("suffix", "")))
    if kind == "float":
        extremes = [_finite(stats.get("min")), _finite(stats.get("max"))]
        biggest = max(abs(v) for v in extremes)
        int_digits = max(1, len(str(int(biggest))))
        frac = int(disp.get("max_fraction_digits", 0))
        chars = int_digits + (int_digits - 1) // 3 + (1 if frac else 0) + frac + affix
        chars += 1 if extremes[0] < 0 else 0
    elif kind == "string":
        chars = min(int(disp.get("max_length", 20)), 20)
    elif kind == "datetimeLocaleString":
        chars = 18
    elif kind == "duration":
        chars = 14
    else:
        chars = 8
    width = max(
        chars * _CHAR_PX_DATA + _CELL_PAD,
        len(header or " ") * _CHAR_PX_HEADER + _SORT_ICON + _CELL_PAD,
    )
    if has_histogram:
        width = max(width, _HISTOGRAM_MIN_PX)
    return max(width, _MIN_COL_PX)


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0
