"""The block engine: scheduling never changes a stat, and failures surface."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.stats.accumulators import accumulator_for
from buckaroo_assets.stats.engine import accumulate, balanced_groups


@settings(max_examples=100, deadline=None)
@given(
    cost=st.lists(st.floats(0, 1e3, allow_nan=False), max_size=60),
    count=st.integers(1, 12),
)
def test_balanced_groups_cover_every_column_once(cost: list[float], count: int) -> None:
    groups = balanced_groups(cost, count)
    assert sorted(i for g in groups for i in g) == list(range(len(cost)))
    assert len(groups) <= count and all(groups)
    loads = [sum(cost[i] for i in g) for g in groups]
    assert loads == sorted(loads, reverse=True)
    if groups:
        # Greedy longest-first: no group exceeds the ideal share by more than the largest item.
        assert max(loads) <= sum(cost) / len(groups) + max(cost) + 1e-9


def _table(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "f": rng.normal(size=rows) * 1e6,
            "i": rng.integers(0, 300_000, rows),
            "s": pa.array([f"k{v}" for v in rng.integers(0, 5_000, rows)]),
            "t": pa.array(rng.integers(0, 10**15, rows), type=pa.timestamp("us", tz="UTC")),
            "b": rng.random(rows) < 0.3,
        }
    )


def _run(table: pa.Table, workers: int, config: ba.StatsConfig) -> tuple[int, list[dict]]:
    accumulators = [accumulator_for(f.type, config) for f in table.schema]
    return accumulate(table.to_batches(max_chunksize=5_000), accumulators, config.block_rows, workers=workers)


def test_stats_do_not_depend_on_the_number_of_workers() -> None:
    table = _table(120_000)
    config = ba.StatsConfig(block_rows=8_192, distinct_threshold=20_000)
    one = _run(table, 1, config)
    assert one[0] == 120_000
    assert any(r.get("approximate") for r in one[1])  # the sketch path is exercised too
    for workers in (2, 3, 8):
        assert _run(table, workers, config) == one


def test_an_error_in_one_column_stops_the_build_and_surfaces() -> None:
    config = ba.StatsConfig(block_rows=1_000)
    table = _table(10_000)
    accumulators = [accumulator_for(f.type, config) for f in table.schema]

    def explode(array: pa.Array) -> None:
        raise RuntimeError("column i failed")

    accumulators[1].update = explode
    with pytest.raises(RuntimeError, match="column i failed"):
        accumulate(table.to_batches(), accumulators, config.block_rows, workers=2)


def _sketched_table(rows: int) -> pa.Table:
    """Columns past a 20,000 threshold (numbers, text, decimals) and exact ones, no NaN."""
    rng = np.random.default_rng(11)
    magnitudes = 10.0 ** rng.integers(-30, 30, rows)
    ids = rng.integers(0, 10**12, rows)
    return pa.table(
        {
            "f": rng.normal(size=rows) * magnitudes,
            "i": ids,
            "s": pa.array([f"user-{v:x}" if v % 7 else None for v in ids]),
            "d": pa.array(rng.integers(0, 10**9, rows), type=pa.int64()).cast(pa.decimal128(19, 0)),
            "t": pa.array(rng.integers(0, 10**15, rows), type=pa.timestamp("us", tz="UTC")),
            "c": pa.array([f"k{v}" for v in rng.integers(0, 50, rows)]).dictionary_encode(),
            "b": rng.random(rows) < 0.3,
            # Exact text whose blocks are distinct, then repetitive with a few new values:
            # counted by hash and by value in turn.
            "m": [f"u{i}" if i < 15_000 or i % 97 == 0 else f"w{i % 40}" for i in range(rows)],
        }
    )


SKETCHED = _sketched_table(170_000)


def test_text_counted_by_hash_and_by_value_in_turn_stays_exact() -> None:
    config = SKETCH_CONFIG.replace(block_rows=999)
    stats = ba.build_bundle(SKETCHED, data_id="t", config=config).column_stats("m")
    values = SKETCHED.column("m").to_pylist()
    counted = collections.Counter(values)
    assert not stats.get("approximate")
    assert stats["distinct_count"] == len(counted)
    assert stats["unique_count"] == sum(c == 1 for c in counted.values())
    assert stats["most_freq"] == min(counted, key=lambda v: (-counted[v], v))
    assert (stats["min"], stats["max"]) == (min(values), max(values))


SKETCH_CONFIG = ba.StatsConfig(distinct_threshold=20_000, sketch_size=1_024)


@settings(max_examples=6, deadline=None)
@given(
    block_rows=st.sampled_from([999, 8_192, 65_535, 100_000, 1_000_000]),
    chunk=st.sampled_from([777, 50_000, 65_536, 200_000]),
)
def test_stats_do_not_depend_on_the_block_size_or_the_source_batches(block_rows: int, chunk: int) -> None:
    whole = ba.build_bundle(SKETCHED, data_id="t", config=SKETCH_CONFIG)
    assert {"f", "i", "s", "d"} <= {
        name for name in SKETCHED.column_names if whole.column_stats(name).get("approximate")
    }
    rebatched = pa.Table.from_batches(SKETCHED.to_batches(max_chunksize=chunk))
    other = ba.build_bundle(rebatched, data_id="t", config=SKETCH_CONFIG.replace(block_rows=block_rows))
    assert other.config_id == whole.config_id
    assert other.stats == whole.stats


def _big_cells(rows: int, size: int) -> pa.Table:
    """Text cells of ``size`` bytes and more, mostly distinct, one value in ten the same."""
    rng = np.random.default_rng(5)
    lengths = size + rng.integers(0, size, rows)
    cells = [
        "same" * (size // 4) if i % 10 == 0 else f"{i:08d}" + "x" * int(n)
        for i, n in enumerate(lengths)
    ]
    return pa.table({"doc": pa.array(cells, pa.large_string()), "n": np.arange(rows)})


BIG_CELLS = _big_cells(3_000, 2_048)


@settings(max_examples=4, deadline=None)
@given(block_rows=st.sampled_from([7, 100, 1_000, 65_536]), chunk=st.sampled_from([3, 250, 5_000]))
def test_units_of_big_cells_end_by_bytes_and_the_stats_still_ignore_the_block_size(
    block_rows: int, chunk: int
) -> None:
    """Scaled down (a 256 KiB unit, 512 KiB of exact counts), 3,000 cells of 2-4 KiB:
    the counts give way to sketches long before the distinct threshold, and units
    of text end at 256 KiB, wherever the blocks and batches are cut."""
    from buckaroo_assets.stats import column_accumulator, distribution

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(column_accumulator, "UNIT_BYTES", 256 << 10)
        patch.setattr(distribution, "COUNT_BYTES", 512 << 10)
        whole = ba.build_bundle(BIG_CELLS, data_id="t")
        rebatched = pa.Table.from_batches(BIG_CELLS.to_batches(max_chunksize=chunk))
        config = ba.StatsConfig(block_rows=block_rows)
        other = ba.build_bundle(rebatched, data_id="t", config=config)
    doc = whole.column_stats("doc")
    assert doc.get("approximate"), doc  # 2,700 distinct, far below the threshold of 100,000
    assert not whole.column_stats("n").get("approximate")
    assert doc["most_freq"].startswith("same") and doc["distinct_count"] >= 1_000
    assert other.stats == whole.stats


def test_a_unit_of_text_ends_with_the_row_that_fills_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from buckaroo_assets.stats import column_accumulator

    monkeypatch.setattr(column_accumulator, "UNIT_BYTES", 1_000)
    ends: list[int] = []
    accumulator = accumulator_for(pa.large_string(), ba.StatsConfig())
    accumulator.distribution.end_unit = lambda: ends.append(accumulator.length)  # type: ignore[method-assign]
    cells = pa.array(["a" * 300] * 7 + [None, "b" * 2_500, "c"], pa.large_string())
    for piece in (cells.slice(0, 2), cells.slice(2, 5), cells.slice(7)):
        accumulator.update(piece)
    # 300, 600, 900, 1,200 bytes: the fourth row fills the first unit; then three more and a
    # null (900 bytes), and the 2,500-byte cell ends the second; "c" starts a third.
    assert ends == [4, 9]
    assert (accumulator.unit_length, accumulator.unit_bytes) == (1, 1)


def test_blocks_of_very_wide_rows_are_sized_by_bytes(tmp_path: Path) -> None:
    """A column of 20 KB cells is read in blocks that fit the group's budget, not in 65,536
    rows (1.3 GB); narrow columns keep ``block_rows``; the stats are those of 7-row blocks."""
    import pyarrow.parquet as pq

    from buckaroo_assets.build import builder
    from buckaroo_assets.build.sources import open_source

    cells = [f"{i:06d}" + "x" * 20_000 for i in range(3_000)]
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc": cells, "n": np.arange(3_000)}), path)
    source = open_source(str(path))
    config = ba.StatsConfig()
    groups = builder.column_groups(source, config)
    assert groups == [[0], [1]]
    doc_rows = builder.group_block_rows(source, config, [0])
    budget = builder.GROUP_BUDGET_BYTES / builder.GROUPS_AT_ONCE
    assert doc_rows >= 64 and doc_rows * 20_000 * builder._BLOCKS_IN_FLIGHT <= budget
    assert builder.group_block_rows(source, config, [1]) == config.block_rows
    by_bytes = ba.build_bundle(str(path), data_id="t")
    by_rows = ba.build_bundle(str(path), data_id="t", config=config.replace(block_rows=7))
    assert builder.group_block_rows(source, config.replace(block_rows=7), [0]) == 7
    assert by_bytes.stats == by_rows.stats


def test_parquet_columns_that_fit_one_group_are_shared_between_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A narrow Parquet file is read by two groups of similar bytes, each decoding its own
    columns; the same table in memory, with nothing to decode, stays one group; the stats
    and the first window are the same either way."""
    import pyarrow.parquet as pq

    from buckaroo_assets.build import builder
    from buckaroo_assets.build.sources import open_source

    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "wide_text": [f"{i:08d}-" + "x" * 40 for i in range(5_000)],
            "a": rng.normal(size=5_000),
            "b": rng.integers(0, 100, 5_000),
            "c": rng.normal(size=5_000),
        }
    )
    path = tmp_path / "narrow.parquet"
    pq.write_table(table, path)
    config = ba.StatsConfig()
    monkeypatch.setattr(builder, "GROUPS_AT_ONCE", 2)  # as on any machine of two cores or more
    groups = builder.column_groups(open_source(str(path)), config)
    assert sorted(p for group in groups for p in group) == [0, 1, 2, 3]
    assert len(groups) == 2 and [0] in groups  # the text alone
    assert builder.column_groups(open_source(table), config) == [[0, 1, 2, 3]]
    from_file, in_memory = ba.build_bundle(str(path), data_id="n"), ba.build_bundle(table, data_id="n")
    assert from_file.meta["column_groups"] == 2 and in_memory.meta["column_groups"] == 1
    assert from_file.stats == in_memory.stats
    assert from_file.first_window.equals(in_memory.first_window)


def test_freed_memory_goes_back_after_growing_past_the_lowest_since_the_last_return(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resident memory as the system would report it, block by block: the cache goes back
    once memory has grown 32 MiB over its lowest since the last return, across builds."""
    from buckaroo_assets.stats import engine

    mib = 1 << 20
    readings: list[int] = []
    returns: list[int] = []

    class Pool:
        def release_unused(self) -> None:
            returns.append(len(readings))

    def resident() -> int:
        value = script.pop(0)
        readings.append(value)
        return value

    monkeypatch.setattr(engine, "resident_bytes", resident)
    monkeypatch.setattr(engine.pa, "default_memory_pool", Pool)
    monkeypatch.setattr(engine._Settled, "bytes", None)
    block = pa.record_batch({"x": [1]})
    # One build grows to 1,000 MiB: returned at 1,000 (read again after: 990).
    script = [100 * mib, 120 * mib, 1_000 * mib, 990 * mib, 995 * mib]
    assert len(list(engine.returning_freed_memory([block] * 4))) == 4
    assert returns == [3]
    # Its data freed, the next build starts at 200 MiB and grows: back at 240 MiB,
    # not only past 1,022 MiB.
    script = [200 * mib, 220 * mib, 240 * mib, 235 * mib, 260 * mib]
    list(engine.returning_freed_memory([block] * 4))
    assert returns == [3, 8]
    assert engine._Settled.bytes == 235 * mib
    # Where the system does not say, every fourth block.
    monkeypatch.setattr(engine, "resident_bytes", lambda: None)
    list(engine.returning_freed_memory([block] * 8))
    assert len(returns) == 4
