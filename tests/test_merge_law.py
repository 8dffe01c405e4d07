"""Accumulators merge: stats(concat(A, B)) == merge(stats(A), stats(B)).

Exact stats must be equal, float moments included (they come from exact sums);
sketched stats (past the distinct threshold) only have to stay within their
error bound.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.stats.accumulators import accumulator_for
from tests.oracle import expected_stats, same

FLOAT_MOMENTS = {"mean", "std", "sum"}

ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=300)
small_ints = st.lists(st.one_of(st.none(), st.integers(-20, 20)), max_size=300)
floats = st.lists(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64)), max_size=300
)
texts = st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=300)
COLUMNS = {
    "int64": (ints, pa.int64()),
    "small_int64": (small_ints, pa.int64()),
    "float64": (floats, pa.float64()),
    "string": (texts, pa.string()),
    "bool": (st.lists(st.one_of(st.none(), st.booleans()), max_size=300), pa.bool_()),
}


def _stats(parts: list[list], arrow_type: pa.DataType, config: ba.StatsConfig) -> dict:
    accumulators = []
    for part in parts:
        accumulator = accumulator_for(arrow_type, config)
        accumulator.update(pa.array(part, type=arrow_type, from_pandas=True))
        accumulators.append(accumulator)
    merged = accumulators[0]
    for other in accumulators[1:]:
        merged.merge(other)
    return merged.result()


def _assert_law(values: list, cut: int, arrow_type: pa.DataType, config: ba.StatsConfig) -> None:
    cut = min(cut, len(values))
    whole = _stats([values], arrow_type, config)
    merged = _stats([values[:cut], values[cut:]], arrow_type, config)
    for key, want in whole.items():
        got = merged[key]
        assert got == want or same(got, want), (key, got, want)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(COLUMNS)), cut=st.integers(0, 300))
def test_merge_law_exact(data: st.DataObject, name: str, cut: int) -> None:
    strategy, arrow_type = COLUMNS[name]
    _assert_law(data.draw(strategy), cut, arrow_type, ba.StatsConfig())


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(COLUMNS)))
def test_stats_match_oracle_property(data: st.DataObject, name: str) -> None:
    strategy, arrow_type = COLUMNS[name]
    values = data.draw(strategy)
    stats = _stats([values], arrow_type, ba.StatsConfig())
    series = pd.Series(pa.array(values, type=arrow_type, from_pandas=True).to_pandas())
    if arrow_type == pa.int64():
        series = pd.Series(values, dtype="Int64")
    for key, want in expected_stats(series).items():
        if key == "histogram_bins":
            continue  # covered with fixed data in test_stats_oracle
        if key in FLOAT_MOMENTS and arrow_type == pa.float64() and not same(stats[key], want, rel=1e-9):
            # pandas squares and sums in floats, which overflow (std of [0, 1.9e154] is
            # inf there) or cancel; then the exact rational value is the oracle.
            want = _exact_float_moments(values)[key]
        rel = 1e-9 if key in FLOAT_MOMENTS else 0.0
        assert same(stats[key], want, rel=rel), (key, stats[key], want)


def _exact_float_moments(values: list) -> dict[str, float]:
    finite = [Fraction(v) for v in values if v is not None and math.isfinite(v)]
    assert len(finite) == len([v for v in values if v is not None and not math.isnan(v)]), "infinities"
    n, total = len(finite), sum(finite, Fraction(0))
    variance = (n * sum(v * v for v in finite) - total * total) / (n * (n - 1)) if n > 1 else None
    return {
        "sum": _rounded(total),
        "mean": float(total / n),
        "std": None if variance is None else _rounded(_root(variance)),
    }


def _root(value: Fraction) -> Fraction:
    """The square root, exact to 2**-64."""
    return Fraction(math.isqrt(value.numerator * (1 << 128) // value.denominator), 1 << 64)


def _rounded(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:  # the exact value is past the largest float
        return math.inf if value > 0 else -math.inf
