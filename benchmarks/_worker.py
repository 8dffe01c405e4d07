"""One measurement, run in a fresh interpreter by ``benchmarks.bench_build``.

``timed`` is the measurement itself, also used by ``benchmarks.bench_fragments``.

Usage: ``python -m benchmarks._worker CONTENDER PATH``

Imports are done before the clock starts; only the operation itself is timed
with ``time.perf_counter``.  The result is one JSON line on stdout::

    {"contender": ..., "seconds": ..., "cpu_seconds": ..., "peak_rss_kib": ...,
     "rss_before_kib": ..., "vm_hwm_kib": ..., "late_imports": [...], "rows": ...}

``cpu_seconds`` is the user + system time of all the child's threads during the
operation: less sensitive than wall time to what else the machine is doing.

``peak_rss_kib`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the
operation (KiB on Linux), i.e. the whole process's high-water mark including
the interpreter and the imported libraries; ``rss_before_kib`` is the same
figure taken just before the clock starts.  ``rows`` (bare read and
build_bundle only) is the row count the operation saw, as a sanity check.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

# Modules the operations import lazily on first use: imported before the clock
# starts so that import time is not measured.  Anything else imported during
# the timed region is reported in the record as ``late_imports``.
_PYARROW_LAZY = (
    "pyarrow.acero",
    "pyarrow.compute",
    "pyarrow.dataset",
    "pyarrow.fs",
    "pyarrow.parquet",
)
PREIMPORTS: dict[str, tuple[str, ...]] = {
    "bare_read": _PYARROW_LAZY,
    "build_bundle": (
        *_PYARROW_LAZY,
        "fsspec",
        "fsspec.implementations.chained",
        "fsspec.implementations.local",
        "buckaroo_assets.bundle.model",
        "buckaroo_assets.build.sources",
    ),
    "pandas_describe": (*_PYARROW_LAZY, "pandas.core.arrays.arrow.extension_types"),
}
PREIMPORTS["build_bundle_hashed"] = (*PREIMPORTS["build_bundle"], "buckaroo_assets.build.data_id")


def _preimport(names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _bare_read(path: str) -> Callable[[], Any]:
    import pyarrow.parquet as pq

    return lambda: pq.read_table(path)


def _build_bundle(path: str) -> Callable[[], Any]:
    import buckaroo_assets as ba

    ba.build_bundle  # noqa: B018  (resolve the lazy export before timing)
    return lambda: ba.build_bundle(path, data_id="bench")


def _build_bundle_hashed(path: str) -> Callable[[], Any]:
    import buckaroo_assets as ba

    ba.build_bundle  # noqa: B018
    ba.data_id_for  # noqa: B018
    return lambda: ba.build_bundle(path)


def _duckdb_summarize(path: str) -> Callable[[], Any]:
    import duckdb

    quoted = path.replace("'", "''")
    return lambda: duckdb.sql(f"SUMMARIZE SELECT * FROM read_parquet('{quoted}')").fetchall()


def _polars_describe(path: str) -> Callable[[], Any]:
    import polars

    return lambda: polars.read_parquet(path).describe()


def _pandas_describe(path: str) -> Callable[[], Any]:
    import pandas
    import pyarrow.parquet  # noqa: F401  (pandas' parquet engine, imported untimed)

    return lambda: pandas.read_parquet(path).describe(include="all")


CONTENDERS: dict[str, Callable[[str], Callable[[], Any]]] = {
    "bare_read": _bare_read,
    "build_bundle": _build_bundle,
    "build_bundle_hashed": _build_bundle_hashed,
    "duckdb_summarize": _duckdb_summarize,
    "polars_describe": _polars_describe,
    "pandas_describe": _pandas_describe,
}


def _cpu_seconds() -> float:
    # User + system time of every thread of this process.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _rows(result: Any) -> int | None:
    # The result stays alive until after the clock stops, so freeing it is not timed.
    if hasattr(result, "num_rows"):  # pyarrow.Table
        return int(result.num_rows)
    meta = getattr(result, "meta", None)  # buckaroo_assets.Bundle
    if isinstance(meta, dict) and "rows" in meta:
        return int(meta["rows"])
    return None


def _vm_hwm_kib() -> int | None:
    # Cross-check: the high-water mark of this process's own address space,
    # which unlike ru_maxrss is not inherited from the parent process.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def timed(operation: Callable[[], Any], preimports: Iterable[str] = ()) -> tuple[dict[str, Any], Any]:
    """Run ``operation`` once, after importing ``preimports``: its measurements and its result.

    The result is returned, so freeing it is not part of the time.
    """
    _preimport(preimports)
    modules_before = set(sys.modules)
    rss_before = _peak_kib()
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    result = operation()
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    peak = _peak_kib()
    late = sorted(m for m in set(sys.modules) - modules_before if not m.startswith("_"))
    record = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_kib": peak,
        "rss_before_kib": rss_before,
        "vm_hwm_kib": _vm_hwm_kib(),
        "late_imports": late,
    }
    return record, result


def main(argv: list[str]) -> None:
    contender, path = argv
    operation = CONTENDERS[contender](path)
    measured, result = timed(operation, PREIMPORTS.get(contender, ()))
    record = {"contender": contender, **measured}
    rows = _rows(result)
    if rows is not None:
        record["rows"] = rows
    print(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1:])
