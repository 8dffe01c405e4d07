"""Benchmark ``ba.diff`` of two versions of a wide table.

One command (run from the repository root)::

    python -m benchmarks.bench_diff [--columns 500] [--rows 2000] [--repeats 50] [--fresh 15]
                                    [--distances]

It builds two versions of a ``--columns`` x ``--rows`` table (columns cycling
through float64 noise, int64 in a 1e3 range, text of 40 values, timestamps;
the second version drops a tenth of the rows, shifts the floats and adds a
text value) into a temporary local store, then measures:

1. ``diff(old, new)`` over the two bundles already loaded, in this process,
   the renderings of that diff (``to_json``, ``to_text``, ``to_html``), and
   for scale the two ``load_bundle`` calls without the cache;
2. ``diff(old_id, new_id, store=url)`` in a fresh interpreter per round:
   the diff including both bundles' loads from the store (timed in the child,
   after its imports), and the child's whole wall time seen from here
   (interpreter start, imports, loads, diff).

It prints the medians in milliseconds, wall and CPU time (what the code costs
on a shared machine); docs/benchmarks.md quotes a run.
``--distances`` instead prints the histogram distance between two samples of
a normal column (seeded, 20 pairs per cell) at 2,000 and 100,000 rows, the
second shifted by 0 to 1 standard deviation: the calibration docs/diff.md
quotes for the default distance threshold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._table import markdown_table

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys, time
import buckaroo_assets as ba
from buckaroo_assets.changes import compare
from buckaroo_assets.reader import load
started, cpu = time.perf_counter(), time.process_time()
d = ba.diff(sys.argv[1], sys.argv[2], store=sys.argv[3])
print(json.dumps({"ms": (time.perf_counter() - started) * 1000,
                  "cpu_ms": (time.process_time() - cpu) * 1000}))
"""


def versions(columns: int, rows: int) -> tuple[Any, Any]:
    """Two pyarrow tables: the old version and a changed new one."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    words = np.array([f"word{i}" for i in range(40)])

    def table(n: int, shift: float, extra: str | None) -> pa.Table:
        data = {}
        for c in range(columns):
            kind = c % 4
            if kind == 0:
                data[f"f{c}"] = rng.normal(shift, 1, n)
            elif kind == 1:
                data[f"i{c}"] = rng.integers(0, 1000, n)
            elif kind == 2:
                text = words[rng.integers(0, len(words), n)]
                if extra is not None:
                    text[: n // 10] = extra
                data[f"s{c}"] = pa.array(text)
            else:
                data[f"t{c}"] = pa.array(np.sort(rng.integers(0, 10**9, n)).astype("datetime64[s]"))
        return pa.table(data)

    return table(rows, 0.0, None), table(rows - rows // 10, 0.3, "new-word")


def timed(func: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``func()`` over ``repeats`` calls, after a warm-up.

    CPU time (this process's) says what the code costs when the machine is shared.
    """
    func()
    wall, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        func()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def fresh_process(
    ids: tuple[str, str], url: str, rounds: int
) -> tuple[tuple[float, float], float]:
    """Medians of the diff with its loads in the child (wall, CPU) and of the child's wall time."""
    wall, cpu, whole = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, *ids, url],
            capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
        )  # fmt: skip
        whole.append((time.perf_counter() - started) * 1000)
        child = json.loads(done.stdout)
        wall.append(child["ms"])
        cpu.append(child["cpu_ms"])
    return (statistics.median(wall), statistics.median(cpu)), statistics.median(whole)


def distances(pairs: int = 20) -> None:
    """Median and largest distance between samples of N(0, 1) and N(shift, 1)."""
    import numpy as np
    import pyarrow as pa

    import buckaroo_assets as ba

    rng = np.random.default_rng(1)
    shifts = (0.0, 0.25, 0.5, 1.0)
    rows = []
    for n in (2_000, 100_000):
        cells = []
        for shift in shifts:
            found = []
            for _ in range(pairs):
                old, new = (
                    ba.build_bundle(pa.table({"x": rng.normal(mu, 1, n)}), data_id=name)
                    for mu, name in ((0.0, "old"), (shift, "new"))
                )
                found.append(ba.diff(old, new).columns[0].distance.value)
            cells.append(f"{statistics.median(found):.3f} ({max(found):.3f})")
        rows.append([f"{n:,}", *cells])
    header = ["rows", *(f"shift {s:g} sd" for s in shifts)]
    print(f"Jensen-Shannon distance, median (largest) of {pairs} pairs")
    print(markdown_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=50, help="in-process calls timed")
    parser.add_argument("--fresh", type=int, default=15, help="fresh processes timed")
    parser.add_argument("--distances", action="store_true",
                        help="print the distance calibration instead of timings")
    args = parser.parse_args(argv)
    if args.distances:
        distances()
        return 0

    import buckaroo_assets as ba

    old_table, new_table = versions(args.columns, args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as folder:
        store = ba.BundleStore(Path(folder) / "store")
        ids = ("bench-diff-old", "bench-diff-new")
        for data_id, table in zip(ids, (old_table, new_table), strict=True):
            store.put(ba.build_bundle(table, data_id=data_id), dataset="bench")
        old, new = (ba.load_bundle(i, store=store) for i in ids)
        d = ba.diff(old, new)
        rows = [
            ["diff(old, new), bundles loaded", timed(lambda: ba.diff(old, new), args.repeats)],
            ["BundleDiff.to_json()", timed(d.to_json, args.repeats)],
            ["BundleDiff.to_text()", timed(d.to_text, args.repeats)],
            ["BundleDiff.to_html()", timed(d.to_html, args.repeats)],
            ["both load_bundle(..., cache=False), for scale",
             timed(lambda: [ba.load_bundle(i, store=store, cache=False) for i in ids], args.repeats)],
        ]  # fmt: skip
        inside, whole = fresh_process(ids, store.url, args.fresh)
        rows += [
            ["diff(old_id, new_id, store=url), fresh process: loads + diff", inside],
            ["the same, whole process (start, imports, loads, diff)", (whole, None)],
        ]
    print(f"{args.columns} columns, {args.rows:,} -> {new_table.num_rows:,} rows; "
          f"{len(d.changed_columns)} columns changed; medians of {args.repeats} calls, "
          f"{args.fresh} fresh processes")  # fmt: skip
    print(markdown_table(
        ["operation", "wall ms", "CPU ms"],
        [[name, f"{wall:.1f}", "-" if cpu is None else f"{cpu:.1f}"] for name, (wall, cpu) in rows],
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
