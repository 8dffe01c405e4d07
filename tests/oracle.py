"""An independent pandas/numpy computation of the stats, to check the engine against.

Written from the definitions (Buckaroo's, plus ours for ties and exactness),
not from the engine's code: value_counts instead of sorted runs, np.quantile
and np.histogram over the raw values instead of weighted distinct values.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

FREQ_KEYS = ["most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq"]


def ranked_values(series: pd.Series) -> tuple[list[Any], list[int]]:
    """Distinct non-null values by count descending, ties by value ascending."""
    counts = series.dropna().value_counts(dropna=True)
    pairs = sorted(zip(counts.index, counts.to_numpy(), strict=True), key=lambda p: (-p[1], p[0]))
    return [v for v, _ in pairs], [int(c) for _, c in pairs]


def expected_stats(series: pd.Series) -> dict[str, Any]:
    """The stats for one column that an exact engine must reproduce."""
    is_bool = pd.api.types.is_bool_dtype(series) or _all_bool(series)
    numeric = pd.api.types.is_numeric_dtype(series) and not is_bool
    present = series.dropna()
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = present.astype(object)  # summarised by value, like any text
    values, counts = ranked_values(series)
    out: dict[str, Any] = {
        "length": len(series),
        "null_count": int(series.isna().sum()),
        "non_null_count": int(series.notna().sum()),
        "distinct_count": len(values),  # pandas' nunique: 0 for a column without values
        "unique_count": sum(1 for c in counts if c == 1),
    }
    for key, value in zip(FREQ_KEYS, values + [None] * 5, strict=False):
        out[key] = value
    if len(present):
        out["min"], out["max"] = present.min(), present.max()
        if isinstance(series.dtype, pd.CategoricalDtype) and series.dtype.ordered:
            out["min"], out["max"] = series.min(), series.max()  # in category order
    if numeric and len(present):
        finite = present[np.isfinite(present.astype(float))]
        has_inf = len(finite) != len(present)
        if pd.api.types.is_integer_dtype(series):
            # Python ints: exact where numpy would wrap around or round.
            exact_sum = sum(int(v) for v in present)
            out["sum"], out["mean"] = exact_sum, exact_sum / len(present)
        else:
            wide = present.astype(np.float64)  # pandas would accumulate float32 in float32
            out["sum"], out["mean"] = float(wide.sum()), float(wide.mean())
        wide = present.astype(np.float64)
        out["std"] = float(wide.std()) if len(present) > 1 or has_inf else None
        out["median"] = float(present.median())
        out["histogram_bins"] = meat_edges(present.to_numpy(dtype=float))
    return out


def meat_edges(values: np.ndarray) -> list[float]:
    """Buckaroo's histogram edges: 10 bins over values strictly inside the 1st-99th percentile."""
    low, high = np.quantile(values, 0.01), np.quantile(values, 0.99)
    meat = values[(values > low) & (values < high)]
    if len(meat) == 0:
        return []
    try:
        return [float(e) for e in np.histogram(meat, 10)[1]]
    except ValueError:
        return []


def meat_populations(values: np.ndarray) -> list[float]:
    low, high = np.quantile(values, 0.01), np.quantile(values, 0.99)
    meat = values[(values > low) & (values < high)]
    populations = np.histogram(meat, 10)[0]
    return [float(p) for p in np.round(populations / populations.sum() * 100, 0)]


def _all_bool(series: pd.Series) -> bool:
    present = series.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)


def same(a: Any, b: Any, *, rel: float = 0.0) -> bool:
    """Equality that treats NaN as equal to NaN and allows a relative float tolerance."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=0.0)
    a, b = _pandas_temporal(a), _pandas_temporal(b)
    if isinstance(a, pd.Timestamp | pd.Timedelta) or isinstance(b, pd.Timestamp | pd.Timedelta):
        return a == b
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    return a == b and (type(a) is type(b) or {type(a), type(b)} <= {int, float})


def _pandas_temporal(value: Any) -> Any:
    """Arrow scalars (kept for nanosecond values) and datetimes as pandas values."""
    if isinstance(value, pa.TimestampScalar):
        return pd.Timestamp(value.value, unit=value.type.unit, tz=value.type.tz)
    if isinstance(value, pa.DurationScalar):
        return pd.Timedelta(value.value, unit=value.type.unit)
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value)
    if isinstance(value, dt.timedelta):
        return pd.Timedelta(value)
    return value
