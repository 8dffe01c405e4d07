"""data_id rules and content identities: equal content must hit, any change must miss."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buckaroo_assets.build.data_id import data_id_for
from buckaroo_assets.bundle.ids import DATA_ID_MAX_LENGTH, validate_data_id
from buckaroo_assets.errors import BuckarooAssetsError, UnsafeDataIdError

REPO_ROOT = Path(__file__).resolve().parents[1]
ID_RE = r"(file|s3etag|dir|arrow|pandas)-[0-9a-f]{32}"


def assert_valid_id(data_id: str) -> None:
    assert re.fullmatch(ID_RE, data_id), data_id
    assert validate_data_id(data_id) == data_id


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# ---------------------------------------------------------------- validate_data_id


@pytest.mark.parametrize(
    "good",
    ["sales-2024", "a.b_c-d@e=f", "x" * DATA_ID_MAX_LENGTH, "A", "0", "v1.2", "a.b.c", "_x", "@x"],
)
def test_validate_accepts_safe_ids(good: str) -> None:
    assert validate_data_id(good) is good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../x",
        "a/b",
        "a\\b",
        "x" * 5000,
        "x" * (DATA_ID_MAX_LENGTH + 1),
        "a\x00b",
        "a\nb",
        "ab\n",
        "s3://bucket/key",
        "file:x",
        "a b",
        "é",
        ".hidden",
        "..",
        "...",
        "a..b",
        "-x",
        "a|b",
        "a,b",
        "a[0]",
        "a]",
        "a*b",
        "%2e%2e",
    ],
)
def test_validate_rejects_unsafe_ids(bad: str) -> None:
    with pytest.raises(UnsafeDataIdError) as info:
        validate_data_id(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, BuckarooAssetsError)
    assert len(str(info.value)) < 250  # long ids are shown truncated


@pytest.mark.parametrize("bad", [None, 1, b"abc", ["a"], Path("abc")])
def test_validate_rejects_non_str(bad: object) -> None:
    with pytest.raises(UnsafeDataIdError, match="must be a str"):
        validate_data_id(bad)


def test_validate_messages_say_what_is_wrong() -> None:
    with pytest.raises(UnsafeDataIdError, match="empty"):
        validate_data_id("")
    with pytest.raises(UnsafeDataIdError, match="5000 characters"):
        validate_data_id("x" * 5000)
    with pytest.raises(UnsafeDataIdError, match=r"found '/'"):
        validate_data_id("a/b")
    with pytest.raises(UnsafeDataIdError, match="start with '.'"):
        validate_data_id(".hidden")
    with pytest.raises(UnsafeDataIdError, match=r"'\.\.'"):
        validate_data_id("a..b")


# ---------------------------------------------------------------- files and URLs


def test_same_content_in_two_paths_same_id(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "sub" / "b.parquet"
    b.parent.mkdir()
    a.write_bytes(b"x,y\n1,2\n")
    b.write_bytes(b"x,y\n1,2\n")
    assert data_id_for(a) == data_id_for(str(b))
    assert_valid_id(data_id_for(a))


def test_file_id_is_plain_blake3_128_of_content(tmp_path: Path) -> None:
    import blake3

    p = tmp_path / "f.bin"
    p.write_bytes(b"hello")
    assert data_id_for(p) == "file-" + blake3.blake3(b"hello").hexdigest(16)  # b3sum --length 16
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    # BLAKE3's published digest of the empty input, first 128 bits.
    assert data_id_for(empty) == "file-af1349b9f5f9a1a6a0404dea36dcc949"


def test_one_byte_changed_changes_id(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    data = bytearray(os.urandom(3 * 1024 * 1024 + 17))  # spans several read chunks
    p.write_bytes(bytes(data))
    before = data_id_for(p)
    data[2 * 1024 * 1024 + 5] ^= 1
    p.write_bytes(bytes(data))
    assert data_id_for(p) != before
    p.write_bytes(bytes(data) + b"\x00")
    assert data_id_for(p) not in (before,)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty"
    p.write_bytes(b"")
    assert_valid_id(data_id_for(p))


def test_path_and_file_url_agree(tmp_path: Path) -> None:
    p = tmp_path / "data.csv"
    p.write_bytes(b"a\n1\n")
    assert data_id_for(p) == data_id_for(p.as_uri()) == data_id_for(str(p))


def test_memory_filesystem() -> None:
    fs = fsspec.filesystem("memory")
    root = f"/identity-test-{uuid.uuid4().hex}"
    fs.pipe(f"{root}/one.csv", b"a\n1\n")
    fs.pipe(f"{root}/two.csv", b"a\n2\n")
    one = data_id_for(f"memory://{root}/one.csv")
    assert_valid_id(one)
    assert one != data_id_for(f"memory://{root}/two.csv")
    fs.pipe(f"{root}/copy.csv", b"a\n1\n")
    assert data_id_for(f"memory://{root}/copy.csv") == one


def test_directory(tmp_path: Path) -> None:
    def make(root: Path, rows: dict[str, bytes]) -> Path:
        for rel, content in rows.items():
            f = root / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(content)
        return root

    files = {"year=2023/part-0.parquet": b"aaa", "year=2024/part-0.parquet": b"bbb"}
    d1 = make(tmp_path / "d1", files)
    d2 = make(tmp_path / "d2", dict(reversed(files.items())))
    first = data_id_for(d1)
    assert first.startswith("dir-")
    assert_valid_id(first)
    assert data_id_for(d2) == first  # location and creation order do not matter
    assert data_id_for(d1.as_uri()) == first

    (d2 / "year=2024/part-0.parquet").write_bytes(b"bbB")
    assert data_id_for(d2) != first
    d3 = make(
        tmp_path / "d3", {"year=2023/part-0.parquet": b"aaa", "year=2024/part-1.parquet": b"bbb"}
    )
    assert data_id_for(d3) != first  # renaming a file changes the dataset
    d4 = make(tmp_path / "d4", {**files, "year=2025/part-0.parquet": b""})
    assert data_id_for(d4) != first


def test_directory_on_memory_filesystem() -> None:
    fs = fsspec.filesystem("memory")
    a, b = (f"/identity-dir-{uuid.uuid4().hex}" for _ in range(2))
    for root in (a, b):
        fs.pipe(f"{root}/p/x.bin", b"1")
        fs.pipe(f"{root}/y.bin", b"2")
    assert data_id_for(f"memory://{a}") == data_id_for(f"memory://{b}")


def test_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        data_id_for(missing)
    with pytest.raises(FileNotFoundError, match="nope"):
        data_id_for(f"memory:///identity-missing-{uuid.uuid4().hex}/nope")


class _FakeS3(MemoryFileSystem):
    """An in-memory filesystem that reports like S3 (protocol and ETag) without a network."""

    protocol = ("s3fake", "s3")
    store: dict = {}
    pseudo_dirs = [""]
    reads = 0

    def info(self, path, **kwargs):
        out = dict(super().info(path, **kwargs))
        if out["type"] == "file":
            out["ETag"] = f'"etag-of-{path}-{out["size"]}"'
        return out

    def _open(self, path, mode="rb", **kwargs):
        if "r" in mode:
            type(self).reads += 1
        return super()._open(path, mode, **kwargs)


def test_s3_like_filesystem_uses_etag_without_reading() -> None:
    fsspec.register_implementation("s3fake", _FakeS3, clobber=True)
    fs = _FakeS3()
    fs.pipe("s3fake://bucket/key.csv", b"a\n1\n")
    fs.pipe("s3fake://bucket/dir/part.csv", b"a\n1\n")
    _FakeS3.reads = 0
    single = data_id_for("s3fake://bucket/key.csv")
    folder = data_id_for("s3fake://bucket/dir")
    assert _FakeS3.reads == 0
    assert single.startswith("s3etag-")
    assert folder.startswith("dir-")
    assert_valid_id(single)
    fs.pipe("s3fake://bucket/key.csv", b"a\n1\n2\n")
    assert data_id_for("s3fake://bucket/key.csv") != single


# ---------------------------------------------------------------- arrow / polars


def _sample_table() -> pa.Table:
    n = 1000
    rng = np.random.default_rng(0)
    ints = pa.array(rng.integers(-100, 100, n), mask=rng.random(n) < 0.1)
    return pa.table(
        {
            "i": ints,
            "f": pa.array(rng.normal(size=n)),
            "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.2),
            "s": pa.array([None if k % 7 == 0 else f"s{k % 13}" for k in range(n)]),
            "l": pa.array([[k, None] if k % 3 else None for k in range(n)], pa.list_(pa.int32())),
            "st": pa.array([{"x": k, "y": str(k)} if k % 5 else None for k in range(n)]),
            "d": pa.array([f"c{k % 4}" for k in range(n)]).dictionary_encode(),
            "ts": pa.array(range(n), pa.timestamp("us", tz="UTC")),
        }
    )


def _rechunk(table: pa.Table, cuts: list[int]) -> pa.Table:
    bounds = [0, *sorted(set(cuts)), table.num_rows]
    batches = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    return pa.concat_tables(batches)


def test_arrow_table_and_batch() -> None:
    t = _sample_table()
    tid = data_id_for(t)
    assert tid.startswith("arrow-")
    assert_valid_id(tid)
    assert data_id_for(t.combine_chunks().to_batches()[0]) == tid


def test_arrow_rechunked_same_id() -> None:
    t = _sample_table()
    one = t.combine_chunks()
    seven = _rechunk(one, [1, 9, 130, 131, 500, 777])
    assert seven.column(0).num_chunks == 7
    assert data_id_for(seven) == data_id_for(one)


def test_arrow_slices_same_id_as_equal_table() -> None:
    t = _sample_table()
    for start, length in [(0, 10), (3, 500), (11, 989), (999, 1), (5, 0)]:
        sliced = t.slice(start, length)
        rebuilt = pa.Table.from_pylist(sliced.to_pylist(), schema=t.schema)
        assert data_id_for(sliced) == data_id_for(rebuilt), (start, length)


def test_arrow_bytes_under_nulls_ignored() -> None:
    mask = np.array([False, True, False])
    a = pa.array(np.array([1, 2, 3]), mask=mask)
    b = pa.array(np.array([1, 99, 3]), mask=mask)
    assert data_id_for(pa.table({"x": a})) == data_id_for(pa.table({"x": b}))


def test_arrow_content_and_schema_changes() -> None:
    t = pa.table({"x": [1, 2, 3]})
    base = data_id_for(t)
    assert data_id_for(pa.table({"x": [1, 2, 4]})) != base
    assert data_id_for(pa.table({"x": [1, 2, None]})) != base
    assert data_id_for(pa.table({"x": [1, 2]})) != base
    assert data_id_for(pa.table({"y": [1, 2, 3]})) != base
    assert data_id_for(t.cast(pa.schema([pa.field("x", pa.int32())]))) != base
    non_null = pa.schema([pa.field("x", pa.int64(), nullable=False)])
    assert data_id_for(t.cast(non_null)) != base
    assert data_id_for(pa.table({"x": [1, 2, 3], "y": [1, 2, 3]})) != base
    # Schema metadata describes, it does not change the data.
    assert data_id_for(t.replace_schema_metadata({"k": "v"})) == base


def test_arrow_different_schema_same_values() -> None:
    a = pa.table({"x": pa.array([1, 2], pa.int64())})
    b = pa.table({"x": pa.array([1, 2], pa.uint64())})
    c = pa.table({"x": pa.array(["1", "2"])})
    assert len({data_id_for(a), data_id_for(b), data_id_for(c)}) == 3


def test_arrow_large_table_spans_blocks() -> None:
    n = 200_003
    t = pa.table({"x": pa.array(np.arange(n)), "s": pa.array(np.arange(n).astype(str))})
    base = data_id_for(t)
    assert data_id_for(_rechunk(t, [70_000, 131_072, 131_073])) == base
    changed = pa.table({"x": pa.array(np.r_[np.arange(n - 1), 0]), "s": t["s"]})
    assert data_id_for(changed) != base


def test_empty_tables() -> None:
    empty = pa.table({"x": pa.array([], pa.int64())})
    assert_valid_id(data_id_for(empty))
    assert data_id_for(empty) != data_id_for(pa.table({"y": pa.array([], pa.int64())}))
    assert data_id_for(empty) != data_id_for(pa.table({"x": [None]}))


_arrow_values = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=40).map(
        lambda v: pa.array(v, pa.int64())
    ),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=40).map(
        lambda v: pa.array(v, pa.bool_())
    ),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=40).map(
        lambda v: pa.array(v, pa.string())
    ),
    st.lists(
        st.one_of(st.none(), st.lists(st.one_of(st.none(), st.booleans()), max_size=3)), max_size=30
    ).map(lambda v: pa.array(v, pa.list_(pa.bool_()))),
    st.lists(
        st.one_of(st.none(), st.fixed_dictionaries({"a": st.one_of(st.none(), st.integers(0, 9))})),
        max_size=30,
    ).map(lambda v: pa.array(v, pa.struct([("a", pa.int8())]))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arr=_arrow_values, data=st.data())
def test_arrow_id_ignores_layout(arr: pa.Array, data: st.DataObject) -> None:
    n = len(arr)
    start = data.draw(st.integers(0, n), label="start")
    stop = data.draw(st.integers(start, n), label="stop")
    sliced = pa.table({"c": arr}).slice(start, stop - start)
    cuts = data.draw(st.lists(st.integers(0, stop - start), max_size=4), label="cuts")
    rebuilt = pa.table({"c": pa.array(arr.slice(start, stop - start).to_pylist(), arr.type)})
    expected = data_id_for(rebuilt)
    assert data_id_for(sliced) == expected
    assert data_id_for(_rechunk(sliced, cuts)) == expected
    assert data_id_for(_rechunk(rebuilt, cuts)) == expected


def test_polars_dataframe() -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", None]})
    pid = data_id_for(df)
    assert pid.startswith("arrow-")
    assert data_id_for(pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", None]})) == pid
    assert data_id_for(pl.DataFrame({"a": [1, None, 4], "b": ["x", "y", None]})) != pid
    rechunked = pl.concat([df[:1], df[1:]], rechunk=False)
    assert data_id_for(rechunked) == pid
    with pytest.raises(TypeError, match="collect"):
        data_id_for(df.lazy())


# ---------------------------------------------------------------- pandas


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, np.nan, -0.0],
            "s": ["a", None, "c"],
            "o": np.array(["x", "y", "z"], dtype=object),
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "c": pd.Categorical(["u", "v", "u"]),
            "n": pd.array([1, None, 3], dtype="Int64"),
        },
        index=pd.Index([10, 20, 30], name="k"),
    )


def test_pandas_same_frame_twice() -> None:
    pid = data_id_for(_frame())
    assert pid.startswith("pandas-")
    assert_valid_id(pid)
    assert data_id_for(_frame()) == pid


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.assign(i=[1, 2, 4]),
        lambda df: df.assign(f=[0.5, np.nan, 0.0]),
        lambda df: df.assign(s=["a", "None", "c"]),
        lambda df: df.assign(o=np.array(["x", "y", None], dtype=object)),
        lambda df: df.assign(o=np.array(["x", "y", 3], dtype=object)),
        lambda df: df.assign(c=pd.Categorical(["u", "v", "u"], categories=["v", "u", "w"])),
        lambda df: df.assign(n=pd.array([1, 2, 3], dtype="Int64")),
        lambda df: df.assign(i=np.array([1, 2, 3], dtype=np.int32)),
        lambda df: df.rename(columns={"i": "j"}),
        lambda df: df[list(reversed(df.columns))],
        lambda df: df.set_axis([10, 20, 31]),
        lambda df: df.rename_axis("other"),
        lambda df: df.iloc[:2],
    ],
)
def test_pandas_any_change_changes_id(change) -> None:
    assert data_id_for(change(_frame())) != data_id_for(_frame())


def test_pandas_int_vs_str_column_names() -> None:
    ints = pd.DataFrame([[1, 2]], columns=[0, 1])
    strs = pd.DataFrame([[1, 2]], columns=["0", "1"])
    assert data_id_for(ints) != data_id_for(strs)


def test_pandas_multiindex_columns_and_index() -> None:
    cols = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["top", "sub"])
    index = pd.MultiIndex.from_product([["x", "y"], [1, 2]])
    df = pd.DataFrame(np.arange(12).reshape(4, 3), columns=cols, index=index)
    pid = data_id_for(df)
    assert_valid_id(pid)
    assert data_id_for(df.copy()) == pid
    flat = df.copy()
    flat.columns = ["a1", "a2", "b1"]
    assert data_id_for(flat) != pid
    other = df.copy()
    other.columns = pd.MultiIndex.from_tuples(
        [("a", 1), ("a", "2"), ("b", 1)], names=["top", "sub"]
    )
    assert data_id_for(other) != pid


def test_pandas_mixed_object_column() -> None:
    mixed = pd.DataFrame({"m": [1, "a", None]})
    pid = data_id_for(mixed)
    assert_valid_id(pid)
    assert data_id_for(pd.DataFrame({"m": [1, "a", None]})) == pid
    assert data_id_for(pd.DataFrame({"m": ["1", "a", None]})) != pid
    assert data_id_for(pd.DataFrame({"m": [1, "a", "None"]})) != pid
    assert data_id_for(pd.DataFrame({"m": [1.0, "a", None]})) != pid
    assert data_id_for(pd.DataFrame({"m": [True, "a", None]})) != pid


def test_pandas_unhashable_cells() -> None:
    df = pd.DataFrame({"l": [[1, 2], {"k": (1, "x")}, {3, 4}, np.array([1.5, 2.5]), None]})
    pid = data_id_for(df)
    assert_valid_id(pid)
    df2 = pd.DataFrame({"l": [[1, 2], {"k": (1, "x")}, {4, 3}, np.array([1.5, 2.5]), None]})
    assert data_id_for(df2) == pid
    df3 = pd.DataFrame({"l": [[1, 2], {"k": [1, "x"]}, {3, 4}, np.array([1.5, 2.5]), None]})
    assert data_id_for(df3) != pid


def test_pandas_exotic_cells_and_labels() -> None:
    df = pd.DataFrame(
        {
            pd.Timestamp("2024-01-01"): [pd.Timestamp("2024-01-01", tz="UTC"), pd.NaT],
            dt.date(2024, 1, 2): [pd.Timedelta(1), dt.timedelta(seconds=1)],
            ("t", 1): [uuid.UUID(int=1), 2**100],
        }
    )
    assert_valid_id(data_id_for(df))


def test_pandas_uncodable_cell_raises_type_error() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="Opaque"):
        data_id_for(pd.DataFrame({"o": [Opaque(), 1]}))


def test_pandas_empty_frames() -> None:
    assert data_id_for(pd.DataFrame()) != data_id_for(pd.DataFrame({"a": []}))
    assert_valid_id(data_id_for(pd.DataFrame()))


def test_pandas_series_and_other_types_rejected() -> None:
    with pytest.raises(TypeError, match="to_frame"):
        data_id_for(pd.Series([1]))
    for bad in (42, b"bytes", [1, 2], {"a": [1]}, None):
        with pytest.raises(TypeError):
            data_id_for(bad)


# ---------------------------------------------------------------- across processes


def test_ids_stable_across_processes(tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    p.write_bytes(b"a,b\n1,2\n")
    code = f"""
        import json
        import numpy as np, pandas as pd, pyarrow as pa
        from buckaroo_assets.build.data_id import data_id_for
        df = pd.DataFrame({{"a": [1, "x", None], 0: [1.5, 2.5, None], ("m", 1): ["p", "q", "r"]}})
        t = pa.table({{"x": [1, None, 3], "s": ["a", "b", None]}})
        print(json.dumps([data_id_for(df), data_id_for(t), data_id_for({str(p)!r})]))
    """
    seeds = {run_python(code, PYTHONHASHSEED=seed) for seed in ("1", "12345")}
    assert len(seeds) == 1
    remote = json.loads(seeds.pop())
    df = pd.DataFrame({"a": [1, "x", None], 0: [1.5, 2.5, None], ("m", 1): ["p", "q", "r"]})
    t = pa.table({"x": [1, None, 3], "s": ["a", "b", None]})
    assert remote == [data_id_for(df), data_id_for(t), data_id_for(p)]


def test_import_is_light() -> None:
    out = run_python(
        """
        import sys
        import buckaroo_assets.build.data_id
        heavy = {"pandas", "polars", "dagster"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    assert out == "[]"
