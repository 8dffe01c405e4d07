"""Exact float sums: the C kernel and the numpy fallback against rational arithmetic."""

from __future__ import annotations

import math
import random
import sys
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.stats import exact_sums
from buckaroo_assets.stats.exact_sums import FLOAT_SQUARE_SCALE, FLOAT_SUM_SCALE, exact_float_sums

finite = st.floats(allow_nan=False, allow_infinity=False)
# Values that stress the edges: subnormals, the largest float, and their neighbours.
edges = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, sys.float_info.max, -sys.float_info.max, 1.0, -0.0])


def _oracle(values: list[float]) -> tuple[Fraction, Fraction]:
    return sum(map(Fraction, values), Fraction(0)), sum((Fraction(v) ** 2 for v in values), Fraction(0))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(finite, edges), max_size=200))
def test_sums_are_exact_and_both_paths_agree(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    total, squares = exact_float_sums(array)
    expected_total, expected_squares = _oracle(values)
    assert Fraction(total, 1 << FLOAT_SUM_SCALE) == expected_total
    assert Fraction(squares, 1 << FLOAT_SQUARE_SCALE) == expected_squares
    assert exact_sums._float_sums_numpy(array) == (total, squares)


def test_sums_past_the_kernels_chunk_of_two_million_stay_exact() -> None:
    # 2**21 + 3 copies of the largest float: the per-exponent 128-bit totals are
    # folded every 2**21 values, so the squares must not wrap around.
    n = (1 << 21) + 3
    largest = sys.float_info.max
    total, squares = exact_float_sums(np.full(n, largest))
    assert Fraction(total, 1 << FLOAT_SUM_SCALE) == n * Fraction(largest)
    assert Fraction(squares, 1 << FLOAT_SQUARE_SCALE) == n * Fraction(largest) ** 2


def test_non_finite_values_are_refused_by_both_paths() -> None:
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="finite"):
            exact_float_sums(np.array([1.0, bad]))
        with pytest.raises(ValueError, match="finite"):
            exact_sums._float_sums_numpy(np.array([1.0, bad]))


def _rounded(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:  # past the largest float, as a float sum overflows
        return math.inf if value > 0 else -math.inf


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(finite, edges), min_size=2, max_size=300), st.randoms(use_true_random=False))
def test_mean_std_and_sum_are_the_rounded_exact_values_in_any_row_order(
    values: list[float], shuffler: random.Random
) -> None:
    total, squares = _oracle(values)
    n = len(values)
    expected_mean = float(total / n)
    variance = (n * squares - total * total) / (n * (n - 1))
    expected_std = _rounded(Fraction(math.isqrt((variance.numerator << 128) // variance.denominator), 1 << 64))
    expected_sum = _rounded(total)
    shuffled = list(values)
    shuffler.shuffle(shuffled)
    for order in (values, shuffled):
        stats = ba.build_bundle(pa.table({"x": order}), data_id="x").column_stats("x")
        assert stats["mean"] == expected_mean
        assert stats["sum"] == expected_sum
        assert stats["std"] == pytest.approx(expected_std, rel=1e-12)
        assert stats["std"] == ba.build_bundle(pa.table({"x": values}), data_id="x").column_stats("x")["std"]


def test_cancellation_that_defeats_float_sums_does_not_change_the_std() -> None:
    # A float running sum of these loses the small terms entirely.
    values = [1e17, 3.0, -1e17, 4.0] * 1000
    stats = ba.build_bundle(pa.table({"x": values}), data_id="x").column_stats("x")
    assert stats["sum"] == 7000.0
    assert stats["mean"] == 1.75
    exact_variance = (Fraction(len(values)) * sum(Fraction(v) ** 2 for v in values) - 7000**2) / (
        len(values) * (len(values) - 1)
    )
    assert stats["std"] == math.sqrt(exact_variance)
