"""Partial stats: fragments summarised apart, carried as bytes, merged into the whole's bundle.

Every exact stat of ``merge_partials`` must be byte-identical (codec dumps) to
``build_bundle`` of the whole, and the first window equal; sketched stats stay
within their documented bounds. Bytes are versioned and checksummed: damage,
other versions and fragments that do not tile the dataset are refused with
``PartialStatsError``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.build import partials
from buckaroo_assets.bundle.codec import dumps
from buckaroo_assets.stats.hashing import binary_hashes
from buckaroo_assets.stats.hll import HyperLogLog
from tests.conftest import bytes_read
from tests.test_sketch_bounds import check_bounds

FLOAT_MOMENTS = ("mean", "std", "sum")


def _travelled(partial: ba.PartialStats) -> ba.PartialStats:
    return ba.PartialStats.from_bytes(partial.to_bytes())


def _split(source, count: int, config: ba.StatsConfig, **kwargs) -> list[ba.PartialStats]:
    return [
        _travelled(ba.build_partial(source, fragment=(i, count), config=config, **kwargs))
        for i in range(count)
    ]


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    """Equal schemas and values, NaN equal to NaN."""
    assert got.schema == want.schema and got.num_rows == want.num_rows
    for mine, theirs in zip(got.columns, want.columns, strict=True):
        mine, theirs = mine.combine_chunks(), theirs.combine_chunks()
        if pa.types.is_floating(mine.type):
            assert mine.is_null().equals(theirs.is_null())
            assert np.array_equal(mine.fill_null(0).to_numpy(), theirs.fill_null(0).to_numpy(), equal_nan=True)
        else:
            assert mine.equals(theirs)


def assert_same_bundle(merged: ba.Bundle, whole: ba.Bundle) -> None:
    assert dumps(merged.stats) == dumps(whole.stats)
    assert_same_table(merged.first_window, whole.first_window)
    assert merged.rows == whole.rows


def _mixed_table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    floats = rng.normal(size=n) * 1e3
    floats[rng.random(n) < 0.05] = np.nan
    floats[rng.random(n) < 0.01] = np.inf
    return pa.table(
        {
            "int": pa.array(rng.integers(-(2**62), 2**62, n), mask=rng.random(n) < 0.1),
            "small": rng.integers(0, 20, n),
            "float": floats,
            "text": pa.array([f"t{x}" for x in rng.integers(0, 50, n)]),
            "flag": pa.array(rng.random(n) < 0.3, mask=rng.random(n) < 0.1),
            "when": pa.array(rng.integers(0, 10**12, n), type=pa.timestamp("ms", tz="UTC")),
            "nothing": pa.nulls(n),
        }
    )


# ------------------------------------------------------------------ merge == whole


column_values = {
    "ints": (st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), pa.int64()),
    "small ints": (st.one_of(st.none(), st.integers(-3, 3)), pa.int32()),
    "floats": (st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), pa.float64()),
    "strings": (st.one_of(st.none(), st.text(max_size=4)), pa.string()),
    "bools": (st.one_of(st.none(), st.booleans()), pa.bool_()),
    "timestamps": (
        st.one_of(st.none(), st.datetimes(timezones=st.just(dt.UTC))),
        pa.timestamp("us", tz="UTC"),
    ),
    "nulls": (st.none(), pa.null()),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 120))
    names = draw(st.lists(st.sampled_from(sorted(column_values)), min_size=1, max_size=4))
    columns = {}
    for position, name in enumerate(names):
        values, arrow_type = column_values[name]
        drawn = draw(st.lists(values, min_size=rows, max_size=rows))
        columns[f"{position} {name}"] = pa.array(drawn, type=arrow_type, from_pandas=True)
    return pa.table(columns)


@settings(max_examples=80, deadline=None)
@given(
    table=tables(),
    block_rows=st.sampled_from([1, 2, 5, 16]),
    count=st.integers(1, 7),
    window_rows=st.integers(0, 40),
)
def test_merged_fragments_equal_the_whole(
    table: pa.Table, block_rows: int, count: int, window_rows: int
) -> None:
    config = ba.StatsConfig(block_rows=block_rows, window_rows=window_rows)
    whole = ba.build_bundle(table, data_id="whole", config=config)
    merged = ba.merge_partials(_split(table, count, config), data_id="whole")
    assert_same_bundle(merged, whole)
    assert merged.meta["fragments"] == count


def test_fragments_are_even_ranges_covering_every_row() -> None:
    for rows in (0, 1, 99, 100, 101, 1000):
        for count in (1, 3, 7, 20):
            ranges = [partials.fragment_rows(i, count, rows) for i in range(count)]
            assert ranges[0][0] == 0 and ranges[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
            sizes = [stop - start for start, stop in ranges]
            assert max(sizes) - min(sizes) <= 1


@settings(max_examples=100, deadline=None)
@given(groups=st.lists(st.integers(1, 50), min_size=1, max_size=30), count=st.integers(1, 40))
def test_fragments_of_enough_row_groups_are_runs_of_whole_groups(groups: list[int], count: int) -> None:
    rows = sum(groups)
    bounds = set(itertools.accumulate([0, *groups]))
    ranges = [partials.fragment_rows(i, count, rows, groups) for i in range(count)]
    assert ranges[0][0] == 0 and ranges[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    if len(groups) >= count:
        assert all(start in bounds and stop in bounds and stop > start for start, stop in ranges)
    else:
        assert ranges == [partials.fragment_rows(i, count, rows) for i in range(count)]


def test_a_wide_table_in_column_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    from buckaroo_assets.build import builder

    monkeypatch.setattr(builder, "GROUP_BUDGET_BYTES", 1)  # one column per group
    table = _mixed_table(3000, seed=1)
    config = ba.StatsConfig(block_rows=256, window_rows=300)
    whole = ba.build_bundle(table, data_id="wide", config=config)
    assert whole.meta["column_groups"] == table.num_columns
    assert_same_bundle(ba.merge_partials(_split(table, 5, config), data_id="wide"), whole)


def test_a_pandas_frame_and_a_csv_file(tmp_path) -> None:
    frame = _mixed_table(2000, seed=2).drop_columns(["nothing"]).to_pandas()
    frame["category"] = pd.Categorical(["lo", "mid", "hi"] * 666 + ["lo", "hi"], ordered=True)
    config = ba.StatsConfig(block_rows=128, window_rows=150)
    whole = ba.build_bundle(frame, data_id="frame", config=config)
    assert_same_bundle(ba.merge_partials(_split(frame, 4, config), data_id="frame"), whole)

    path = tmp_path / "rows.csv"
    frame.drop(columns=["category"]).to_csv(path, index=False)
    whole = ba.build_bundle(path, config=config)
    assert_same_bundle(ba.merge_partials(_split(str(path), 3, config), data_id="csv"), whole)


def test_a_parquet_file_split_into_row_ranges(tmp_path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(_mixed_table(5000, seed=3), path, row_group_size=700)
    config = ba.StatsConfig(block_rows=512)
    whole = ba.build_bundle(path, config=config)
    merged = ba.merge_partials(_split(str(path), 4, config), data_id=whole.data_id)
    assert_same_bundle(merged, whole)


def test_row_ranges_of_a_folder_skip_the_row_groups_before_them(tmp_path) -> None:
    """A range starts at its own row group: the files and row groups before it are not read."""
    table = _mixed_table(6000, seed=6)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        pq.write_table(table.slice(2000 * i, 2000), folder / f"part-{i}.parquet", row_group_size=300)
    config = ba.StatsConfig(block_rows=256)
    whole = ba.build_bundle(folder, config=config)
    assert_same_bundle(ba.merge_partials(_split(str(folder), 5, config), data_id=whole.data_id), whole)

    # Row groups of 3.2 MB, larger than the reader's 1 MiB buffer per column.
    rng = np.random.default_rng(7)
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        numbers = pa.table({"x": rng.normal(size=600_000), "y": rng.normal(size=600_000)})
        pq.write_table(numbers, big / f"part-{i}.parquet", row_group_size=200_000, compression="none")
    size = sum(f.stat().st_size for f in big.iterdir())
    ba.build_partial(str(big), fragment=(0, 8))  # imports done before counting
    before = bytes_read()
    last = ba.build_partial(str(big), fragment=(7, 8))
    read = bytes_read() - before
    # Nine row groups for eight fragments: each fragment is a run of whole row groups,
    # the last one the last two.
    assert last.rows == 400_000
    assert read < size / 3, f"the last eighth read {read:,} of {size:,} bytes"


def test_separate_files_merged_in_order(tmp_path) -> None:
    """Pieces of whole blocks (all but the last) merge to exactly the folder's bundle."""
    table = _mixed_table(2600, seed=4)
    folder = tmp_path / "pieces"
    folder.mkdir()
    bounds = [0, 512, 1536, 2048, 2600]  # multiples of block_rows, but the end
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
        pq.write_table(table.slice(lo, hi - lo), folder / f"part-{i}.parquet")
    config = ba.StatsConfig(block_rows=256, window_rows=600)
    pieces = [
        _travelled(ba.build_partial(str(folder / f"part-{i}.parquet"), fragment=(i, 4), split=False, config=config))
        for i in range(4)
    ]
    whole = ba.build_bundle(folder, config=config)
    assert_same_bundle(ba.merge_partials(pieces[::-1], data_id=whole.data_id), whole)


def test_pieces_off_block_boundaries_differ_at_most_in_float_rounding() -> None:
    table = _mixed_table(3000, seed=5)
    config = ba.StatsConfig(block_rows=256)
    pieces = [
        ba.build_partial(table.slice(lo, hi - lo), fragment=(i, 3), split=False, config=config)
        for i, (lo, hi) in enumerate([(0, 1000), (1000, 1999), (1999, 3000)])
    ]
    merged = ba.merge_partials(pieces, data_id="pieces")
    whole = ba.build_bundle(table, data_id="pieces", config=config)
    for key, stats in whole.stats.items():
        for name, want in stats.items():
            got = merged.stats[key][name]
            if name in FLOAT_MOMENTS and isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-12, nan_ok=True)
            else:
                assert dumps(got) == dumps(want), (key, name)


@pytest.mark.parametrize("sketched", [False, True])
def test_merging_is_associative(sketched: bool) -> None:
    """Exactly, but for what sketches (past the threshold) derive from Misra-Gries and KLL:
    their merges depend on the grouping, within the same bounds."""
    table = _mixed_table(4000, seed=6)
    config = ba.StatsConfig(block_rows=200, distinct_threshold=40 if sketched else 100_000, sketch_size=64)
    parts = _split(table, 7, config)
    flat = ba.merge_partials(parts, data_id="tree")
    left, right = ba.PartialStats.combine(parts[:3]), ba.PartialStats.combine(parts[3:])
    assert (left.fragment_index, left.fragment_span, right.fragment_span) == (0, 3, 4)
    nested = ba.PartialStats.combine([ba.PartialStats.combine(parts[:2]), ba.PartialStats.combine(parts[2:5])])
    for grouped in ([_travelled(right), _travelled(left)], [nested, *parts[5:]]):
        tree = ba.merge_partials(grouped, data_id="tree")
        assert_same_table(tree.first_window, flat.first_window)
        for key, stats in flat.stats.items():
            sketch_derived = {*stats.get("approximate", ()), "histogram_bins", "sketch_error"}
            for name, want in stats.items():
                if name not in sketch_derived or name == "distinct_count":
                    assert dumps(tree.stats[key][name]) == dumps(want), (key, name)
        assert sketched or dumps(tree.stats) == dumps(flat.stats)


# ------------------------------------------------------------------ sketches


def test_sketched_columns_stay_within_their_bounds() -> None:
    rng = np.random.default_rng(7)
    n, threshold, sketch_size = 60_000, 500, 1024
    values = rng.normal(size=n) * 100
    values[::20] = 42.0
    table = pa.table({"x": values, "s": pa.array([f"k{v}" for v in rng.zipf(1.4, n)])})
    config = ba.StatsConfig(distinct_threshold=threshold, sketch_size=sketch_size, block_rows=4096)
    whole = ba.build_bundle(table, data_id="sketched", config=config)
    distinct, estimates = {}, {}
    for column in ("x", "s"):
        values_seen = pc.unique(table.column(column))
        sketch = HyperLogLog(config.hll_precision)
        if column == "x":
            sketch.add_numbers(values_seen.to_numpy())
        else:
            sketch.add_hashes(binary_hashes(values_seen))
        distinct[column], estimates[column] = len(values_seen), min(sketch.estimate(), n)
    for count in (2, 5, 15):
        merged = ba.merge_partials(_split(table, count, config), data_id="sketched")
        check_bounds(values, merged.stats["a"], threshold=threshold, sketch_size=sketch_size)
        for key, column in (("a", "x"), ("b", "s")):
            got, want = merged.stats[key], whole.stats[key]
            assert got["approximate"] == want["approximate"]
            # Never sketched, so identical: counts, extremes, moments.
            for name in ("length", "null_count", "min", "max", "mean", "std", "sum"):
                assert dumps(got[name]) == dumps(want[name]), (count, key, name)
            # The HyperLogLog's registers merge by maximum into those of the whole column,
            # so each distinct count is that one estimate, unless raised to what its build
            # counted exactly before sketching (the whole counted more than any part).
            for built in (got, want):
                assert built["distinct_count"] == estimates[column] or (
                    estimates[column] < built["distinct_count"] <= distinct[column]
                ), (count, key, built["distinct_count"], estimates[column])
            true_top = pd.Series(table.column(column).to_pylist()).value_counts()
            bound = got["sketch_error"]["count"]
            assert bound <= n / (sketch_size + 1)
            assert true_top.iloc[0] - bound <= true_top[got["most_freq"]]


# ------------------------------------------------------------------ bytes


def test_bytes_round_trip_exactly() -> None:
    table = _mixed_table(1000, seed=8)
    config = ba.StatsConfig(
        block_rows=100, window_rows=200, distinct_threshold=30, sketch_size=64, skip_columns=["small"]
    )
    partial = ba.build_partial(table, fragment=(1, 3), config=config, data_id="ds")
    data = partial.to_bytes()
    again = ba.PartialStats.from_bytes(data)
    assert again.to_bytes() == data
    assert (again.fragment_index, again.fragment_count, again.rows, again.data_id) == (1, 3, partial.rows, "ds")
    assert again.config == config and again.schema == table.schema
    assert len(again.columns) == table.num_columns
    assert again.window.num_rows == 0  # the first window lies in fragment 0


def test_bytes_through_an_s3_store(s3_server) -> None:
    import fsspec

    table = _mixed_table(3000, seed=9)
    config = ba.StatsConfig(block_rows=256)
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    bucket = s3_server.new_bucket()
    for i in range(3):
        fs.pipe(f"{bucket}/partials/{i}.baps", ba.build_partial(table, fragment=(i, 3), config=config).to_bytes())
    received = [ba.PartialStats.from_bytes(fs.cat(path)) for path in sorted(fs.ls(f"{bucket}/partials"))]
    whole = ba.build_bundle(table, data_id="s3", config=config)
    assert_same_bundle(ba.merge_partials(received, data_id="s3"), whole)


def test_damaged_bytes_are_refused() -> None:
    data = ba.build_partial(_mixed_table(500, seed=10), config=ba.StatsConfig(block_rows=64)).to_bytes()
    rng = np.random.default_rng(0)
    for position in [*range(0, 60), *rng.integers(60, len(data), 300), len(data) - 1]:
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ba.PartialStatsError):
            ba.PartialStats.from_bytes(bytes(damaged))
    for cut in (0, 3, 20, 46, len(data) // 2, len(data) - 1):
        with pytest.raises(ba.PartialStatsError):
            ba.PartialStats.from_bytes(data[:cut])


def test_other_versions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    partial = ba.build_partial(_mixed_table(100, seed=11))
    data = bytearray(partial.to_bytes())
    struct.pack_into("<H", data, 4, partials.FORMAT_VERSION + 1)
    with pytest.raises(ba.PartialStatsError, match="format version 2"):
        ba.PartialStats.from_bytes(bytes(data))
    monkeypatch.setattr(partials, "STATS_ENGINE_VERSION", "0-older")
    older = partial.to_bytes()
    monkeypatch.undo()
    with pytest.raises(ba.PartialStatsError, match="engine version 0-older"):
        ba.PartialStats.from_bytes(older)


# ------------------------------------------------------------------ refused merges


def test_fragments_that_do_not_tile_the_dataset_are_refused() -> None:
    table = _mixed_table(1000, seed=12)
    config = ba.StatsConfig(block_rows=100)
    parts = _split(table, 4, config)
    cases = {
        "fragment 2 of 4 is missing": [parts[0], parts[1], parts[3]],
        "fragment 1 of 4 is given more than once": [parts[0], parts[1], parts[1], parts[2], parts[3]],
        r"fragments 0\.\.2 of 4 given": parts[:3],
        r"fragments 1\.\.3 of 4 given": parts[1:],
        "no partial stats": [],
        "one of 3, the others of 4": [*parts[:3], ba.build_partial(table, fragment=(2, 3), config=config)],
    }
    for message, given_parts in cases.items():
        with pytest.raises(ba.PartialStatsError, match=message):
            ba.merge_partials(given_parts, data_id="x")


def test_fragments_of_other_configs_schemas_or_datasets_are_refused() -> None:
    table = _mixed_table(1000, seed=13)
    config = ba.StatsConfig(block_rows=100)
    first = ba.build_partial(table, fragment=(0, 2), config=config, data_id="ds")
    with pytest.raises(ba.PartialStatsError, match="config"):
        ba.merge_partials([first, ba.build_partial(table, fragment=(1, 2), config=config.replace(top_k=3))], data_id="ds")
    renamed = table.rename_columns([*table.column_names[:-1], "other"])
    with pytest.raises(ba.PartialStatsError, match="other columns or types"):
        ba.merge_partials([first, ba.build_partial(renamed, fragment=(1, 2), config=config)], data_id="ds")
    retyped = table.set_column(1, "small", table.column("small").cast(pa.int32()))
    with pytest.raises(ba.PartialStatsError, match="other columns or types"):
        ba.merge_partials([first, ba.build_partial(retyped, fragment=(1, 2), config=config)], data_id="ds")
    second = ba.build_partial(table, fragment=(1, 2), config=config, data_id="other")
    with pytest.raises(ba.PartialStatsError, match="belongs to 'other'"):
        ba.merge_partials([first, second], data_id="ds")
    second = ba.build_partial(table, fragment=(1, 2), config=config)
    with pytest.raises(ba.PartialStatsError, match="not 'elsewhere'"):
        ba.merge_partials([first, second], data_id="elsewhere")
    with pytest.raises(ba.PartialStatsError, match="config"):
        ba.merge_partials([first, second], data_id="ds", config=ba.StatsConfig(top_k=3))
    assert ba.merge_partials([first, second], data_id="ds", config=config).rows == 1000
    # The block size changes how fast, never what: fragments read in other blocks merge
    # into the whole's stats.
    other_blocks = ba.build_partial(table, fragment=(1, 2), config=ba.StatsConfig(block_rows=7), data_id="ds")
    merged = ba.merge_partials([first, other_blocks], data_id="ds", config=ba.StatsConfig())
    assert merged.stats == ba.build_bundle(table, data_id="ds", config=config).stats


def test_bad_fragment_positions_and_one_shot_streams_are_refused() -> None:
    table = _mixed_table(100, seed=14)
    for fragment in [(2, 2), (-1, 2), (0, 0), "x", (1, 2, 3)]:
        with pytest.raises(ba.PartialStatsError, match="fragment"):
            ba.build_partial(table, fragment=fragment)
    with pytest.raises(ba.PartialStatsError, match="split=False"):
        ba.build_partial(pa.RecordBatchReader.from_batches(table.schema, table.to_batches()), fragment=(0, 2))
    stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    assert ba.build_partial(stream, fragment=(0, 2), split=False).rows == 100
