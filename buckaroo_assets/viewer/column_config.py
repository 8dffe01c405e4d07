"""The ``df_viewer_config``: pinned stat rows and each column's displayer, width and tooltip.

Follows Buckaroo's own choices (``customizations/styling.py``) so a page from a
bundle looks like one Buckaroo renders from the data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from ..bundle.model import Bundle, same_label
from .display import Display
from .payloads import INDEX, WIRE_ORDER, is_numeric

__all__ = ["SUMMARY_ROWS", "pinned_rows", "stat_rows", "viewer_config"]

#: Buckaroo's summary view: the stat rows its own artifact pins by default.
SUMMARY_ROWS = (
    "dtype", "non_null_count", "null_count", "unique_count", "distinct_count",
    "mean", "std", "min", "median", "max",
    "most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq",
)  # fmt: skip
# Counts are whole numbers in every column: Buckaroo's "inherit" would show a timestamp
# column's count as a 1970 date and a float column's as "13.000".
_COUNT_ROWS = frozenset(
    {"length", "null_count", "non_null_count", "distinct_count", "unique_count", "empty_count"}
)
_WHOLE_NUMBER = {"displayer": "float", "min_fraction_digits": 0, "max_fraction_digits": 0}

# Buckaroo's column-width estimate (customizations/styling.py), in pixels.
_CHAR_PX_DATA, _CHAR_PX_HEADER, _CELL_PAD, _SORT_ICON = 7, 8, 16, 14
_HISTOGRAM_MIN_PX, _MIN_COL_PX = 100, 30


def stat_rows(names: Iterable[str]) -> list[dict[str, Any]]:
    return [pinned_row(name) for name in names]


def pinned_row(row: str | Mapping[str, Any]) -> dict[str, Any]:
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


def pinned_rows(display: Display, bundle: Bundle) -> list[dict[str, Any]]:
    base = SUMMARY_ROWS if display.pinned_rows is None else display.pinned_rows
    rows = stat_rows(base) + stat_rows(display.extra_pinned_rows)
    known = {stat for entry in bundle.stats.values() for stat in entry} | set(WIRE_ORDER)
    unknown = [r["primary_key_val"] for r in rows if r["primary_key_val"].lstrip("?") not in known]
    if unknown:
        raise ValueError(f"no such stat for pinned rows: {unknown}; known: {sorted(known)}")
    return rows


def viewer_config(
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
            {"col_name": INDEX, "header_name": INDEX, "displayer_args": {"displayer": "obj"}}
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


def timestamp_format(t: pa.TimestampType) -> dict[str, Any]:
    """``Intl.DateTimeFormat`` options: date and time of day, in the column's own zone.

    Naive timestamps are wall times, shown as they are (formatted in UTC,
    where the viewer decodes them); zone-aware ones in their zone, named. A
    zone the browser may not know (not an IANA name) is shown in UTC, named.
    """
    options: dict[str, Any] = {
        "year": "numeric", "month": "2-digit", "day": "2-digit",
        "hour": "2-digit", "minute": "2-digit", "second": "2-digit",
        "hourCycle": "h23", "timeZone": "UTC",
    }  # fmt: skip
    if pa.types.is_dictionary(t):
        t = t.value_type
    if t.tz is not None:
        options["timeZone"] = t.tz if t.tz in _iana_zones() else "UTC"
        options["timeZoneName"] = "short"
    return options


@functools.cache
def _iana_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


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
        disp = {
            "displayer": "datetimeLocaleString",
            "locale": display.locale,
            "args": timestamp_format(t),
        }
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
    numeric = is_numeric(t)
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
    elif kind == "datetimeLocaleString":  # "06/01/2025, 14:05:30 GMT+5:30"
        chars = 30 if "timeZoneName" in (disp.get("args") or {}) else 20
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
