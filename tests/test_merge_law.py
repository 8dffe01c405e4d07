"""Accumulators merge: stats(concat(A, B)) == merge(stats(A), stats(B)).

Exact stats must be equal; float moments may differ in the last bits (they are
summed in a different order) so they get a tight relative tolerance; sketched
stats (past the distinct threshold) only have to stay within their error bound.
"""

from __future__ import annotations

import math

import numpy as np
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
        if key in FLOAT_MOMENTS and isinstance(want, float):
            assert same(got, want, rel=1e-9) or (
                math.isfinite(want) and abs(got - want) < 1e-9 * (1 + abs(want))
            ), (key, got, want)
        else:
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
        rel = 1e-9 if key in FLOAT_MOMENTS else 0.0
        assert same(stats[key], want, rel=rel), (key, stats[key], want)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(0, 10**12), min_size=50, max_size=2_000),
    cut=st.integers(0, 2_000),
)
def test_merge_law_past_the_threshold(values: list[int], cut: int) -> None:
    config = ba.StatsConfig(distinct_threshold=20, hll_precision=10)
    cut = min(cut, len(values))
    whole = _stats([values], pa.int64(), config)
    merged = _stats([values[:cut], values[cut:]], pa.int64(), config)
    for key in ("length", "null_count", "min", "max", "sum", "mean"):
        assert merged[key] == whole[key], key
    truth = len(set(values))
    if truth > 20:
        assert merged["distinct_count_exact"] is False
        # HLL registers merge by max, so merged and whole estimate alike; each is clamped to
        # what its parts counted exactly (more than the threshold) and to the rows.
        for stats in (merged, whole):
            assert 20 < stats["distinct_count"] <= len(values)
            assert abs(stats["distinct_count"] - truth) <= max(3, 0.15 * truth)


def test_merge_of_many_parts_equals_whole_on_real_sizes() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 5_000, 200_000).tolist()
    parts = [values[i : i + 30_001] for i in range(0, len(values), 30_001)]
    config = ba.StatsConfig()
    assert _stats(parts, pa.int64(), config) == _stats([values], pa.int64(), config)
