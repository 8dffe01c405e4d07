"""Past the distinct threshold, the sketches keep their documented bounds whatever the row order.

The bounds (docs/stats.md): any quantile within ``sketch_error["rank"]`` of the
rows; each histogram bin's share within 1 percentage point of the true share
of rows in its range; each frequent value's count at most
``sketch_error["count"]`` below the truth and never above it; the distinct
count between what was counted exactly (more than the threshold) and the rows.
Each is checked against the data itself, on orders built to break a sampler:
periodic with power-of-two and other periods, sorted, reversed, long constant
regimes, and a heavy hitter hidden in a periodic pattern.
"""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.stats.frequent import FrequentValues, _cut

N = 200_000
THRESHOLD = 1_000
RNG = np.random.default_rng(11)


def _periodic(period: int) -> np.ndarray:
    levels = RNG.normal(size=period) * 100
    return np.tile(levels, N // period + 1)[:N]


def _hidden_heavy_hitter() -> np.ndarray:
    values = RNG.normal(size=N) * 100
    values[::20] = 42.0  # 5 % of the rows, on a stride a strided sampler would hit or miss
    return values


ORDERS = {
    "periodic 4096": lambda: _periodic(4096),
    "periodic 3000": lambda: _periodic(3000),
    "periodic 2 levels": lambda: np.tile([0.0, 1.0], N // 2) + np.arange(N) * 1e-9,
    "random": lambda: RNG.normal(size=N) * 100,
    "sorted": lambda: np.sort(RNG.normal(size=N) * 100),
    "reverse sorted": lambda: np.sort(RNG.normal(size=N) * 100)[::-1].copy(),
    "constant regimes": lambda: np.repeat(RNG.normal(size=40) * 100, N // 40)
    + np.tile(np.arange(N // 40) * 1e-6, 40),
    "skewed ints": lambda: RNG.zipf(1.3, N).astype(np.float64),
    "hidden heavy hitter": _hidden_heavy_hitter,
}


def _sketched(values: np.ndarray, sketch_size: int = 16_384) -> dict:
    config = ba.StatsConfig(distinct_threshold=THRESHOLD, sketch_size=sketch_size)
    stats = ba.build_bundle(pa.table({"x": values}), data_id="sketched", config=config).stats["a"]
    return stats


def check_bounds(
    values: np.ndarray, stats: dict, *, threshold: int = THRESHOLD, sketch_size: int = 16_384
) -> None:
    """Every documented bound, checked against ``values`` (the column's non-null values)."""
    n = len(values)
    ordered = np.sort(values)
    truth = collections.Counter(values.tolist())
    assert stats["distinct_count_exact"] is False
    rank_bound, count_bound = stats["sketch_error"]["rank"], stats["sketch_error"]["count"]
    assert rank_bound == 3 / (sketch_size // 4) and count_bound <= n / (sketch_size + 1)

    # Distinct count: clamped to [counted exactly, rows].
    assert threshold < stats["distinct_count"] <= n

    # Median: the rank of the reported value is within the bound of the middle.
    median = stats["median"]
    below = np.searchsorted(ordered, median, side="left") / n
    through = np.searchsorted(ordered, median, side="right") / n
    assert below - rank_bound <= 0.5 <= through + rank_bound, (below, through, rank_bound)

    # Frequent values: lower bounds, short by at most the count bound.
    for key in ("most_freq", "2nd_freq", "3rd_freq", "4th_freq", "5th_freq"):
        if stats[key] is not None:
            true_count = truth[stats[key]]
            assert true_count >= 2
    top_count = truth.most_common(1)[0][1]
    if top_count > count_bound + 1:  # a value that heavy cannot be missed or outranked by much
        assert truth[stats["most_freq"]] >= top_count - count_bound

    # Histogram: each bin's share of the meat within 1 point of the truth in its range.
    edges = stats["histogram_bins"]
    shares = [e["population"] for e in stats["histogram"] if "population" in e]
    if shares:
        low, high = edges[0], edges[-1]
        meat = values[(values >= low) & (values <= high)]
        counts, _ = np.histogram(meat, bins=np.array(edges))
        true_shares = counts / max(len(meat), 1) * 100
        worst = max(abs(s - t) for s, t in zip(shares, true_shares, strict=True))
        assert worst <= 1.0, (shares, true_shares.round(2).tolist())


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_sketch_bounds_hold_on_adversarial_orders(order: str) -> None:
    values = ORDERS[order]()
    check_bounds(values, _sketched(values))


@pytest.mark.parametrize("order", ["periodic 4096", "random", "hidden heavy hitter"])
def test_bounds_hold_for_a_small_sketch_too(order: str) -> None:
    """A sketch a sixteenth the default size: the bounds widen as documented, and still hold."""
    values = ORDERS[order]()
    stats = _sketched(values, sketch_size=1_024)
    assert stats["sketch_error"]["rank"] == pytest.approx(3 / 256)
    n = len(values)
    ordered = np.sort(values)
    rank = stats["sketch_error"]["rank"]
    below = np.searchsorted(ordered, stats["median"], side="left") / n
    through = np.searchsorted(ordered, stats["median"], side="right") / n
    assert below - rank <= 0.5 <= through + rank


def test_a_heavy_hitter_hidden_in_a_period_is_found_with_its_count() -> None:
    values = _hidden_heavy_hitter()
    stats = _sketched(values)
    true_count = int(np.count_nonzero(values == 42.0))
    assert stats["most_freq"] == 42.0
    # most_freq's count is not a stat; its share of the categorical view is.
    categorical = ba.build_bundle(
        pa.table({"x": pa.array(values.astype(str))}),
        data_id="heavy-text",
        config=ba.StatsConfig(distinct_threshold=THRESHOLD),
    ).stats["a"]
    assert categorical["most_freq"] == "42.0"
    share = next(e["cat_pop"] for e in categorical["histogram"] if e["name"] == "42.0")
    assert share == round(true_count / len(values) * 100)


def test_same_rows_same_order_give_identical_sketches() -> None:
    values = ORDERS["periodic 3000"]()
    assert _sketched(values) == _sketched(values)


@settings(max_examples=12, deadline=None)
@given(
    period=st.integers(2, 9_000),
    noise=st.sampled_from([0.0, 1e-3, 1.0]),
    heavy_every=st.sampled_from([0, 7, 64, 1000]),
    reverse=st.booleans(),
)
def test_sketch_bounds_hold_on_generated_orders(
    period: int, noise: float, heavy_every: int, reverse: bool
) -> None:
    rng = np.random.default_rng(period)
    levels = rng.normal(size=period) * 50
    values = np.tile(levels, N // period + 1)[:N] + rng.normal(size=N) * noise
    if heavy_every:
        values[::heavy_every] = -7.25
    if reverse:
        values = values[::-1].copy()
    if len(np.unique(values)) <= THRESHOLD:
        values = values + np.arange(N) * 1e-9  # keep the column past the threshold
    check_bounds(values, _sketched(values))


@settings(max_examples=200, deadline=None)
@given(
    held=st.lists(st.integers(1, 4), max_size=60),
    fresh=st.lists(st.integers(1, 4), min_size=2, max_size=60),
    data=st.data(),
)
def test_the_cut_is_the_count_just_past_capacity(held: list[int], fresh: list[int], data: st.DataObject) -> None:
    capacity = data.draw(st.integers(1, len(held) + len(fresh) - 1))
    expected = sorted(held + fresh, reverse=True)[capacity]
    assert _cut(np.array(held, dtype=np.int64), np.array(fresh, dtype=np.int64), capacity) == expected


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 12),
    blocks=st.lists(
        st.tuples(st.lists(st.integers(0, 40), max_size=30), st.booleans()), min_size=1, max_size=8
    ),
)
def test_counters_match_a_plain_misra_gries(capacity: int, blocks: list[tuple[list[int], bool]]) -> None:
    """Blocks of one row per key or of repeating keys, larger or smaller than the
    counters, folded in: the same counters, counts and error as the textbook summary."""
    counters: dict[int, int] = {}
    error = 0
    sketch = FrequentValues(capacity, np.zeros(0, dtype=np.int64), np.int64)
    for keys, distinct in blocks:
        block = collections.Counter(set(keys) if distinct else keys)
        if not block:
            continue
        ordered = np.array(sorted(block), dtype=np.int64)
        sketch.add_sorted(ordered, np.array([block[k] for k in ordered.tolist()], dtype=np.int64))
        for key, count in block.items():
            counters[key] = counters.get(key, 0) + count
        if len(counters) > capacity:
            cut = sorted(counters.values(), reverse=True)[capacity]
            counters = {key: count - cut for key, count in counters.items() if count > cut}
            error += cut
    assert sketch.keys.tolist() == sorted(counters)
    assert sketch.counts.tolist() == [counters[k] for k in sorted(counters)]
    assert sketch.values.tolist() == sorted(counters)
    assert sketch.error == error
