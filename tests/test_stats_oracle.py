"""Engine stats against an independent pandas computation, over many data shapes."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest

import buckaroo_assets as ba
from tests.oracle import FREQ_KEYS, expected_stats, meat_populations, same

RNG = np.random.default_rng(7)
N = 3_000


def _shapes() -> dict[str, pd.DataFrame]:
    floats = RNG.normal(size=N)
    floats[RNG.random(N) < 0.1] = np.nan
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, 1.5, -2.0] * 50)
    ints = RNG.integers(-1000, 1000, N)
    words = np.array(["apple", "banana", "cherry", "", "durian", "élan", "日本"], dtype=object)
    strings = pd.Series(words[RNG.integers(0, len(words), N)], dtype=object)
    strings[RNG.random(N) < 0.05] = None
    return {
        "floats_with_nan": pd.DataFrame({"x": floats}),
        "nan_and_infinities": pd.DataFrame({"x": special}),
        "only_positive_inf": pd.DataFrame({"x": [1.0, np.inf, 2.0, np.inf]}),
        "ints": pd.DataFrame({"x": ints}),
        "int_extremes": pd.DataFrame(
            {"x": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, 5, 5], dtype=np.int64)}
        ),
        "uint64_max": pd.DataFrame(
            {"x": np.array([np.iinfo(np.uint64).max, 0, 1, 2**63, 2**63], dtype=np.uint64)}
        ),
        "small_widths": pd.DataFrame(
            {
                "i8": RNG.integers(-128, 127, N).astype(np.int8),
                "u16": RNG.integers(0, 60000, N).astype(np.uint16),
                "f32": RNG.normal(size=N).astype(np.float32),
                "f16": RNG.normal(size=N).astype(np.float16),
            }
        ),
        "nullable_int": pd.DataFrame({"x": pd.array([1, None, 3, 3, None, 7], dtype="Int64")}),
        "strings": pd.DataFrame({"s": strings}),
        "one_row": pd.DataFrame({"a": [1.5], "b": ["x"], "c": [True]}),
        "constant": pd.DataFrame({"x": [4] * 100, "s": ["same"] * 100}),
        "all_null_float": pd.DataFrame({"x": [np.nan] * 10}),
        "all_null_object": pd.DataFrame({"x": [None] * 10}),
        "bools": pd.DataFrame({"b": RNG.random(N) < 0.3}),
        "ordered_categorical": pd.DataFrame(
            {
                # The first block holds only "high": the order must come from the categories.
                "c": pd.Categorical(
                    ["high"] * 70_000 + ["low", None, "medium"] * 10,
                    categories=["low", "medium", "high"],
                    ordered=True,
                )
            }
        ),
        "bools_with_nulls": pd.DataFrame({"b": pd.array([True, None, False, True], dtype="boolean")}),
        "tz_timestamps": pd.DataFrame(
            {"t": pd.date_range("2021-03-01", periods=N, freq="37min", tz="Europe/Lisbon")}
        ),
        "naive_ns_timestamps": pd.DataFrame(
            {"t": pd.to_datetime(RNG.integers(0, 10**18, 200), unit="ns")}
        ),
        "timedeltas": pd.DataFrame({"d": pd.to_timedelta(RNG.integers(0, 10**6, 300), unit="s")}),
        "dates": pd.DataFrame({"d": [dt.date(2020, 1, 1) + dt.timedelta(days=int(i % 40)) for i in range(500)]}),
        "categorical": pd.DataFrame({"c": pd.Categorical(RNG.choice(["lo", "mid", "hi"], N))}),
        "decimals": pd.DataFrame(
            {"d": [decimal.Decimal("1.10"), decimal.Decimal("-3.25"), None, decimal.Decimal("1.10")]}
        ),
        "bytes": pd.DataFrame({"b": [b"\x00", b"abc", b"", b"abc", None]}),
        "huge_strings": pd.DataFrame({"s": ["x" * 2_000_000, "y" * 1_000_000, "x" * 2_000_000, None]}),
        "unicode_names": pd.DataFrame({"ñandú": [1, 2], "🙂": ["a", "b"], "": [0.5, 0.5]}),
        "int_names": pd.DataFrame({0: [1, 2, 3], 1: ["a", "b", "c"]}),
        "duplicate_names": pd.DataFrame([[1, "a", 2.5], [2, "b", 3.5]], columns=["x", "x", "x"]),
        "multiindex_names": pd.DataFrame(
            [[1, 2], [3, 4]], columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)])
        ),
        "many_distinct_floats": pd.DataFrame({"x": RNG.normal(size=50_000)}),
        "zipf_ints": pd.DataFrame({"x": RNG.zipf(1.5, 20_000)}),
        "negative_zero_and_zero": pd.DataFrame({"x": [0.0, -0.0, -0.0, 1.0]}),
    }


SHAPES = _shapes()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_stats_match_pandas(name: str) -> None:
    frame = SHAPES[name]
    bundle = ba.build_bundle(frame, data_id=f"shape-{name}")
    assert bundle.meta["rows"] == len(frame)
    assert list(bundle.stats) == [ba.column_key(i) for i in range(frame.shape[1])]
    for position, (key, stats) in enumerate(bundle.stats.items()):
        series = frame.iloc[:, position]
        assert stats["orig_col_name"] == frame.columns[position]
        assert stats["dtype"] == str(series.dtype)
        assert stats["distinct_count_exact"] in (True, None)
        expected = expected_stats(series)
        for stat, want in expected.items():
            got = stats[stat]
            rel = 1e-12 if stat in ("mean", "std", "sum") else 0.0
            assert same(got, want, rel=rel), f"{name}[{key}].{stat}: got {got!r}, want {want!r}"


def test_numeric_histogram_populations_match_numpy() -> None:
    values = RNG.gamma(2.0, 3.0, 20_000)
    stats = ba.build_bundle(pd.DataFrame({"x": values}), data_id="gamma").stats["a"]
    meat = [e["population"] for e in stats["histogram"] if "population" in e]
    assert meat == meat_populations(values)
    assert stats["histogram"][0]["tail"] == 1 and stats["histogram"][-1]["tail"] == 1


def test_categorical_histogram_shares_of_all_rows() -> None:
    column = pd.Series(["a"] * 50 + ["b"] * 30 + [f"u{i}" for i in range(10)] + [None] * 10)
    stats = ba.build_bundle(pd.DataFrame({"s": column}), data_id="cats").stats["a"]
    histogram = {entry["name"]: entry for entry in stats["histogram"]}
    assert histogram["a"]["cat_pop"] == 50.0 and histogram["b"]["cat_pop"] == 30.0
    assert histogram["unique"]["unique"] == 10.0
    assert histogram["NA"]["NA"] == 10.0


def test_buckaroo_documented_histogram_example() -> None:
    # Buckaroo's own worked example: 50 ints in 1..9 give this meat and these labels.
    values = [1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5]
    values += [6, 6, 6, 6, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9]
    stats = ba.build_bundle(pd.DataFrame({"x": values}), data_id="worked").stats["a"]
    names = [e["name"] for e in stats["histogram"]]
    assert names[0] == "1–1" and names[1] == "2–2.6" and names[-1] == "9–9"
    assert len(stats["histogram_bins"]) == 11


def test_mixed_object_column_is_summarised_as_text() -> None:
    frame = pd.DataFrame({"m": [1, "a", 2.5, None, "a", b"z"]})
    stats = ba.build_bundle(frame, data_id="mixed").stats["a"]
    assert stats["note"] == "mixed types: summarised as text"
    assert stats["dtype"] == "object"
    assert stats["null_count"] == 1 and stats["distinct_count"] == 4
    assert stats["most_freq"] == "a"


def test_five_thousand_columns() -> None:
    frame = pd.DataFrame(RNG.integers(0, 5, (20, 5_000)))
    bundle = ba.build_bundle(frame, data_id="wide")
    assert len(bundle.stats) == 5_000
    assert list(bundle.stats)[-1] == ba.column_key(4_999)
    for position in (0, 2_500, 4_999):
        stats = bundle.stats[ba.column_key(position)]
        assert stats["orig_col_name"] == position
        assert stats["distinct_count"] == frame[position].nunique()


def test_zero_columns_and_zero_rows() -> None:
    assert ba.build_bundle(pd.DataFrame(index=range(5)), data_id="nocols").stats == {}
    empty = ba.build_bundle(pd.DataFrame({"x": pd.Series([], dtype=float)}), data_id="norows")
    stats = empty.stats["a"]
    assert (stats["length"], stats["null_count"], stats["distinct_count"]) == (0, 0, 0)
    assert stats["histogram"] == [] and empty.first_window.num_rows == 0


def test_past_threshold_counts_are_sketched_and_say_so() -> None:
    values = RNG.integers(0, 10**9, 60_000)
    config = ba.StatsConfig(distinct_threshold=1_000)
    stats = ba.build_bundle(pd.DataFrame({"x": values}), data_id="big", config=config).stats["a"]
    truth = len(np.unique(values))
    assert stats["distinct_count_exact"] is False
    assert abs(stats["distinct_count"] - truth) / truth < 0.03
    assert stats["unique_count"] is None
    assert set(FREQ_KEYS) <= set(stats["approximate"])
    # Everything that needs no per-value state stays exact.
    assert stats["min"] == values.min() and stats["max"] == values.max()
    assert stats["sum"] == int(values.sum()) and stats["mean"] == values.sum() / len(values)
    assert abs(stats["median"] - np.median(values)) < 0.02 * (values.max() - values.min())


def test_sketched_top_value_survives_as_heavy_hitter() -> None:
    values = RNG.integers(0, 10**9, 40_000)
    values[RNG.random(40_000) < 0.2] = 42
    config = ba.StatsConfig(distinct_threshold=500)
    stats = ba.build_bundle(pd.DataFrame({"x": values}), data_id="hh", config=config).stats["a"]
    assert stats["most_freq"] == 42


def test_skip_columns_keep_counts_only() -> None:
    frame = pd.DataFrame({"keep": [1, 2, 2], "skip": ["a", None, "b"]})
    config = ba.StatsConfig(skip_columns=["skip"])
    stats = ba.build_bundle(frame, data_id="skip", config=config).stats
    assert stats["b"]["skipped"] is True and stats["b"]["null_count"] == 1
    assert stats["b"]["distinct_count"] is None and stats["a"]["distinct_count"] == 2


def test_sketched_all_distinct_column_claims_no_frequent_values() -> None:
    config = ba.StatsConfig(distinct_threshold=1_000, sketch_size=256)
    frame = pd.DataFrame({"x": RNG.normal(size=30_000)})
    stats = ba.build_bundle(frame, data_id="noheavy", config=config).stats["a"]
    assert stats["distinct_count_exact"] is False
    assert all(stats[key] is None for key in FREQ_KEYS)
