"""Deterministic synthetic Parquet data for the benchmarks.

The file has ``rows`` x 20 columns:

* 8 float64 columns of normal noise at different scales,
* 4 int64 columns of uniform integers with ranges 1e3, 1e4, 1e5 and 1e6,
* 4 string columns with ~1,000 distinct values each and ~5 % nulls,
* 2 timestamp[us] columns spread over ~3 years,
* 2 bool columns.

It is written in chunks of ``CHUNK_ROWS`` rows (one row group per chunk) so
that even a 20M-row file is generated in bounded memory. Each chunk draws
from its own child of ``numpy.random.SeedSequence(seed)``, so the output is
deterministic for a given ``(rows, seed)``.

Usage::

    python -m benchmarks.generate OUT.parquet --rows 2000000 [--seed 0] [--reuse]

With ``--reuse`` an existing, readable file that already has ``--rows`` rows
is kept as it is.
"""

from __future__ import annotations

import argparse
import os
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


def schema() -> pa.Schema:
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


def _chunk(rng: np.random.Generator, n: int, vocabularies: list[pa.Array]) -> pa.RecordBatch:
    arrays: list[pa.Array] = []
    for scale in FLOAT_SCALES:
        arrays.append(pa.array(rng.normal(0.0, scale, n)))
    for high in INT_RANGES:
        arrays.append(pa.array(rng.integers(0, high, n, dtype=np.int64)))
    for vocab in vocabularies:
        idx = rng.integers(0, len(vocab), n, dtype=np.int32)
        mask = rng.random(n) < STRING_NULL_FRACTION
        arrays.append(vocab.take(pa.array(idx, mask=mask)))
    for _ in range(N_TIMESTAMP_COLS):
        ts = TS_START_US + rng.integers(0, TS_SPAN_US, n, dtype=np.int64)
        arrays.append(pa.array(ts, pa.timestamp("us")))
    for _ in range(N_BOOL_COLS):
        arrays.append(pa.array(rng.random(n) < 0.5))
    return pa.RecordBatch.from_arrays(arrays, schema=schema())


def generate(path: str | os.PathLike[str], rows: int, seed: int = 0) -> Path:
    """Write ``rows`` x 20 columns of synthetic data to the Parquet file ``path``.

    The file is written to a temporary name and renamed at the end, so an
    interrupted run never leaves a truncated file behind under ``path``.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    vocabularies = [_vocabulary(c) for c in range(N_STRING_COLS)]
    n_chunks = -(-rows // CHUNK_ROWS)
    children = np.random.SeedSequence(seed).spawn(max(n_chunks, 1))
    with pq.ParquetWriter(tmp, schema()) as writer:
        if rows == 0:
            writer.write_table(schema().empty_table())
        for c in range(n_chunks):
            n = min(CHUNK_ROWS, rows - c * CHUNK_ROWS)
            batch = _chunk(np.random.default_rng(children[c]), n, vocabularies)
            writer.write_batch(batch, row_group_size=CHUNK_ROWS)
    os.replace(tmp, path)
    return path


def has_rows(path: str | os.PathLike[str], rows: int) -> bool:
    """True if ``path`` is a readable Parquet file with exactly ``rows`` rows."""
    try:
        return pq.ParquetFile(path).metadata.num_rows == rows
    except (OSError, pa.ArrowException):
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output Parquet path")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing file with the same row count"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.reuse and has_rows(out, args.rows):
        print(f"reusing {out} ({args.rows:,} rows, {out.stat().st_size / 1e6:.1f} MB)")
        return
    print(f"generating {out} ({args.rows:,} rows) ...", flush=True)
    generate(out, args.rows, args.seed)
    print(f"wrote {out} ({args.rows:,} rows, {out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
