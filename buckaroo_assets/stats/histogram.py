"""Buckaroo-shaped histograms computed from exact counts or a weighted summary.

Buckaroo draws a numeric histogram from the values strictly between the 1st
and 99th percentile (the "meat", in equal-width bins, populations as rounded
percentages of the meat) framed by two tail markers; every other column gets a
categorical histogram of its most frequent values. Both are produced here
from (sorted distinct values, weights), so one function serves exact counts and
sketches alike.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

TOP_CATEGORIES = 7


def lerp(a: float, b: float, t: float) -> float:
    """numpy's quantile interpolation, reproduced bit for bit."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def quantile(values: np.ndarray, cumulative: np.ndarray, q: float) -> float:
    """numpy's default ('linear') quantile of the multiset values x counts."""
    n = int(cumulative[-1])
    position = (n - 1) * q
    below = math.floor(position)
    lo = _value_at_rank(values, cumulative, below)
    hi = _value_at_rank(values, cumulative, min(below + 1, n - 1))
    return lerp(float(lo), float(hi), position - below)


def median(values: np.ndarray, cumulative: np.ndarray) -> float:
    """numpy's median: the middle value, or the mean of the two middle ones."""
    n = int(cumulative[-1])
    lo = float(_value_at_rank(values, cumulative, (n - 1) // 2))
    if n % 2:
        return lo
    return (lo + float(_value_at_rank(values, cumulative, n // 2))) / 2


def _value_at_rank(values: np.ndarray, cumulative: np.ndarray, rank: float) -> Any:
    return values[np.searchsorted(cumulative, rank, side="right")]


def numeric_histogram(
    values: np.ndarray, cumulative: np.ndarray, bins: int, null_fraction: float
) -> tuple[list[dict] | None, list[float]]:
    """Buckaroo's tails-and-meat histogram and the meat's bin edges.

    ``values`` are sorted distinct values, ``cumulative`` the running total of
    their counts. The histogram is None where Buckaroo would draw a categorical
    one instead (five or fewer distinct values); the edges are reported
    whenever the meat exists.
    """
    if len(values) == 0:
        return None, []
    low = quantile(values, cumulative, 0.01)
    high = quantile(values, cumulative, 0.99)
    as_float = values.astype(np.float64, copy=False)
    # values are sorted: the meat is one slice, and each bin's population is a
    # difference of cumulative weights at its edges (np.histogram's own binning:
    # [lo, hi) per bin, the last one closed), found by binary search.
    start = int(np.searchsorted(as_float, low, side="right"))
    stop = int(np.searchsorted(as_float, high, side="left"))
    if start >= stop:
        return None, []
    meat = as_float[start:stop]
    edges = _equal_bins(float(meat[0]), float(meat[-1]), bins)
    if edges is None:
        return None, []
    cuts = np.searchsorted(meat, edges, side="left")
    cuts[-1] = len(meat)  # the last bin includes its upper edge
    # Rows below each cut: the running total just before it (the meat's own
    # offset cancels in the differences).
    before = start + cuts - 1
    below = np.where(before >= 0, cumulative[np.maximum(before, 0)], 0)
    populations = np.diff(below).astype(np.float64)
    if len(values) <= 5:
        return None, [float(e) for e in edges]
    step = (edges[-1] - edges[0]) / max(len(edges) - 1, 1)
    ref = max(abs(edges[0]), abs(edges[-1]))
    shares = np.round(populations.astype(np.float64) / populations.sum() * 100, 0)
    bounds = edges.tolist()
    texts = _labels(bounds, step, ref)  # each edge bounds two bins: formatted once
    entries: list[dict] = [{"name": _tail_label(float(as_float[0]), low, step), "tail": 1}]
    for lo_text, hi_text, share in zip(texts[:-1], texts[1:], shares.tolist(), strict=True):
        entries.append({"name": _join(lo_text, hi_text), "population": share})
    entries.append({"name": _tail_label(high, float(as_float[-1]), step), "tail": 1})
    entries.extend(_na_entry(null_fraction))
    return entries, bounds


def _equal_bins(lo: float, hi: float, bins: int) -> np.ndarray | None:
    """np.histogram_bin_edges(meat, bins) of sorted meat from lo to hi, bit for bit,
    without its passes over the meat for extremes it already has; None where numpy
    refuses (a range that is not finite, or too many bins for it)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1, endpoint=True, dtype=np.float64)
    if np.any(edges[:-1] >= edges[1:]):  # "too many bins for data range"
        return None
    return edges


def categorical_histogram(
    top_names: list[str],
    top_counts: list[int],
    rest_count: int,
    unique_count: int | None,
    length: int,
    null_fraction: float,
) -> list[dict]:
    """Most frequent values as shares of all rows, then long tail, uniques and NA."""
    if length == 0:
        return []
    if null_fraction == 1.0:
        return _na_entry(null_fraction)
    entries: list[dict] = []
    for name, count in zip(top_names, top_counts, strict=True):
        share = float(np.round(count / length * 100, 0))
        if share > 0.3:
            entries.append({"name": name, "cat_pop": share})
    singles = unique_count or 0
    long_tail = rest_count - singles
    if long_tail > 0:
        entries.append({"name": "longtail", "longtail": float(np.round(long_tail / length * 100, 0))})
    if singles > 0:
        entries.append({"name": "unique", "unique": float(np.round(singles / length * 100, 0))})
    entries.extend(_na_entry(null_fraction))
    return entries


def _na_entry(null_fraction: float) -> list[dict]:
    if null_fraction > 0.0:
        return [{"name": "NA", "NA": float(np.round(null_fraction * 100, 0))}]
    return []


_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def _fmt(value: float, step: float, ref: float) -> str:
    return _labels([value], step, ref)[0]


def _labels(values: list[float], step: float, ref: float) -> list[str]:
    """Labels of values on one scale (bins ``step`` wide near ``ref``); a value within a
    billionth of a bin of zero is shown as zero."""
    divisor, suffix, decimals = _scale(step, ref)
    tiny = step * 1e-9 if step > 0 else -1.0
    return [
        _trim(f"{(0.0 if abs(v) < tiny else v) / divisor:.{decimals}f}") + suffix  # x / 1.0 is x
        for v in values
    ]


@lru_cache(maxsize=1024)
def _scale(step: float, ref: float) -> tuple[float, str, int]:
    """Divisor, suffix and decimals for labels of bins ``step`` wide near ``ref``: the same
    for every edge of a histogram, so worked out once per histogram."""
    for threshold, suffix in _SUFFIXES:
        if ref >= threshold:
            scaled_step = step / threshold
            decimals = max(0, -math.floor(math.log10(scaled_step)) + 1) if scaled_step > 0 else 1
            return threshold, suffix, min(decimals, 2)
    decimals = max(0, -math.floor(math.log10(step)) + 1) if step > 0 else 0
    return 1.0, "", min(decimals, 6)


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _join(lo: str, hi: str) -> str:
    return f"{lo}{'<>' if lo.startswith('-') or hi.startswith('-') else '–'}{hi}"


def _tail_label(lo: float, hi: float, step: float) -> str:
    return _join(_fmt(lo, step, abs(lo)), _fmt(hi, step, abs(hi)))
