"""Every Arrow type summarises without crashing; every kind of source gives the same stats."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
from buckaroo_assets.errors import UnreadableSourceError
from buckaroo_assets.stats.exact_sums import exact_square_sum, exact_sum

N = 40


def _every_type() -> pa.Table:
    rng = np.random.default_rng(1)
    ints = rng.integers(0, 100, N)
    mask = rng.random(N) < 0.2
    base = dt.datetime(2024, 1, 1)
    columns = {
        **{f"{t}": pa.array(ints, mask=mask).cast(t) for t in (
            pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(),
            pa.uint64(), pa.float16(), pa.float32(), pa.float64())},
        "bool": pa.array(ints % 2 == 0, mask=mask),
        "string": pa.array([f"s{i % 7}" for i in ints], mask=mask),
        "large_string": pa.array([f"s{i % 7}" for i in ints], type=pa.large_string(), mask=mask),
        "string_view": pa.array([f"v{i % 5}" for i in ints], mask=mask).cast(pa.string_view()),
        "binary": pa.array([bytes([i % 3]) for i in ints], mask=mask),
        "large_binary": pa.array([b"x" * (i % 4) for i in ints], type=pa.large_binary(), mask=mask),
        "fixed_binary": pa.array([bytes([i % 3, 1]) for i in ints], type=pa.binary(2), mask=mask),
        "date32": pa.array([base.date() + dt.timedelta(days=int(i)) for i in ints], mask=mask),
        "date64": pa.array([base.date() + dt.timedelta(days=int(i)) for i in ints], type=pa.date64()),
        "time32s": pa.array(ints.astype(np.int32), mask=mask).cast(pa.time32("s")),
        "time32ms": pa.array(ints.astype(np.int32), mask=mask).cast(pa.time32("ms")),
        "time64us": pa.array(ints, mask=mask).cast(pa.time64("us")),
        "time64ns": pa.array(ints * 1001, mask=mask).cast(pa.time64("ns")),
        **{f"ts_{u}": pa.array(ints * 10**9 + 7, mask=mask).cast(pa.timestamp(u)) for u in ("s", "ms", "us", "ns")},
        **{f"ts_{u}_tz": pa.array(ints, mask=mask).cast(pa.timestamp(u, tz="Asia/Kolkata")) for u in ("s", "ms", "us", "ns")},
        **{f"dur_{u}": pa.array(ints, mask=mask).cast(pa.duration(u)) for u in ("s", "ms", "us", "ns")},
        "decimal128": pa.array([decimal.Decimal(int(i)).scaleb(-2) for i in ints], type=pa.decimal128(10, 2), mask=mask),
        "decimal256": pa.array([decimal.Decimal(int(i)) * 10**50 for i in ints], type=pa.decimal256(70, 0)),
        "dictionary": pa.array([f"d{i % 4}" for i in ints], mask=mask).dictionary_encode(),
        "null": pa.nulls(N),
        "list": pa.array([[int(i)] * (i % 3) for i in ints], mask=mask),
        "large_list": pa.array([[int(i)] for i in ints], type=pa.large_list(pa.int64())),
        "fixed_list": pa.array([[int(i), 1] for i in ints], type=pa.list_(pa.int64(), 2)),
        "struct": pa.array([{"a": int(i), "b": str(i)} for i in ints], mask=mask),
        "map": pa.array([[("k", int(i))] for i in ints], type=pa.map_(pa.string(), pa.int64())),
    }
    return pa.table(columns)


def test_every_arrow_type_gets_counts_and_encodable_stats() -> None:
    table = _every_type()
    bundle = ba.build_bundle(table, data_id="types")
    assert bundle.first_window.equals(table)
    for key, stats in bundle.stats.items():
        column = table.column(stats["orig_col_name"])
        assert stats["length"] == N, key
        floats = pa.types.is_floating(column.type)
        if not floats:
            assert stats["null_count"] == column.null_count, stats["orig_col_name"]
        encoded = codec.dumps(stats)
        assert codec.dumps(codec.loads(encoded)) == encoded, key
    assert bundle.column_stats("int64")["max"] == pc.max(table.column("int64")).as_py()
    assert bundle.column_stats("dictionary")["distinct_count"] == 4
    for name in ("decimal256", "ts_s", "ts_us_tz", "dur_ms", "date32", "time32s", "string", "fixed_binary"):
        present = [v for v in table.column(name).to_pylist() if v is not None]
        assert bundle.column_stats(name)["min"] == min(present), name
        assert bundle.column_stats(name)["max"] == max(present), name
    assert bundle.column_stats("null")["null_count"] == N


def test_nanosecond_timestamps_keep_full_precision() -> None:
    table = pa.table({"t": pa.array([1, 2, 3], type=pa.timestamp("ns", tz="UTC"))})
    stats = ba.build_bundle(table, data_id="ns").stats["a"]
    assert stats["min"] == pa.scalar(1, pa.timestamp("ns", tz="UTC"))
    assert codec.loads(codec.dumps(stats["max"])) == pa.scalar(3, pa.timestamp("ns", tz="UTC"))


@pytest.mark.parametrize("values", [[2**63 - 1, -(2**63), 3], [2**23, -(2**23), 1, 0]])
def test_exact_power_sums(values: list[int]) -> None:
    assert exact_sum(np.array(values * 40_000, dtype=np.int64)) == sum(values) * 40_000
    assert exact_square_sum(np.array(values, dtype=np.int64)) == sum(v * v for v in values)
    unsigned = np.array([2**64 - 1, 2**40, 7], dtype=np.uint64)
    assert exact_square_sum(unsigned) == sum(int(v) ** 2 for v in unsigned)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(-(2**63), 2**64 - 1), min_size=1, max_size=200),
    magnitude=st.sampled_from([2**8, 2**23, 2**31, 2**40, 2**62, 2**64]),
    repeat=st.sampled_from([1, 3_000]),
)
def test_exact_power_sums_with_a_bound_take_the_short_path_only_when_safe(
    values: list[int], magnitude: int, repeat: int
) -> None:
    for dtype, shift in ((np.int64, magnitude // 2), (np.uint64, 0)):
        kept = [v % magnitude - shift for v in values]  # int64: centred on 0; uint64: from 0
        array = np.array(kept * repeat, dtype=dtype)
        bound = max(abs(int(array.min())), abs(int(array.max())))
        assert exact_sum(array, bound) == exact_sum(array) == sum(kept) * repeat
        assert exact_square_sum(array, bound) == exact_square_sum(array) == sum(v * v for v in kept) * repeat


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "x": rng.normal(size=5_000),
            "n": rng.integers(0, 50, 5_000),
            "s": rng.choice(["a", "b", "c"], 5_000),
        }
    )


def _comparable(bundle: ba.Bundle) -> dict:
    keep = ("length", "null_count", "distinct_count", "unique_count", "min", "max", "mean", "sum",
            "median", "std", "most_freq", "histogram", "histogram_bins")
    return {k: {s: v[s] for s in keep} for k, v in bundle.stats.items()}


def test_every_source_kind_gives_the_same_stats(frame: pd.DataFrame, tmp_path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=1_234)
    pacsv.write_csv(table, tmp_path / "d.csv")
    lines = (json.dumps(row) for row in frame.to_dict(orient="records"))  # repr-exact floats
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "folder").mkdir()
    pq.write_table(table.slice(0, 2_000), tmp_path / "folder" / "part-0.parquet")
    pq.write_table(table.slice(2_000), tmp_path / "folder" / "part-1.parquet")
    reference = _comparable(ba.build_bundle(frame, data_id="ref"))
    sources = {
        "table": table,
        "chunked": pa.Table.from_batches(table.to_batches(max_chunksize=777)),
        "reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=999)),
        "dataset": ds.dataset(tmp_path / "d.parquet"),
        "polars": pl.from_pandas(frame),
        "parquet": tmp_path / "d.parquet",
        "parquet_url": f"file://{tmp_path / 'd.parquet'}",
        "csv": str(tmp_path / "d.csv"),
        "jsonl": str(tmp_path / "d.jsonl"),
        "folder": str(tmp_path / "folder"),
    }
    for name, source in sources.items():
        bundle = ba.build_bundle(source, data_id=f"src-{name}")
        assert _comparable(bundle) == reference, name
        assert bundle.first_window.num_rows == 1_000
        assert bundle.first_window.column("x").to_pylist() == frame["x"][:1_000].tolist(), name


def test_memory_url(frame: pd.DataFrame) -> None:
    import fsspec

    with fsspec.open("memory://bundles-test/d.parquet", "wb") as handle:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle)
    bundle = ba.build_bundle("memory://bundles-test/d.parquet")
    assert bundle.data_id.startswith("file-")
    assert bundle.meta["rows"] == len(frame)


def test_same_data_any_chunking_gives_identical_stats(frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    config = ba.StatsConfig(block_rows=1_000)
    one = ba.build_bundle(table, data_id="one", config=config)
    other = ba.build_bundle(
        pa.Table.from_batches(table.to_batches(max_chunksize=333)), data_id="one", config=config
    )
    assert codec.dumps(one.stats) == codec.dumps(other.stats)
    again = ba.build_bundle(table, data_id="one", config=config)
    assert codec.dumps(again.stats) == codec.dumps(one.stats)


def test_window_is_the_first_rows_in_order(frame: pd.DataFrame) -> None:
    config = ba.StatsConfig(window_rows=123, block_rows=50)
    bundle = ba.build_bundle(frame, data_id="win", config=config)
    assert bundle.first_window.num_rows == 123
    assert bundle.first_window.column("n").to_pylist() == frame["n"][:123].tolist()
    assert bundle.meta["config_id"] == config.config_id and bundle.meta["rows"] == 5_000


def test_bad_sources_fail_clearly(tmp_path) -> None:
    with pytest.raises(ba.UnsupportedSourceError, match="cannot build a bundle"):
        ba.build_bundle(object(), data_id="x")
    with pytest.raises(FileNotFoundError):
        ba.build_bundle(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ba.UnsupportedSourceError, match="cannot tell the format"):
        ba.build_bundle(tmp_path / "notes.txt", data_id="x")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UnreadableSourceError, match="bad.parquet: cannot be read") as caught:
        ba.build_bundle(tmp_path / "bad.parquet", data_id="x")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value.__cause__, pa.ArrowInvalid)
    reader = pa.RecordBatchReader.from_batches(pa.schema([("a", pa.int64())]), [])
    with pytest.raises(ValueError, match="pass data_id"):
        ba.build_bundle(reader)
    for unsafe in ("../x", "a/b", "", "x" * 5_000, "a\x00b"):
        with pytest.raises(ba.UnsafeDataIdError):
            ba.build_bundle(pa.table({"a": [1]}), data_id=unsafe)


def test_column_stats_by_original_label() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=[1, "1", "1"])
    bundle = ba.build_bundle(frame, data_id="labels")
    assert bundle.column_stats(1)["orig_col_name"] == 1
    with pytest.raises(KeyError, match="2 columns are labelled"):
        bundle.column_stats("1")
    with pytest.raises(KeyError, match="no column"):
        bundle.column_stats(1.5)


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, buckaroo_assets as ba\n"
        "ba.StatsConfig(); ba.build_bundle; ba.data_id_for; ba.validate_data_id('a')\n"
        "heavy = sorted(m for m in ('pandas', 'dagster', 'polars') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "values",
    [[2**64 - 1], [2**64 - 1, 2**64 - 3, None, 2**64 - 1], [2**63] * 3, [-(2**63), -(2**63) + 1]],
)
def test_counts_of_64_bit_extremes_stay_exact(values: list[int | None]) -> None:
    type_ = pa.uint64() if max(v for v in values if v is not None) >= 2**63 else pa.int64()
    stats = ba.build_bundle(pa.table({"x": pa.array(values, type_)}), data_id="ext").stats["a"]
    present = [v for v in values if v is not None]
    by_count = sorted(set(present), key=lambda v: (-present.count(v), v))
    assert stats["distinct_count"] == len(set(present))
    assert (stats["min"], stats["max"]) == (min(present), max(present))
    assert stats["most_freq"] == by_count[0]


def test_a_parquet_file_on_s3_is_fetched_once_not_once_per_column(s3_server, tmp_path, monkeypatch) -> None:
    """Column chunks jump around the file; a read-ahead cache would refetch blocks per jump."""
    import fsspec
    import s3fs

    rng = np.random.default_rng(3)
    table = pa.table({f"c{i}": rng.normal(size=120_000) for i in range(12)})
    local = tmp_path / "wide.parquet"
    pq.write_table(table, local, row_group_size=40_000, compression="none")
    bucket = s3_server.new_bucket()
    # Small read-ahead blocks, so the test file spans many of them as a big file would.
    options = {**s3_server.storage_options, "default_block_size": 1 << 20}
    fs = fsspec.filesystem("s3", **options)
    fs.put(str(local), f"{bucket}/wide.parquet")

    fetched: list[int] = []
    original = s3fs.core.S3File._fetch_range

    def counting(self, start: int, end: int) -> bytes:
        data = original(self, start, end)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counting)
    bundle = ba.build_bundle(f"s3://{bucket}/wide.parquet", data_id="wide", storage_options=options)
    expected = ba.build_bundle(table, data_id="wide")
    assert bundle.stats == expected.stats
    size = local.stat().st_size
    assert size <= sum(fetched) <= 1.05 * size, (sum(fetched), size, len(fetched))


def test_dtype_of_a_file_written_by_pandas_is_what_pandas_showed(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "flag": pd.array([True, None, False], dtype="boolean"),
            "count": pd.array([1, None, 3], dtype="Int64"),
            "kind": pd.Categorical(["x", "y", "x"]),
            "at": pd.to_datetime(["2020-01-01", "2020-01-02", None]).tz_localize("Europe/Paris"),
            "small": np.array([1, 2, 3], dtype=np.uint8),
            "text": pd.array(["a", None, "c"], dtype="string"),
        }
    )
    path = tmp_path / "from_pandas.parquet"
    frame.to_parquet(path)
    stats = ba.build_bundle(str(path), data_id="pandas-file").stats
    assert [s["dtype"] for s in stats.values()] == [str(t) for t in frame.dtypes]
    # The same values without pandas' metadata: the dtype pandas would give the Arrow type.
    bare = pq.read_table(path).replace_schema_metadata(None)
    stats = ba.build_bundle(bare, data_id="bare").stats
    assert [s["dtype"] for s in stats.values()][:2] == ["bool", "int64"]
    # Metadata that is not pandas' JSON is ignored, not fatal.
    broken = bare.replace_schema_metadata({b"pandas": b"{not json"})
    assert ba.build_bundle(broken, data_id="broken").stats["a"]["dtype"] == "bool"


def test_parquet_text_is_read_as_a_dictionary_only_when_its_dictionary_is_small(
    tmp_path: Path,
) -> None:
    from buckaroo_assets.build.sources import open_source

    rows = 120_000
    table = pa.table(
        {"low": [f"w{i % 50}" for i in range(rows)], "high": [f"id-{i * 7919}" for i in range(rows)]}
    )
    path = tmp_path / "mixed.parquet"
    pq.write_table(table, path)
    batch = next(open_source(str(path)).batches(65_536, None))
    assert pa.types.is_dictionary(batch.schema.field("low").type)  # counted by index
    assert not pa.types.is_dictionary(batch.schema.field("high").type)  # no dictionary rebuilt
    assert (
        ba.build_bundle(str(path), data_id="p").stats == ba.build_bundle(table, data_id="p").stats
    )


def test_wide_tables_are_summarised_in_column_groups_with_the_same_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buckaroo_assets.build import builder

    rng = np.random.default_rng(5)
    table = pa.table(
        {
            **{f"f{i}": rng.normal(size=3_000) for i in range(12)},
            "s": [f"v{i % 40}" for i in range(3_000)],
            "t": pa.array(rng.integers(0, 10**12, 3_000), pa.timestamp("us")),
        }
    )
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    whole = {
        "table": ba.build_bundle(table, data_id="w"),
        "parquet": ba.build_bundle(str(path), data_id="w"),
    }
    monkeypatch.setattr(builder, "GROUP_BUDGET_BYTES", 200_000)  # a few columns per group
    for kind, source in (("table", table), ("parquet", str(path))):
        seen: list[ba.build.BuildProgress] = []
        grouped = ba.build_bundle(source, data_id="w", progress=seen.append)
        assert grouped.meta["column_groups"] > 3
        assert grouped.stats == whole[kind].stats
        assert grouped.first_window.equals(whole[kind].first_window)
        done = [p.rows_done for p in seen]
        assert done == sorted(done) and done[-1] == 3_000 and seen[-1].rows_total == 3_000


def test_a_folder_of_files_in_column_groups_reads_each_column_from_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file and every group opens its own reader, which shares the first one's index
    of column paths: each group still gets its own columns from every file."""
    from buckaroo_assets.build import builder

    rng = np.random.default_rng(9)
    table = pa.table({f"c{i}": rng.integers(0, 50 * (i + 1), 4_000) for i in range(9)})
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(3):
        pq.write_table(table.slice(part * 1_500, 1_500), folder / f"part-{part}.parquet")
    monkeypatch.setattr(builder, "GROUP_BUDGET_BYTES", 150_000)  # a column or two per group
    grouped = ba.build_bundle(str(folder), data_id="f")
    assert grouped.meta["column_groups"] >= 4
    assert grouped.stats == ba.build_bundle(table, data_id="f").stats


def test_pipes_and_devices_are_refused_before_reading(tmp_path: Path) -> None:
    """A FIFO named like a CSV would block forever, /dev/zero named like Parquet never end:
    both are refused at once, by the build and by data_id_for (in a child process, so a
    regression times out instead of hanging the suite)."""
    fifo = tmp_path / "x.csv"
    os.mkfifo(fifo)
    zero = tmp_path / "x.parquet"
    zero.symlink_to("/dev/zero")
    script = (
        "import sys, buckaroo_assets as ba\n"
        "for path in sys.argv[1:]:\n"
        "    for call in (lambda: ba.data_id_for(path), lambda: ba.build_bundle(path, data_id='x')):\n"
        "        try:\n"
        "            call()\n"
        "        except ba.UnsupportedSourceError as exc:\n"
        "            print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(fifo), str(zero)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and all("not a regular file or a folder" in line for line in lines)
    assert str(fifo) in lines[0] and str(zero) in lines[2]


def test_a_frame_with_an_index_and_no_columns_counts_its_rows() -> None:
    for frame, rows in ((pd.DataFrame(index=range(7)), 7), (pd.DataFrame(), 0)):
        bundle = ba.build_bundle(frame, data_id="index-only")
        assert bundle.rows == bundle.meta["rows"] == rows and bundle.stats == {}


def test_column_labels_of_any_hashable_type_are_stored(tmp_path: Path) -> None:
    """A pivot by date has Timestamp labels: they are stored as the datetimes they equal,
    found again by the original labels; labels with no stored form keep their text."""
    labels = [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-01 00:00:00.000000001"),  # nanoseconds: no datetime holds them
        pd.Timedelta("1h"),
        pd.Period("2024-01", "M"),
        ("north", pd.Timestamp("2024-01-02")),
        7,
    ]
    frame = pd.DataFrame([[1, 2, 3, 4, 5, 6]], columns=pd.Index(labels, dtype=object))
    bundle = ba.build_bundle(frame, data_id="labels")
    store = ba.BundleStore(tmp_path / "store")
    store.put(bundle)
    stored = ba.load_bundle("labels", store=store, cache=False)
    assert stored.stats == bundle.stats
    for label in (labels[0], labels[2], labels[4], 7):
        assert stored.column_stats(label)["min"] == stored.column_stats(label)["max"]
    names = [entry["orig_col_name"] for entry in stored.stats.values()]
    assert names[0] == dt.datetime(2024, 1, 1) and names[2] == dt.timedelta(hours=1)
    assert names[1] == "2024-01-01 00:00:00.000000001" and names[3] == "2024-01"
    assert stored.stats["b"]["note"] == "label Timestamp stored as its text"
    with pytest.raises(KeyError):
        stored.column_stats(7.0)  # 7 and 7.0 stay two labels
